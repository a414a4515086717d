/**
 * Pointer gestures on the pages: drawing with the ink and shape tools, placing notes and free
 * text, highlighting selected text, and selecting, moving and resizing annotations. Gestures
 * preview locally and become one record change when the pointer is released, so a drag sends
 * one update rather than a stream of them.
 */
import { imageContent } from "./image-stamp";
import type { JsonObject, QuireRecord, RecordKind, SessionUser } from "../client/types";
import {
  isMarkupTool,
  markupContent,
  polyContent,
  stampContent,
  type MarkupTool,
  inkContent,
  lineContent,
  noteContent,
  NOTE_SIZE,
  shapeContent,
  textContent,
  textOf,
  TYPES,
  withText,
  type Style,
} from "./annotations";
import {
  apply,
  bboxOf,
  invert,
  mapRect,
  mergeLineRects,
  resizeRect,
  transformContent,
  translateContent,
  type Point,
  type Rect,
} from "./geometry";
import type { PageOverlay } from "./overlay";
import { renderAnnotation } from "./render";
import { EN_POPUPS, type PopupStrings } from "./strings";
import { editText } from "./text-editor";
import type { Tool } from "./toolbar";

/** What the gestures need from the viewer. */
export interface InteractionHost {
  readonly tool: Tool;
  readonly style: Style;
  readonly stampType: string;
  /** The picture the stamp tool places instead of a standard stamp, if one was picked. */
  readonly imageStamp: { dataUrl: string; width: number; height: number } | null;
  /** The colour a tool draws with (its own choice, or the default). */
  colorFor(tool: Tool): string;
  readonly user: SessionUser;
  readonly overlays: PageOverlay[];
  record(id: string): QuireRecord | undefined;
  selected(): QuireRecord | null;
  canEdit(record: QuireRecord): boolean;
  select(id: string | null): void;
  setTool(tool: Tool): void;
  create(kind: RecordKind, content: JsonObject): QuireRecord;
  /** `base`: the content the edit started from (see `QuireClient.update`). */
  update(id: string, content: JsonObject, base?: JsonObject): void;
}

type Gesture =
  | { type: "ink"; overlay: PageOverlay; points: Point[] }
  | { type: "poly"; overlay: PageOverlay; tool: "polygon" | "polyline"; points: Point[]; at: Point }
  | { type: "shape"; overlay: PageOverlay; tool: "rectangle" | "ellipse" | "line" | "arrow"; from: Point; to: Point }
  | { type: "move"; overlay: PageOverlay; record: QuireRecord; from: Point; moved: boolean; content: JsonObject }
  | { type: "resize"; overlay: PageOverlay; record: QuireRecord; corner: string; grab: Point; content: JsonObject };

/** Pixels a press must travel before it counts as a drag (not a click). */
const DRAG_THRESHOLD = 3;
/**
 * The closest two ink points may be, in points. Pointer events arrive far more densely than a
 * stroke needs; thinning them keeps long strokes well under the server's 64 KiB per record.
 */
const INK_MIN_STEP = 0.75;

export class Interaction {
  private gesture: Gesture | null = null;
  private pointerId: number | null = null;
  private downAt: [number, number] = [0, 0];
  private readonly abort = new AbortController();

  constructor(
    private readonly host: InteractionHost,
    private readonly surface: HTMLElement,
    private readonly t: PopupStrings = EN_POPUPS,
  ) {
    const opts = { signal: this.abort.signal };
    surface.addEventListener("pointerdown", (e) => this.down(e), opts);
    surface.addEventListener("pointermove", (e) => this.move(e), opts);
    surface.addEventListener("pointerup", (e) => this.up(e), opts);
    surface.addEventListener("pointercancel", () => this.cancel(), opts);
    surface.addEventListener("dblclick", (e) => this.doubleClick(e), opts);
    // A text selection can end outside the pages: listen on the document.
    surface.ownerDocument.addEventListener("pointerup", () => this.maybeHighlight(), opts);
  }

  destroy(): void {
    this.cancel();
    this.abort.abort();
  }

  /** Abandons the gesture in progress (Escape), restoring what it previewed. */
  cancel(): boolean {
    const g = this.gesture;
    if (!g) return false;
    this.gesture = null;
    g.overlay.preview(null);
    if (g.type === "move" || g.type === "resize") g.overlay.upsert(g.record);
    if (this.pointerId !== null && this.surface.hasPointerCapture(this.pointerId)) {
      this.surface.releasePointerCapture(this.pointerId);
    }
    this.pointerId = null;
    return true;
  }

  private overlayAt(target: EventTarget | null): PageOverlay | null {
    const page = target instanceof Element ? target.closest<HTMLElement>(".quire-page") : null;
    if (!page) return null;
    return this.host.overlays[Number(page.dataset.pageIndex)] ?? null;
  }

