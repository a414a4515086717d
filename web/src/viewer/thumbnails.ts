/**
 * The page thumbnails sidebar: a small rendering of each page (drawn when scrolled into
 * view) with its annotations drawn over it, the current page marked, and a dot for each other
 * user on that page.
 */
import type { PageViewport, PDFDocumentProxy, PDFPageProxy } from "pdfjs-dist";
import type { PresenceSession, QuireRecord } from "../client/types";
import { h, s } from "./dom";
import { pageToView } from "./geometry";
import { renderAnnotation } from "./render";
import { colorFor } from "./presence-colors";
import { EN_SIDEBAR, type SidebarStrings } from "./strings";
import { pageOf } from "./toolbar";

const THUMB_WIDTH = 96;

export class Thumbnails {
  readonly el: HTMLElement;
  private readonly items: HTMLButtonElement[] = [];
  private readonly observer: IntersectionObserver;
  private readonly drawn = new Set<number>();
  /** Each page's annotations, drawn over its thumbnail. */
  private readonly marks = new Map<number, Map<string, QuireRecord>>();
  private readonly pageOf = new Map<string, number>();
  /** Each page's unscaled viewport once known (else the first page's stands in). */
  private readonly viewports = new Map<number, PageViewport>();
  private readonly standIn: PageViewport;

  /**
   * Pages are fetched only when their thumbnail is drawn; until then each takes the first
   * page's shape. Nothing is drawn before `start` (called once the first page is on screen).
   */
  constructor(
    private readonly doc: PDFDocumentProxy,
    first: PDFPageProxy,
    onSelect: (index: number) => void,
    t: SidebarStrings = EN_SIDEBAR,
  ) {
    this.el = h("nav", { class: "quire-sidebar quire-thumbnails", "aria-label": t.pages });
    const vp = first.getViewport({ scale: 1 });
    this.standIn = vp;
    for (let i = 0; i < doc.numPages; i++) {
      const holder = h("div", { class: "quire-thumb-image" });
      holder.style.aspectRatio = `${vp.width} / ${vp.height}`;
      const item = h(
        "button",
        { type: "button", class: "quire-thumb", "data-page-index": i, "aria-label": t.thumbnail(i + 1) },
        holder,
        h("span", { class: "quire-thumb-label" }, String(i + 1)),
        h("span", { class: "quire-thumb-peers" }),
      );
      item.addEventListener("click", () => onSelect(i));
      this.items.push(item);
      this.el.append(item);
    }
    this.observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting) void this.draw(Number((e.target as HTMLElement).dataset.pageIndex));
      }
    }, { root: this.el, rootMargin: "200px 0px" });
  }

  /** Starts drawing the thumbnails in view. */
  start(): void {
    for (const item of this.items) this.observer.observe(item);
  }

  setCurrent(index: number): void {
    for (const [i, item] of this.items.entries()) item.classList.toggle("quire-current", i === index);
    // Scroll only the sidebar (scrollIntoView would also scroll the embedding page).
    const item = this.items[index];
    if (!item) return;
    const top = item.offsetTop; // the sidebar is the items' offsetParent (position: relative)
    if (top < this.el.scrollTop) this.el.scrollTop = top;
    else if (top + item.offsetHeight > this.el.scrollTop + this.el.clientHeight) {
      this.el.scrollTop = top + item.offsetHeight - this.el.clientHeight;
    }
  }

  setPeers(peers: PresenceSession[]): void {
    for (const item of this.items) item.querySelector(".quire-thumb-peers")?.replaceChildren();
    for (const p of peers) {
      const page = pageOf(p);
      const slot = page === null ? null : this.items[page]?.querySelector(".quire-thumb-peers");
      if (!slot) continue;
      const dot = h("span", { class: "quire-thumb-peer", title: p.user_name ?? p.user_id, "data-user-id": p.user_id });
      dot.style.background = colorFor(p.user_id);
      slot.append(dot);
    }
  }

  /** Shows annotation records (changed or new) on their pages' thumbnails. */
  setRecords(changed: QuireRecord[], removed: string[]): void {
    const dirty = new Set<number>();
    const drop = (id: string) => {
      const page = this.pageOf.get(id);
      if (page === undefined) return;
      this.marks.get(page)?.delete(id);
      this.pageOf.delete(id);
      dirty.add(page);
    };
    for (const id of removed) drop(id);
    for (const r of changed) {
      drop(r.id);
      const page = r.content.pageIndex;
      if (r.kind !== "annotation" || typeof page !== "number" || !this.items[page]) continue;
      if (!this.marks.has(page)) this.marks.set(page, new Map());
      this.marks.get(page)!.set(r.id, r);
      this.pageOf.set(r.id, page);
      dirty.add(page);
    }
    for (const page of dirty) this.drawMarks(page);
  }

  /** Draws a page's annotations in an SVG over its thumbnail, in page space. */
  private drawMarks(page: number): void {
    const holder = this.items[page]?.querySelector<HTMLElement>(".quire-thumb-image");
    if (!holder) return;
    holder.querySelector(".quire-thumb-marks")?.remove();
    const records = [...(this.marks.get(page)?.values() ?? [])];
    if (records.length === 0) return;
    const vp = this.viewports.get(page) ?? this.standIn;
    const svg = s("svg", { class: "quire-thumb-marks", viewBox: `0 0 ${vp.width} ${vp.height}`, preserveAspectRatio: "none", "aria-hidden": "true" });
    const g = s("g", { transform: `matrix(${pageToView(vp.transform, vp.viewBox).join(" ")})` });
    for (const r of records) {
      const el = renderAnnotation(r);
      if (!el) continue;
      el.removeAttribute("data-record-id"); // not the page's own element for this record
      g.append(el);
    }
    svg.append(g);
    holder.append(svg);
  }

  destroy(): void {
    this.observer.disconnect();
  }

  private async draw(index: number): Promise<void> {
    if (this.drawn.has(index)) return;
    this.drawn.add(index);
    const holder = this.items[index].querySelector<HTMLElement>(".quire-thumb-image");
    let page: PDFPageProxy;
    try {
      page = await this.doc.getPage(index + 1);
    } catch (error) {
      this.drawn.delete(index);
      console.warn(`quire: thumbnail ${index + 1} failed`, error);
      return;
    }
    const base = page.getViewport({ scale: 1 });
    const viewport = page.getViewport({ scale: (THUMB_WIDTH * (globalThis.devicePixelRatio || 1)) / base.width });
    const canvas = h("canvas", { "aria-hidden": "true" });
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    try {
      await page.render({ canvas, viewport }).promise;
      if (holder) {
        holder.style.aspectRatio = `${base.width} / ${base.height}`;
        holder.replaceChildren(canvas);
        this.viewports.set(index, base);
        this.drawMarks(index);
      }
    } catch (error) {
      this.drawn.delete(index);
      console.warn(`quire: thumbnail ${index + 1} failed`, error);
    }
  }
}
