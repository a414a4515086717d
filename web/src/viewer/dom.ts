/** Small DOM helpers: the viewer builds its UI by hand (no framework in the bundle). */

type Attrs = Record<string, string | number | boolean | null | undefined>;

/** Creates an HTML element with attributes (`class`, `data-*`, `aria-*`, …) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Creates an SVG element with attributes. */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
}

/** Whether a key event is aimed at something the user types into. */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

/** A short, local "time ago"-free timestamp for comment headers. */
/** The language dates are shown in (`Quire.load({ locale })`); undefined: the browser's. */
let dateLocale: string | undefined;

export function setDateLocale(locale: string | undefined): void {
  try {
    // An unknown tag throws here, once, rather than on every date shown.
    new Intl.DateTimeFormat(locale);
    dateLocale = locale;
  } catch {
    dateLocale = undefined;
  }
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(dateLocale, { dateStyle: "short", timeStyle: "short" });
}