  private begin(e: PointerEvent, gesture: Gesture): void {
    e.preventDefault();
    this.gesture = gesture;
    this.pointerId = e.pointerId;
    this.downAt = [e.clientX, e.clientY];
    this.surface.setPointerCapture(e.pointerId);
  }

  private down(e: PointerEvent): void {
    if (this.gesture?.type === "poly") {
      this.polyDown(e);
      return;
    }
    // A second finger: a pinch (the page list zooms), so the stroke or drag in progress ends.
    if (e.pointerType === "touch" && this.gesture && e.pointerId !== this.pointerId) {
      this.cancel();
      return;
    }
    if (e.button !== 0 || this.gesture) return;
    const overlay = this.overlayAt(e.target);
    const tool = this.host.tool;
    if (!overlay) return;
    const p = overlay.toPage(e.clientX, e.clientY);
    switch (tool) {
      case "ink":
        this.begin(e, { type: "ink", overlay, points: [p] });
        this.previewInk();
        return;
      case "rectangle":
      case "ellipse":
      case "line":
      case "arrow":
        this.begin(e, { type: "shape", overlay, tool, from: p, to: p });
        return;
      case "note":
      case "text":
        e.preventDefault();
        void this.place(tool, overlay, p);
        return;
      case "polygon":
      case "polyline":
        // Click to add corners, double-click (or Enter) to finish; no pointer capture, so
        // the pointer moves freely between clicks.
        e.preventDefault();
        this.gesture = { type: "poly", overlay, tool, points: [p], at: p };
        this.previewPoly();
        return;
      case "stamp": {
        e.preventDefault();
        const image = this.host.imageStamp;
        const content = image
          ? imageContent(overlay.pageIndex, p, image, this.host.user, this.host.style.opacity)
          : stampContent(overlay.pageIndex, p, this.host.stampType, this.host.user, this.host.style);
        const record = this.host.create("annotation", content);
        this.host.setTool("select");
        this.host.select(record.id);
        return;
      }
      case "highlight":
      case "underline":
      case "strikeout":
      case "squiggly":
        return; // the browser's text selection does the work
      case "select":
        this.selectDown(e, overlay, p);
        return;
    }
  }

  private selectDown(e: PointerEvent, overlay: PageOverlay, p: Point): void {
    const target = e.target as Element;
    const selected = this.host.selected();
    const handle = target.closest<SVGElement>(".quire-handle");
    if (handle && selected && this.host.canEdit(selected)) {
      const bbox = bboxOf(selected.content)!;
      // Which corner in page space (the view may be rotated): the one nearest the handle.
      const hp = overlay.toPage(e.clientX, e.clientY);
      const corner = (hp[1] < bbox[1] + bbox[3] / 2 ? "n" : "s") + (hp[0] < bbox[0] + bbox[2] / 2 ? "w" : "e");
      const cornerAt: Point = [corner.includes("w") ? bbox[0] : bbox[0] + bbox[2], corner.includes("n") ? bbox[1] : bbox[1] + bbox[3]];
      // Keep the offset between pointer and corner, so the shape doesn't jump on the first move.
      const grab: Point = [hp[0] - cornerAt[0], hp[1] - cornerAt[1]];
      this.begin(e, { type: "resize", overlay, record: selected, corner, grab, content: selected.content });
      return;
    }
    const el = target.closest<SVGGElement>("[data-record-id]");
    const record = el ? this.host.record(el.dataset.recordId!) : undefined;
    if (!record) {
      this.host.select(null); // and let the text selection start
      return;
    }
    this.host.select(record.id);
    // Text markup belongs to its text: it is selected but never dragged off it.
    if (this.host.canEdit(record) && !isTextMarkup(record.content.type)) {
      this.begin(e, { type: "move", overlay, record, from: p, moved: false, content: record.content });
    } else {
      e.preventDefault();
    }
  }

