/**
 * Draws one annotation record as SVG, in page space (the overlay group's transform does the
 * zoom). Each record becomes a `<g data-record-id data-kind data-type>`; a transparent "hit"
 * shape inside it makes thin strokes easy to click. Types the viewer cannot draw faithfully
 * (stamps, images, links, redactions) get a labelled outline, so they are still visible,
 * selectable and commentable.
 */
import type { JsonObject, QuireRecord } from "../client/types";
import { textOf, TYPES } from "./annotations";
import { asPoint, asPoints, bboxOf, type Point, type Rect } from "./geometry";
import { h, s } from "./dom";
import { imageDataUrlOf } from "./image-stamp";

/** Renders the record, or returns null when it has nothing drawable (no bbox). */
export function renderAnnotation(record: QuireRecord): SVGGElement | null {
  const c = record.content;
  const bbox = bboxOf(c);
  if (!bbox) return null;
  const type = typeof c.type === "string" ? c.type : "";
  const g = s("g", {
    class: "quire-annotation",
    "data-record-id": record.id,
    "data-kind": record.kind,
    "data-type": type,
    "data-page-index": typeof c.pageIndex === "number" ? c.pageIndex : null,
  });
  const opacity = typeof c.opacity === "number" ? c.opacity : 1;
  if (opacity < 1) g.setAttribute("opacity", String(opacity));
  draw(g, type, c, bbox);
  return g;
}

function draw(g: SVGGElement, type: string, c: JsonObject, bbox: Rect): void {
  const stroke = str(c.strokeColor, "#2563eb");
  const width = num(c.strokeWidth ?? c.lineWidth, 2);
  switch (type) {
    case TYPES.ink: {
      const lines = c.lines && typeof c.lines === "object" && !Array.isArray(c.lines) ? c.lines.points : null;
      const strokes = Array.isArray(lines) ? lines.map((l) => asPoints(l) ?? []) : [];
      const d = strokes.map(pathData).join(" ");
      g.append(s("path", { d, class: "quire-hit", "stroke-width": width + 8 }));
      g.append(s("path", { d, fill: "none", stroke, "stroke-width": width, "stroke-linecap": "round", "stroke-linejoin": "round" }));
      return;
    }
    case TYPES.highlight:
    case "pspdfkit/markup/underline":
    case "pspdfkit/markup/strikeout":
    case "pspdfkit/markup/squiggly":
      drawMarkup(g, type, c, bbox);
      return;
    case TYPES.rectangle: {
      const inset = width / 2;
      const rect = { x: bbox[0] + inset, y: bbox[1] + inset, width: Math.max(0, bbox[2] - width), height: Math.max(0, bbox[3] - width) };
      g.append(s("rect", { ...rect, class: "quire-hit-area" }));
      g.append(s("rect", { ...rect, fill: str(c.fillColor, "none"), stroke, "stroke-width": width }));
      return;
    }
    case TYPES.ellipse: {
      const e = { cx: bbox[0] + bbox[2] / 2, cy: bbox[1] + bbox[3] / 2, rx: Math.max(0, (bbox[2] - width) / 2), ry: Math.max(0, (bbox[3] - width) / 2) };
      g.append(s("ellipse", { ...e, class: "quire-hit-area" }));
      g.append(s("ellipse", { ...e, fill: str(c.fillColor, "none"), stroke, "stroke-width": width }));
      return;
    }
    case TYPES.line:
      drawLine(g, c, stroke, width);
      return;
    case "pspdfkit/shape/polygon":
    case "pspdfkit/shape/polyline": {
      const points = (asPoints(c.points) ?? []).map((p) => p.join(",")).join(" ");
      const tag = type.endsWith("polygon") ? "polygon" : "polyline";
      g.append(s(tag, { points, class: "quire-hit", "stroke-width": width + 8 }));
      g.append(s(tag, { points, fill: str(c.fillColor, "none"), stroke, "stroke-width": width }));
      return;
    }
    case TYPES.note:
      drawNote(g, c, bbox);
      return;
    case "pspdfkit/stamp":
      drawStamp(g, c, bbox);
      return;
    case TYPES.text:
      drawText(g, c, bbox);
      return;
    case "pspdfkit/image": {
      const href = imageDataUrlOf(c);
      if (!href) break; // an image without a picture we can show (an attachment): the outline
      g.append(s("rect", { x: bbox[0], y: bbox[1], width: bbox[2], height: bbox[3], class: "quire-hit-area" }));
      g.append(s("image", { href, x: bbox[0], y: bbox[1], width: bbox[2], height: bbox[3], preserveAspectRatio: "none" }));
      return;
    }
  }
  g.append(s("rect", { x: bbox[0], y: bbox[1], width: bbox[2], height: bbox[3], class: "quire-unknown" }));
}

function drawMarkup(g: SVGGElement, type: string, c: JsonObject, bbox: Rect): void {
  const color = str(c.color, "#ffd400");
  const rects = Array.isArray(c.rects) ? (c.rects as Rect[]) : [bbox];
  for (const [x, y, w, hgt] of rects) {
    g.append(s("rect", { x, y, width: w, height: hgt, class: "quire-hit-area" }));
    if (type === TYPES.highlight) {
      g.append(s("rect", { x, y, width: w, height: hgt, fill: color, class: "quire-highlight" }));
    } else if (type.endsWith("squiggly")) {
      g.append(s("path", { d: squigglePath(x, y + hgt - 2, w, Math.max(1, hgt / 8)), fill: "none", stroke: color, "stroke-width": Math.max(0.75, hgt / 14) }));
    } else {
      const lineY = type.endsWith("strikeout") ? y + hgt / 2 : y + hgt - 1;
      g.append(s("line", { x1: x, y1: lineY, x2: x + w, y2: lineY, stroke: color, "stroke-width": Math.max(1, hgt / 12) }));
    }
  }
}

