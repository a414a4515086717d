/**
 * One page of the document: its box (sized for the current zoom), the rendered canvas, the
 * text layer (so text can be selected and highlighted), PDF.js's annotation layer (the PDF's
 * own links and annotations) and Quire's overlay on top. Rendering is lazy: the page list
 * asks for it when the page nears the viewport, and frees far-away canvases.
 *
 * The page proxy itself is lazy too: until the page is first drawn, its box takes the size of
 * a page already known (the first one), so that opening a large PDF fetches only the bytes of
 * the pages on screen. When the proxy arrives with another size, the box is resized and
 * `onSizeChange` tells the overlay.
 */
import { AnnotationLayer, OutputScale, TextLayer, type PageViewport, type PDFDocumentProxy, type PDFPageProxy, type RenderTask } from "pdfjs-dist";
import { h } from "../dom";
import { pageToView, type Matrix } from "../geometry";
import type { LinkService } from "./link-service";

type AnnotationStorage = PDFDocumentProxy["annotationStorage"];

/** How the page's PDF.js annotation layer draws the PDF's form fields. */
export interface FormLayer {
  storage: AnnotationStorage;
  /** Called after each drawing of the layer (e.g. to lock the inputs). */
  prepare(layer: HTMLElement): void;
}

export class PageView {
  readonly div: HTMLDivElement;
  /** Where the overlay mounts its SVG (above the PDF's layers). */
  readonly overlayHost: HTMLDivElement;
  viewport: PageViewport;
  /** Called when the page's size changes (its own size became known, or the zoom changed). */
  onSizeChange: (() => void) | null = null;
  private page: PDFPageProxy | null;
  private loading: Promise<PDFPageProxy> | null = null;
  private canvas: HTMLCanvasElement | null = null;
  private textLayerDiv: HTMLDivElement | null = null;
  private annotationLayerDiv: HTMLDivElement | null = null;
  private renderTask: RenderTask | null = null;
  private textLayer: TextLayer | null = null;
  /** The scale the current canvas was drawn at (null: nothing drawn). */
  private renderedScale: number | null = null;
  private rendering: Promise<void> | null = null;
  private readonly standIn: PDFPageProxy;

  constructor(
    private readonly doc: PDFDocumentProxy,
    readonly index: number,
    /** This page's proxy if already loaded, else a page whose size stands in until it is. */
    known: PDFPageProxy,
    scale: number,
    private readonly linkService: LinkService,
    private readonly forms: FormLayer | null = null,
  ) {
    this.page = known.pageNumber === index + 1 ? known : null;
    this.standIn = known;
    this.viewport = known.getViewport({ scale });
    this.overlayHost = h("div", { class: "quire-overlay-host" });
    this.div = h("div", { class: "quire-page", "data-page-index": index, "data-page-number": index + 1 }, this.overlayHost);
    this.applySize();
  }

  /** Page space → view pixels at the current zoom. */
  get transform(): Matrix {
    return pageToView(this.viewport.transform, this.viewport.viewBox);
  }

  get width(): number {
    return this.viewport.width;
  }

  get height(): number {
    return this.viewport.height;
  }

  get isRendered(): boolean {
    return this.renderedScale === this.viewport.scale;
  }

  /** Resizes for a new zoom. The old canvas stays, stretched, until the page re-renders. */
  setScale(scale: number): void {
    if (scale === this.viewport.scale) return;
    this.cancel();
    this.viewport = (this.page ?? this.standIn).getViewport({ scale });
    this.applySize();
  }

  /** The page's proxy, fetched on first use (only the bytes this page needs). */
  proxy(): Promise<PDFPageProxy> {
    if (this.page) return Promise.resolve(this.page);
    this.loading ??= this.doc.getPage(this.index + 1).then((page) => {
      this.page = page;
      const scale = this.viewport.scale;
      this.viewport = page.getViewport({ scale });
      this.applySize();
      this.onSizeChange?.();
      return page;
    }, (error: unknown) => {
      this.loading = null; // try again next time
      throw error;
    });
    return this.loading;
  }

  private applySize(): void {
    const { style } = this.div;
    style.width = `${Math.floor(this.viewport.width)}px`;
    style.height = `${Math.floor(this.viewport.height)}px`;
    // The variables PDF.js's text and annotation layers size themselves with.
    style.setProperty("--scale-factor", String(this.viewport.scale));
    style.setProperty("--total-scale-factor", String(this.viewport.scale));
    style.setProperty("--user-unit", "1");
    style.setProperty("--scale-round-x", "1px");
    style.setProperty("--scale-round-y", "1px");
  }

