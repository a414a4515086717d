/**
 * Quire's layer over one page: an SVG holding the page's annotation records (drawn in page
 * space under a group transform, so zooming only changes one attribute), a preview of what
 * the user is drawing, and the selection frame with its resize handles (drawn in view pixels,
 * so handles keep their size at every zoom).
 */
import type { QuireRecord } from "../client/types";
import { s } from "./dom";
import { apply, bboxOf, invert, mapRect, type Matrix, type Point } from "./geometry";
import type { PageView } from "./pdf/page-view";
import { renderAnnotation } from "./render";

export const HANDLE_CORNERS = ["nw", "ne", "sw", "se"] as const;

export class PageOverlay {
  readonly svg: SVGSVGElement;
  private readonly content: SVGGElement;
  private readonly previewLayer: SVGGElement;
  private readonly chrome: SVGGElement;
  private readonly elements = new Map<string, SVGGElement>();
  private selection: { record: QuireRecord; handles: boolean } | null = null;

  constructor(readonly page: PageView) {
    this.svg = s("svg", { class: "quire-overlay", "data-page-index": page.index });
    this.content = s("g", { class: "quire-overlay-content" });
    this.previewLayer = s("g", { class: "quire-preview" });
    this.chrome = s("g", { class: "quire-chrome" });
    this.svg.append(this.content, this.previewLayer, this.chrome);
    page.overlayHost.append(this.svg);
    page.onSizeChange = () => this.layout();
    this.layout();
  }

  get pageIndex(): number {
    return this.page.index;
  }

  /** Re-fits the overlay to the page's size and zoom. */
  layout(): void {
    const { width, height } = this.page;
    this.svg.setAttribute("width", String(width));
    this.svg.setAttribute("height", String(height));
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const m = this.page.transform.join(" ");
    this.content.setAttribute("transform", `matrix(${m})`);
    this.previewLayer.setAttribute("transform", `matrix(${m})`);
    this.drawSelection();
  }

  /** Page-space coordinates of a point given in client (viewport) pixels. */
  toPage(clientX: number, clientY: number): Point {
    const box = this.page.div.getBoundingClientRect();
    return apply(invert(this.page.transform), [clientX - box.left, clientY - box.top]);
  }

  /** View-pixel matrix, for callers that map rectangles themselves. */
  get transform(): Matrix {
    return this.page.transform;
  }

  /** Adds or redraws a record. Records keep their creation order (later ones on top). */
  upsert(record: QuireRecord): void {
    const el = renderAnnotation(record);
    const old = this.elements.get(record.id);
    if (!el) {
      this.remove(record.id);
      return;
    }
    if (old) old.replaceWith(el);
    else this.content.append(el);
    this.elements.set(record.id, el);
    if (this.selection?.record.id === record.id) this.select(record, this.selection.handles);
  }

  remove(id: string): void {
    this.elements.get(id)?.remove();
    this.elements.delete(id);
    if (this.selection?.record.id === id) this.select(null);
  }

  has(id: string): boolean {
    return this.elements.has(id);
  }

  /** Marks the thread markers: records with comments get a class (styled as a badge). */
  setCommented(id: string, count: number, resolved: boolean): void {
    const el = this.elements.get(id);
    if (!el) return;
    el.classList.toggle("quire-has-thread", count > 0);
    el.classList.toggle("quire-thread-resolved", resolved);
    el.dataset.comments = String(count);
  }

  /** Shows a temporary drawing (page space), or clears it with null. */
  preview(el: SVGElement | null): void {
    this.previewLayer.replaceChildren(...(el ? [el] : []));
  }

  /** Shows the selection frame (and handles when the user may resize), or clears it. */
  select(record: QuireRecord | null, handles = false): void {
    this.selection = record ? { record, handles } : null;
    this.drawSelection();
  }

  private drawSelection(): void {
    this.chrome.replaceChildren();
    const bbox = this.selection && bboxOf(this.selection.record.content);
    if (!this.selection || !bbox) return;
    const [x, y, w, hgt] = mapRect(this.page.transform, bbox);
    const pad = 3;
    this.chrome.append(
      s("rect", {
        class: "quire-selection",
        x: x - pad,
        y: y - pad,
        width: w + 2 * pad,
        height: hgt + 2 * pad,
        "data-selected-id": this.selection.record.id,
      }),
    );
    if (!this.selection.handles) return;
    const size = 8;
    const at: Record<(typeof HANDLE_CORNERS)[number], Point> = {
      nw: [x - pad, y - pad],
      ne: [x + w + pad, y - pad],
      sw: [x - pad, y + hgt + pad],
      se: [x + w + pad, y + hgt + pad],
    };
    for (const corner of HANDLE_CORNERS) {
      const [cx, cy] = at[corner];
      this.chrome.append(
        s("rect", {
          class: "quire-handle",
          "data-corner": corner,
          x: cx - size / 2,
          y: cy - size / 2,
          width: size,
          height: size,
        }),
      );
    }
  }
}
