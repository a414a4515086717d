/**
 * The scrolling column of pages: creates a `PageView` per page, renders the ones near the
 * viewport (two at a time, nearest first), frees canvases beyond a budget, tracks which page
 * is current, and implements navigation and zoom (keeping the reading position steady).
 */
import { PixelsPerInch, type PDFDocumentProxy, type PDFPageProxy } from "pdfjs-dist";
import { h } from "../dom";
import type { LinkService } from "./link-service";
import { PageView, type FormLayer } from "./page-view";

/** Zoom levels the +/− buttons step through (1 = the page at its printed size). */
export const ZOOM_STEPS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4];
/** How many pages keep their canvas when out of view. */
const RENDERED_BUDGET = 10;
const PAGE_GAP = 12;

export class PageList {
  readonly scroller: HTMLDivElement;
  readonly pages: PageView[] = [];
  private readonly column: HTMLDivElement;
  private zoomLevel = 1;
  private current = 0;
  private visible = new Set<number>();
  private observer: IntersectionObserver;
  private renderQueue: number[] = [];
  private active = 0;
  private recentlyRendered: number[] = [];
  private scrollFrame = 0;

  constructor(
    readonly doc: PDFDocumentProxy,
    /** The first page: its size stands in for the pages not loaded yet. */
    first: PDFPageProxy,
    linkService: LinkService,
    private readonly onPageChange: (index: number) => void,
    private readonly onZoomChange: (zoom: number) => void,
    forms: FormLayer | null = null,
  ) {
    this.column = h("div", { class: "quire-page-column" });
    this.scroller = h("div", { class: "quire-pages", tabindex: 0 }, this.column);
    for (let i = 0; i < doc.numPages; i++) {
      const view = new PageView(doc, i, first, this.cssScale, linkService, forms);
      this.pages.push(view);
      this.column.append(view.div);
    }
    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), {
      root: this.scroller,
      rootMargin: "50% 0px",
    });
    for (const p of this.pages) this.observer.observe(p.div);
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.listenForPinch();
    // Ctrl/Cmd+wheel (and a trackpad pinch, which browsers report as Ctrl+wheel) zooms around
    // the pointer instead of zooming the whole web page.
    this.scroller.addEventListener(
      "wheel",
      (e) => {
        if (!e.ctrlKey && !e.metaKey) return;
        e.preventDefault();
        const factor = Math.exp(-Math.max(-100, Math.min(100, e.deltaY)) * 0.005);
        this.setZoom(this.zoomLevel * factor, e);
      },
      { passive: false },
    );
  }

  get zoom(): number {
    return this.zoomLevel;
  }

  get currentPage(): number {
    return this.current;
  }

  /** CSS pixels per PDF point: zoom 1 shows the page at its printed size. */
  private get cssScale(): number {
    return this.zoomLevel * PixelsPerInch.PDF_TO_CSS_UNITS;
  }

  /** Scrolls so that the page's top is at the top of the view. */
  goToPage(index: number): void {
    const page = this.pages[Math.max(0, Math.min(this.pages.length - 1, index))];
    this.scroller.scrollTop = page.div.offsetTop - PAGE_GAP;
    this.setCurrent(page.index);
  }

  /**
   * Sets the zoom. Keeps in place the point under `anchor` (client pixels; Ctrl+wheel zooms
   * around the pointer), else the point at the top of the view.
   */
  setZoom(zoom: number, anchor?: { clientX: number; clientY: number }): void {
    const clamped = Math.max(ZOOM_STEPS[0], Math.min(ZOOM_STEPS.at(-1)!, zoom));
    if (Math.abs(clamped - this.zoomLevel) < 1e-4) return;
    const box = this.scroller.getBoundingClientRect();
    const at = anchor ? { x: anchor.clientX - box.left, y: anchor.clientY - box.top } : { x: 0, y: 0 };
    // The page under the anchor and where in it (as fractions), to put back under the anchor.
    const y = this.scroller.scrollTop + at.y;
    const page = this.pages.find((p) => p.div.offsetTop + p.div.offsetHeight >= y) ?? this.pages[this.current];
    const fy = (y - page.div.offsetTop) / page.height;
    const fx = (this.scroller.scrollLeft + at.x - page.div.offsetLeft) / page.width;
    this.zoomLevel = clamped;
    for (const p of this.pages) p.setScale(this.cssScale);
    this.scroller.scrollTop = page.div.offsetTop + fy * page.height - at.y;
    if (anchor) this.scroller.scrollLeft = page.div.offsetLeft + fx * page.width - at.x;
    this.onZoomChange(this.zoomLevel);
    this.requeue();
  }

  zoomIn(): void {
    this.setZoom(ZOOM_STEPS.find((z) => z > this.zoomLevel + 1e-3) ?? this.zoomLevel);
  }

  zoomOut(): void {
    this.setZoom([...ZOOM_STEPS].reverse().find((z) => z < this.zoomLevel - 1e-3) ?? this.zoomLevel);
  }

  /** Zooms so that the widest page fills the view's width. */
  fitWidth(): void {
    const available = this.scroller.clientWidth - 2 * PAGE_GAP - 4;
    const widest = Math.max(...this.pages.map((p) => p.width / this.cssScale));
    if (available > 0 && widest > 0) this.setZoom(available / (widest * PixelsPerInch.PDF_TO_CSS_UNITS));
  }

  /**
   * Two fingers on a touch screen zoom around their midpoint (the scroller lets the browser
   * pan with one finger, `touch-action: pan-x pan-y`, and leaves pinching to us).
   */
  private listenForPinch(): void {
    const touches = new Map<number, { x: number; y: number }>();
    let start: { distance: number; zoom: number } | null = null;
    const spread = () => {
      const [a, b] = [...touches.values()];
      return { distance: Math.hypot(a.x - b.x, a.y - b.y), mid: { clientX: (a.x + b.x) / 2, clientY: (a.y + b.y) / 2 } };
    };
    const s = this.scroller;
    s.addEventListener("pointerdown", (e) => {
      if (e.pointerType !== "touch") return;
      touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (touches.size === 2) start = { distance: spread().distance, zoom: this.zoomLevel };
    });
    s.addEventListener("pointermove", (e) => {
      if (!touches.has(e.pointerId)) return;
      touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (!start || touches.size !== 2) return;
      const now = spread();
      if (start.distance > 10) this.setZoom(start.zoom * (now.distance / start.distance), now.mid);
    });
    const end = (e: PointerEvent) => {
      touches.delete(e.pointerId);
      if (touches.size < 2) start = null;
    };
    s.addEventListener("pointerup", end);
    s.addEventListener("pointercancel", end);
  }

  /** Zooms so that the current page fits the view entirely. */
  fitPage(): void {
    const page = this.pages[this.current];
    const w = (this.scroller.clientWidth - 2 * PAGE_GAP - 4) / (page.width / this.cssScale);
    const hgt = (this.scroller.clientHeight - 2 * PAGE_GAP) / (page.height / this.cssScale);
    const fit = Math.min(w, hgt) / PixelsPerInch.PDF_TO_CSS_UNITS;
    if (fit > 0) this.setZoom(fit);
    this.goToPage(this.current);
  }

  /** Renders a page now (e.g. before drawing on it), wherever it is. */
  ensureRendered(index: number): Promise<void> {
    return this.pages[index].render();
  }

  destroy(): void {
    this.observer.disconnect();
    cancelAnimationFrame(this.scrollFrame);
    for (const p of this.pages) p.release();
  }

  private onIntersect(entries: IntersectionObserverEntry[]): void {
    for (const entry of entries) {
      const index = Number((entry.target as HTMLElement).dataset.pageIndex);
      if (entry.isIntersecting) this.visible.add(index);
      else this.visible.delete(index);
    }
    this.requeue();
  }

  private onScroll(): void {
    if (this.scrollFrame) return;
    this.scrollFrame = requestAnimationFrame(() => {
      this.scrollFrame = 0;
      this.updateCurrent();
    });
  }

  /** The current page is the one covering most of the view. */
  private updateCurrent(): void {
    const top = this.scroller.scrollTop;
    const bottom = top + this.scroller.clientHeight;
    let best = this.current;
    let bestArea = -1;
    for (const index of this.visible) {
      const div = this.pages[index].div;
      const shown = Math.min(bottom, div.offsetTop + div.offsetHeight) - Math.max(top, div.offsetTop);
      if (shown > bestArea) [best, bestArea] = [index, shown];
    }
    this.setCurrent(best);
  }

  private setCurrent(index: number): void {
    if (index === this.current) return;
    this.current = index;
    this.onPageChange(index);
  }

  /** Queues the visible pages that need drawing, nearest to the current page first. */
  private requeue(): void {
    this.updateCurrent();
    this.renderQueue = [...this.visible]
      .filter((i) => !this.pages[i].isRendered)
      .sort((a, b) => Math.abs(a - this.current) - Math.abs(b - this.current));
    this.pump();
  }

  private pump(): void {
    while (this.active < 2 && this.renderQueue.length > 0) {
      const index = this.renderQueue.shift()!;
      this.active++;
      void this.pages[index].render().finally(() => {
        this.active--;
        this.rendered(index);
        this.pump();
      });
    }
  }

  /** Remembers render order and frees the oldest canvases beyond the budget. */
  private rendered(index: number): void {
    this.recentlyRendered = [...this.recentlyRendered.filter((i) => i !== index), index];
    while (this.recentlyRendered.length > RENDERED_BUDGET) {
      const victim = this.recentlyRendered.find((i) => !this.visible.has(i));
      if (victim === undefined) break;
      this.recentlyRendered = this.recentlyRendered.filter((i) => i !== victim);
      this.pages[victim].release();
    }
  }
}