  /** Draws the page at the current zoom (no-op if already drawn). */
  render(): Promise<void> {
    if (this.isRendered) return Promise.resolve();
    if (this.rendering) return this.rendering;
    const scale = this.viewport.scale;
    this.rendering = this.proxy()
      .then(() => this.draw(scale))
      .then(() => {
        if (this.viewport.scale === scale) this.renderedScale = scale;
      })
      .catch((error: unknown) => {
        if ((error as { name?: string })?.name !== "RenderingCancelledException") {
          console.error(`quire: page ${this.index + 1} failed to render`, error);
        }
      })
      .finally(() => {
        this.rendering = null;
      });
    return this.rendering;
  }

  private async draw(scale: number): Promise<void> {
    const page = await this.proxy();
    const viewport = this.viewport;
    const outputScale = new OutputScale();
    outputScale.sx = outputScale.sy = OutputScale.pixelRatio;
    const canvas = h("canvas", { class: "quire-canvas", "aria-hidden": "true" });
    canvas.width = Math.floor(viewport.width * outputScale.sx);
    canvas.height = Math.floor(viewport.height * outputScale.sy);
    const task = page.render({
      canvas,
      viewport,
      transform: outputScale.scaled ? [outputScale.sx, 0, 0, outputScale.sy, 0, 0] : undefined,
    });
    this.renderTask = task;
    await task.promise;
    this.renderTask = null;
    if (this.viewport.scale !== scale) return;
    this.canvas?.remove();
    this.canvas = canvas;
    this.div.prepend(canvas);
    await this.drawTextLayer(page, viewport);
    await this.drawAnnotationLayer(page, viewport);
  }

  private async drawTextLayer(page: PDFPageProxy, viewport: PageViewport): Promise<void> {
    this.textLayer?.cancel();
    this.textLayerDiv?.remove();
    const div = h("div", { class: "textLayer" });
    // While a selection is being made, the end-of-content marker covers the layer so that
    // dragging past the last line doesn't make the browser select the whole page (as
    // PDF.js's own viewer does).
    div.addEventListener("pointerdown", () => {
      div.classList.add("selecting");
      div.ownerDocument.addEventListener("pointerup", () => div.classList.remove("selecting"), { once: true });
    });
    this.textLayerDiv = div;
    this.canvas?.after(div);
    this.textLayer = new TextLayer({ textContentSource: page.streamTextContent(), container: div, viewport });
    await this.textLayer.render();
    // An end-of-content marker lets a selection that runs past the last line end cleanly.
    div.append(h("div", { class: "endOfContent" }));
  }

  private async drawAnnotationLayer(page: PDFPageProxy, viewport: PageViewport): Promise<void> {
    this.annotationLayerDiv?.remove();
    const annotations = await page.getAnnotations({ intent: "display" });
    const div = h("div", { class: "annotationLayer" });
    this.annotationLayerDiv = div;
    (this.textLayerDiv ?? this.canvas)?.after(div);
    if (annotations.length === 0) return;
    const layer = new AnnotationLayer({
      div,
      page,
      viewport: viewport.clone({ dontFlip: true }),
      linkService: this.linkService,
      accessibilityManager: null,
      annotationCanvasMap: null,
      annotationEditorUIManager: null,
      structTreeLayer: null,
      commentManager: null,
      annotationStorage: this.forms?.storage ?? null,
    });
    await layer.render({
      annotations,
      viewport: viewport.clone({ dontFlip: true }),
      div,
      page,
      linkService: this.linkService as never,
      renderForms: this.forms !== null,
      imageResourcesPath: "",
    });
    this.forms?.prepare(div);
  }

  /** Stops an in-progress render. */
  cancel(): void {
    this.renderTask?.cancel();
    this.renderTask = null;
    this.textLayer?.cancel();
  }

  /** Frees the canvas (the page is far from view); it re-renders when it comes back. */
  release(): void {
    this.cancel();
    for (const el of [this.canvas, this.textLayerDiv, this.annotationLayerDiv]) el?.remove();
    if (this.canvas) {
      // Zero-sized canvases let the browser reclaim the bitmap at once.
      this.canvas.width = this.canvas.height = 0;
    }
    this.canvas = this.textLayerDiv = this.annotationLayerDiv = null;
    this.renderedScale = null;
  }
}