  private move(e: PointerEvent): void {
    const g = this.gesture;
    if (g?.type === "poly") {
      g.at = g.overlay.toPage(e.clientX, e.clientY);
      this.previewPoly();
      return;
    }
    if (!g || e.pointerId !== this.pointerId) return;
    const p = g.overlay.toPage(e.clientX, e.clientY);
    switch (g.type) {
      case "ink":
        for (const ev of e.getCoalescedEvents?.() ?? [e]) {
          const q = g.overlay.toPage(ev.clientX, ev.clientY);
          const last = g.points[g.points.length - 1];
          if (Math.hypot(q[0] - last[0], q[1] - last[1]) >= INK_MIN_STEP) g.points.push(q);
        }
        this.previewInk();
        return;
      case "shape":
        g.to = p;
        g.overlay.preview(this.shapePreview(g));
        return;
      case "move": {
        const far = Math.hypot(e.clientX - this.downAt[0], e.clientY - this.downAt[1]) >= DRAG_THRESHOLD;
        if (!g.moved && !far) return;
        g.moved = true;
        g.content = translateContent(g.record.content, p[0] - g.from[0], p[1] - g.from[1]);
        g.overlay.upsert({ ...g.record, content: g.content });
        return;
      }
      case "resize": {
        const from = bboxOf(g.record.content)!;
        const to: Point = [p[0] - g.grab[0], p[1] - g.grab[1]];
        g.content = transformContent(g.record.content, from, resizeRect(from, g.corner, to));
        g.overlay.upsert({ ...g.record, content: g.content });
        return;
      }
    }
  }

  /** Another click of a polygon or polyline: a corner (the double-click that ends it comes after). */
  private polyDown(e: PointerEvent): void {
    const g = this.gesture;
    if (g?.type !== "poly" || e.button !== 0) return;
    e.preventDefault();
    const p = g.overlay.toPage(e.clientX, e.clientY);
    const last = g.points[g.points.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 2) g.points.push(p);
    g.at = p;
    this.previewPoly();
  }

  /** Ends the polygon or polyline in progress (Enter or double-click): creates it if it has enough corners. */
  finishPoly(): boolean {
    const g = this.gesture;
    if (g?.type !== "poly") return false;
    this.gesture = null;
    g.overlay.preview(null);
    if (g.points.length >= (g.tool === "polygon" ? 3 : 2)) {
      const record = this.host.create("annotation", polyContent(g.tool, g.overlay.pageIndex, g.points, this.host.style, this.host.user));
      this.host.select(record.id);
    }
    return true;
  }

  private previewPoly(): void {
    const g = this.gesture;
    if (g?.type !== "poly") return;
    g.overlay.preview(previewElement(polyContent(g.tool, g.overlay.pageIndex, [...g.points, g.at], this.host.style, this.host.user)));
  }

  /** A record was deleted (by anyone): a drag or resize of it ends, sending nothing. */
  forget(id: string): void {
    const g = this.gesture;
    if ((g?.type === "move" || g?.type === "resize") && g.record.id === id) {
      this.cancel();
      g.overlay.remove(id);
    }
  }

  private up(e: PointerEvent): void {
    const g = this.gesture;
    if (!g || e.pointerId !== this.pointerId) return;
    this.gesture = null;
    this.pointerId = null;
    g.overlay.preview(null);
    const { style, user } = this.host;
    const page = g.overlay.pageIndex;
    switch (g.type) {
      case "ink":
        this.host.create("annotation", inkContent(page, [g.points], style, user));
        return;
      case "shape": {
        if (Math.hypot(g.to[0] - g.from[0], g.to[1] - g.from[1]) < 2) return; // a click, not a shape
        this.host.create("annotation", this.shapeContent(g));
        return;
      }
      case "move":
      case "resize":
        if (g.type === "move" && !g.moved) return;
        if (!this.host.record(g.record.id)) return; // deleted meanwhile
        // Based on the content at the start of the drag: changes others made meanwhile stay.
        this.host.update(g.record.id, { ...g.content, updatedAt: new Date().toISOString() }, g.record.content);
        return;
    }
  }

  private shapeContent(g: Extract<Gesture, { type: "shape" }>): JsonObject {
    const { style, user } = this.host;
    const page = g.overlay.pageIndex;
    if (g.tool === "line" || g.tool === "arrow") return lineContent(page, g.from, g.to, g.tool === "arrow", style, user);
    return shapeContent(g.tool, page, g.from, g.to, style, user);
  }

  private shapePreview(g: Extract<Gesture, { type: "shape" }>): SVGElement | null {
    return previewElement(this.shapeContent(g));
  }

  private previewInk(): void {
    const g = this.gesture;
    if (g?.type !== "ink") return;
    g.overlay.preview(previewElement(inkContent(g.overlay.pageIndex, [g.points], this.host.style, this.host.user)));
  }

  /** Places a sticky note or a free text where the user clicked, asking for its text. */
  private async place(tool: "note" | "text", overlay: PageOverlay, p: Point): Promise<void> {
    const { style, user } = this.host;
    const at = tool === "note" ? ([p[0] - NOTE_SIZE / 2, p[1] - NOTE_SIZE / 2] as Point) : p;
    const view = apply(overlay.transform, at);
    const text = await editText(overlay.page.div, {
      at: view,
      initial: "",
      placeholder: tool === "note" ? this.t.noteTextPlaceholder : this.t.textPlaceholder,
      fontSizePx: tool === "text" ? style.fontSize * (overlay.page.viewport.scale || 1) : undefined,
    });
    if (text === null || (tool === "text" && text.trim() === "")) return;
    const content = tool === "note" ? noteContent(overlay.pageIndex, at, text, style, user) : textContent(overlay.pageIndex, at, text, style, user);
    const record = this.host.create("annotation", content);
    this.host.setTool("select");
    this.host.select(record.id);
  }