function drawLine(g: SVGGElement, c: JsonObject, stroke: string, width: number): void {
  const a = asPoint(c.startPoint);
  const b = asPoint(c.endPoint);
  if (!a || !b) return;
  const d = `M${a[0]} ${a[1]} L${b[0]} ${b[1]}`;
  g.append(s("path", { d, class: "quire-hit", "stroke-width": width + 8 }));
  g.append(s("path", { d, stroke, "stroke-width": width, "stroke-linecap": "round", fill: "none" }));
  const caps = c.lineCaps && typeof c.lineCaps === "object" && !Array.isArray(c.lineCaps) ? c.lineCaps : {};
  if (typeof caps.end === "string" && caps.end.toLowerCase().includes("arrow")) g.append(arrowHead(a, b, stroke, width));
  if (typeof caps.start === "string" && caps.start.toLowerCase().includes("arrow")) g.append(arrowHead(b, a, stroke, width));
}

/** An open arrow head at `to`, pointing away from `from`. */
function arrowHead(from: Point, to: Point, stroke: string, width: number): SVGPathElement {
  const angle = Math.atan2(to[1] - from[1], to[0] - from[0]);
  const len = 6 + width * 3;
  const wing = (sign: number): Point => [to[0] - len * Math.cos(angle + sign * 0.45), to[1] - len * Math.sin(angle + sign * 0.45)];
  const [l, r] = [wing(1), wing(-1)];
  return s("path", {
    d: `M${l[0]} ${l[1]} L${to[0]} ${to[1]} L${r[0]} ${r[1]}`,
    stroke,
    "stroke-width": width,
    fill: "none",
    "stroke-linecap": "round",
    "stroke-linejoin": "round",
  });
}

function drawNote(g: SVGGElement, c: JsonObject, [x, y, w, hgt]: Rect): void {
  const fold = Math.min(w, hgt) * 0.3;
  g.append(
    s("path", {
      d: `M${x} ${y} H${x + w} V${y + hgt - fold} L${x + w - fold} ${y + hgt} H${x} Z`,
      fill: str(c.color, "#ffd400"),
      stroke: "rgba(0,0,0,.45)",
      "stroke-width": 0.75,
      class: "quire-note",
    }),
  );
  for (let i = 1; i <= 3; i++) {
    const ly = y + (hgt * i) / 4.5;
    g.append(s("line", { x1: x + w * 0.2, y1: ly, x2: x + w * 0.8, y2: ly, stroke: "rgba(0,0,0,.55)", "stroke-width": 0.75 }));
  }
  const title = s("title");
  title.textContent = textOf(c);
  g.append(title);
}

/** A rubber stamp: its word in capitals inside a rounded frame, in the stamp's colour. */
function drawStamp(g: SVGGElement, c: JsonObject, [x, y, w, hgt]: Rect): void {
  const color = str(c.color, "#2e7d32");
  const label = str(c.title, str(c.stampType, "Stamp")).toUpperCase();
  g.append(s("rect", { x, y, width: w, height: hgt, rx: 4, class: "quire-hit-area" }));
  g.append(s("rect", { x: x + 1.5, y: y + 1.5, width: Math.max(0, w - 3), height: Math.max(0, hgt - 3), rx: 4, fill: "none", stroke: color, "stroke-width": 3 }));
  const text = s("text", {
    x: x + w / 2,
    y: y + hgt / 2,
    fill: color,
    "font-family": "Helvetica, Arial, sans-serif",
    "font-weight": "bold",
    "font-size": Math.max(6, hgt * 0.5),
    "text-anchor": "middle",
    "dominant-baseline": "central",
    textLength: Math.max(1, w - 16),
    lengthAdjust: "spacingAndGlyphs",
  });
  text.textContent = label;
  g.append(text);
}

function drawText(g: SVGGElement, c: JsonObject, [x, y, w, hgt]: Rect): void {
  g.append(s("rect", { x, y, width: w, height: hgt, class: "quire-hit-area" }));
  const fo = s("foreignObject", { x, y, width: w, height: hgt });
  const div = h("div", { class: "quire-free-text" });
  div.style.fontSize = `${num(c.fontSize, 12)}px`;
  div.style.color = str(c.fontColor, "#000000");
  if (typeof c.backgroundColor === "string") div.style.background = c.backgroundColor;
  const border = num(c.borderWidth, 0);
  if (border > 0) div.style.border = `${border}px solid ${str(c.borderColor, "#000000")}`;
  div.textContent = textOf(c);
  fo.append(div);
  g.append(fo);
}

/** A zigzag under a line of text: `amp` up and down every `amp * 2` points along `width`. */
export function squigglePath(x: number, y: number, width: number, amp: number): string {
  const stepX = amp * 2;
  let d = `M${x} ${y}`;
  let up = true;
  for (let at = x + stepX; at < x + width + stepX / 2; at += stepX) {
    d += ` L${Math.min(at, x + width)} ${up ? y - amp : y}`;
    up = !up;
  }
  return d;
}

function pathData(points: Point[]): string {
  if (points.length === 0) return "";
  const [first, ...rest] = points;
  // A single point (a tap) still draws a dot.
  if (rest.length === 0) return `M${first[0]} ${first[1]} l0.01 0`;
  return `M${first[0]} ${first[1]} ` + rest.map(([x, y]) => `L${x} ${y}`).join(" ");
}

function str(v: unknown, fallback: string): string {
  return typeof v === "string" && v.length > 0 ? v : fallback;
}

function num(v: unknown, fallback: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}
