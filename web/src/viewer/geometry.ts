/**
 * Coordinates. Records are stored in Instant JSON's page space: PDF points, origin at the
 * top-left corner of the page's crop box, y pointing down, before the page's own rotation.
 * Storing that (never screen pixels) is what makes an annotation land in the same place at
 * every zoom level and on every client.
 *
 * The overlay draws in page space inside an SVG group whose transform maps page space to view
 * pixels (`pageToView`); pointer positions come back through the inverse. Pure functions, so
 * the mapping is unit-tested without a PDF.
 */
import type { JsonObject, JsonValue } from "../client/types";

/** An affine transform `[a, b, c, d, e, f]`: (x, y) → (a·x + c·y + e, b·x + d·y + f). */
export type Matrix = [number, number, number, number, number, number];
export type Point = [number, number];
/** `[left, top, width, height]`, as Instant JSON's `bbox` and `rects`. */
export type Rect = [number, number, number, number];

export function multiply(m: Matrix, n: Matrix): Matrix {
  return [
    m[0] * n[0] + m[2] * n[1],
    m[1] * n[0] + m[3] * n[1],
    m[0] * n[2] + m[2] * n[3],
    m[1] * n[2] + m[3] * n[3],
    m[0] * n[4] + m[2] * n[5] + m[4],
    m[1] * n[4] + m[3] * n[5] + m[5],
  ];
}

export function invert(m: Matrix): Matrix {
  const det = m[0] * m[3] - m[1] * m[2];
  if (det === 0) throw new Error("singular transform");
  return [
    m[3] / det,
    -m[1] / det,
    -m[2] / det,
    m[0] / det,
    (m[2] * m[5] - m[3] * m[4]) / det,
    (m[1] * m[4] - m[0] * m[5]) / det,
  ];
}

export function apply(m: Matrix, [x, y]: Point): Point {
  return [m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]];
}

/**
 * Page space → view pixels, from a PDF.js viewport's `transform` (PDF user space → view) and
 * `viewBox` (the crop box `[x1, y1, x2, y2]` in user space). Page-space (x, y) is user-space
 * (x1 + x, y2 − y): the flip puts the origin at the top-left corner.
 */
export function pageToView(viewportTransform: number[], viewBox: number[]): Matrix {
  const flip: Matrix = [1, 0, 0, -1, viewBox[0], viewBox[3]];
  return multiply(viewportTransform as Matrix, flip);
}

/** The axis-aligned rectangle (in the target space) covering `rect` mapped through `m`. */
export function mapRect(m: Matrix, [x, y, w, h]: Rect): Rect {
  const corners = [apply(m, [x, y]), apply(m, [x + w, y]), apply(m, [x, y + h]), apply(m, [x + w, y + h])];
  return boundsOf(corners);
}

/** The smallest rectangle containing every point, grown by `pad` on each side. */
export function boundsOf(points: Point[], pad = 0): Rect {
  let x1 = Infinity;
  let y1 = Infinity;
  let x2 = -Infinity;
  let y2 = -Infinity;
  for (const [x, y] of points) {
    x1 = Math.min(x1, x);
    y1 = Math.min(y1, y);
    x2 = Math.max(x2, x);
    y2 = Math.max(y2, y);
  }
  if (!Number.isFinite(x1)) return [0, 0, 0, 0];
  return [x1 - pad, y1 - pad, x2 - x1 + 2 * pad, y2 - y1 + 2 * pad];
}

/** The rectangle spanned by two corners, in any order. */
export function rectFromCorners(a: Point, b: Point): Rect {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(a[0] - b[0]), Math.abs(a[1] - b[1])];
}

export function unionRects(rects: Rect[]): Rect {
  return boundsOf(rects.flatMap(([x, y, w, h]) => [[x, y], [x + w, y + h]] as Point[]));
}

/** Rounds to 1/100 point: plenty for annotations, and it keeps the JSON short. */
export function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export function roundPoint([x, y]: Point): Point {
  return [round(x), round(y)];
}

export function roundRect([x, y, w, h]: Rect): Rect {
  return [round(x), round(y), round(w), round(h)];
}