  /** Double-clicking a note or free text edits its text. */
  private doubleClick(e: MouseEvent): void {
    if (this.finishPoly()) return; // a double-click ends a polygon or polyline
    if (this.host.tool !== "select") return;
    // The press before a double-click captured the pointer on the scroller, so the event's
    // target is the scroller: find what is under the pointer instead.
    const under = this.surface.ownerDocument.elementsFromPoint(e.clientX, e.clientY);
    const el = under.map((x) => x.closest<SVGGElement>("[data-record-id]")).find((x) => !!x);
    const record = el ? this.host.record(el.dataset.recordId!) : undefined;
    if (record) this.editText(record.id);
  }

  /** Opens the in-place editor on a note's or free text's text (when the user may edit it). */
  editText(id: string): void {
    const record = this.host.record(id);
    const page = record?.content.pageIndex;
    const overlay = typeof page === "number" ? this.host.overlays[page] : undefined;
    if (!record || !overlay || !this.host.canEdit(record)) return;
    if (record.content.type !== TYPES.note && record.content.type !== TYPES.text) return;
    const bbox = bboxOf(record.content)!;
    const view = mapRect(overlay.transform, bbox);
    void editText(overlay.page.div, { at: [view[0], view[1]], initial: textOf(record.content), placeholder: this.t.textPlaceholder }).then((text) => {
      const current = this.host.record(record.id);
      if (text === null || !current || text === textOf(current.content)) return;
      this.host.update(record.id, withText(current.content, text));
    });
  }

  /** With a text markup tool, turns the finished text selection into markup (one per page). */
  maybeHighlight(): void {
    const tool = this.host.tool;
    if (isMarkupTool(tool)) this.markSelection(tool);
  }

  /** The current text selection's line rectangles per page (page space), if it is on pages. */
  selectionRects(): Map<PageOverlay, Rect[]> {
    const byPage = new Map<PageOverlay, Rect[]>();
    const selection = this.surface.ownerDocument.getSelection();
    if (!selection || selection.isCollapsed || selection.rangeCount === 0) return byPage;
    for (let i = 0; i < selection.rangeCount; i++) {
      for (const r of selection.getRangeAt(i).getClientRects()) {
        if (r.width < 1 || r.height < 1) continue;
        const overlay = this.overlayContaining(r.left + r.width / 2, r.top + r.height / 2);
        if (!overlay) continue;
        const box = overlay.page.div.getBoundingClientRect();
        const rect = mapRect(invert(overlay.transform), [r.left - box.left, r.top - box.top, r.width, r.height]);
        byPage.set(overlay, [...(byPage.get(overlay) ?? []), rect]);
      }
    }
    return byPage;
  }

  /** Turns the text selection into markup of the given kind (one per page); returns the last. */
  markSelection(tool: MarkupTool): QuireRecord | null {
    let last: QuireRecord | null = null;
    for (const [overlay, rects] of this.selectionRects()) {
      const lines = mergeLineRects(rects);
      if (lines.length === 0) continue;
      const style = { ...this.host.style, color: this.host.colorFor(tool) };
      last = this.host.create("annotation", markupContent(tool, overlay.pageIndex, lines, style, this.host.user));
    }
    if (last) {
      this.surface.ownerDocument.getSelection()?.removeAllRanges();
      this.host.select(last.id);
    }
    return last;
  }

  private overlayContaining(x: number, y: number): PageOverlay | null {
    for (const overlay of this.host.overlays) {
      const b = overlay.page.div.getBoundingClientRect();
      if (x >= b.left && x <= b.right && y >= b.top && y <= b.bottom) return overlay;
    }
    return null;
  }
}

/** Highlight, underline, strikeout and squiggly: anchored to the text they mark. */
export function isTextMarkup(type: unknown): boolean {
  return typeof type === "string" && type.startsWith("pspdfkit/markup/");
}

/** Draws a preview with the same renderer as real records (but not as a record). */
function previewElement(content: JsonObject): SVGElement | null {
  const el = renderAnnotation({
    id: "preview",
    kind: "annotation",
    content,
    creator: "",
    creator_name: null,
    group: null,
    rev: 0,
    created_at: "",
    updated_at: "",
  });
  el?.removeAttribute("data-record-id");
  return el;
}