/** The record's `bbox`, if it has a valid one. */
export function bboxOf(content: JsonObject): Rect | null {
  const b = content.bbox;
  if (Array.isArray(b) && b.length === 4 && b.every((n) => typeof n === "number" && Number.isFinite(n))) {
    return b as Rect;
  }
  return null;
}

/**
 * Maps an annotation's geometry from one bounding box to another: a move when the sizes are
 * equal, a resize otherwise. Every geometric field of the supported Instant JSON types moves
 * with it (`bbox`, `lines.points`, `rects`, `startPoint`/`endPoint`, `points`); styles such
 * as stroke widths and font sizes stay as they are.
 */
export function transformContent(content: JsonObject, from: Rect, to: Rect): JsonObject {
  const sx = from[2] === 0 ? 1 : to[2] / from[2];
  const sy = from[3] === 0 ? 1 : to[3] / from[3];
  const map = ([x, y]: Point): Point => roundPoint([to[0] + (x - from[0]) * sx, to[1] + (y - from[1]) * sy]);
  const mapR = ([x, y, w, h]: Rect): Rect => {
    const [l, t] = map([x, y]);
    return [l, t, round(w * sx), round(h * sy)];
  };
  const out: JsonObject = { ...content, bbox: roundRect(to) };
  const lines = content.lines;
  if (isObj(lines) && Array.isArray(lines.points)) {
    out.lines = { ...lines, points: lines.points.map((s) => (asPoints(s) ?? []).map(map)) };
  }
  if (Array.isArray(content.rects)) out.rects = content.rects.map((r) => mapR(r as Rect));
  for (const key of ["startPoint", "endPoint"]) {
    const p = asPoint(content[key]);
    if (p) out[key] = map(p);
  }
  const pts = asPoints(content.points);
  if (pts) out.points = pts.map(map);
  return out;
}

/** Moves content by (dx, dy) page units. */
export function translateContent(content: JsonObject, dx: number, dy: number): JsonObject {
  const b = bboxOf(content);
  if (!b) return content;
  return transformContent(content, b, [b[0] + dx, b[1] + dy, b[2], b[3]]);
}

/**
 * The bbox after dragging one of its corner handles to `to`; the opposite corner stays put.
 * `corner` is "nw", "ne", "sw" or "se". A minimum size keeps the shape grabbable.
 */
export function resizeRect(b: Rect, corner: string, to: Point, min = 4): Rect {
  let [x1, y1, x2, y2] = [b[0], b[1], b[0] + b[2], b[1] + b[3]];
  if (corner.includes("w")) x1 = Math.min(to[0], x2 - min);
  if (corner.includes("e")) x2 = Math.max(to[0], x1 + min);
  if (corner.includes("n")) y1 = Math.min(to[1], y2 - min);
  if (corner.includes("s")) y2 = Math.max(to[1], y1 + min);
  return [x1, y1, x2 - x1, y2 - y1];
}

/**
 * Merges the client rectangles of a text selection (one per text run, often overlapping) into
 * one rectangle per line: runs whose vertical extents mostly overlap are on the same line.
 */
export function mergeLineRects(rects: Rect[]): Rect[] {
  const sorted = rects.filter((r) => r[2] > 0.5 && r[3] > 0.5).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  const lines: Rect[] = [];
  for (const r of sorted) {
    const last = lines.at(-1);
    if (last) {
      const overlap = Math.min(last[1] + last[3], r[1] + r[3]) - Math.max(last[1], r[1]);
      if (overlap > 0.5 * Math.min(last[3], r[3])) {
        lines[lines.length - 1] = unionRects([last, r]);
        continue;
      }
    }
    lines.push(r);
  }
  return lines;
}

function isObj(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function asPoint(v: JsonValue | undefined): Point | null {
  return Array.isArray(v) && v.length >= 2 && typeof v[0] === "number" && typeof v[1] === "number" ? [v[0], v[1]] : null;
}

export function asPoints(v: JsonValue | undefined): Point[] | null {
  if (!Array.isArray(v)) return null;
  const out: Point[] = [];
  for (const p of v) {
    const pt = asPoint(p);
    if (pt) out.push(pt);
  }
  return out;
}
