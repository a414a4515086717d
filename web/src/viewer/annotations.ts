/**
 * Instant JSON content for what the tools make, and the few facts about annotation types the
 * UI needs (labels, which colour field a type uses). Every builder returns content the
 * server's validation accepts (docs/protocol.md, "Records").
 */
import type { JsonObject, JsonValue, SessionUser } from "../client/types";
import { boundsOf, rectFromCorners, round, roundPoint, roundRect, unionRects, type Point, type Rect } from "./geometry";
import { EN_SIDEBAR, type SidebarStrings } from "./strings";

export const TYPES = {
  ink: "pspdfkit/ink",
  highlight: "pspdfkit/markup/highlight",
  rectangle: "pspdfkit/shape/rectangle",
  ellipse: "pspdfkit/shape/ellipse",
  line: "pspdfkit/shape/line",
  note: "pspdfkit/note",
  text: "pspdfkit/text",
} as const;

/** The side of a sticky note's icon, in points (notes don't resize). */
export const NOTE_SIZE = 24;

/** Style choices the toolbar holds. */
export interface Style {
  color: string;
  lineWidth: number;
  fontSize: number;
  /** 0–1. */
  opacity: number;
  /** Fill of rectangles and ellipses (`#rrggbb`), or none. */
  fill: string | null;
}

/** A change of style from the style panel, applied to new annotations and to the selected one. */
export interface StylePatch {
  color?: string;
  lineWidth?: number;
  opacity?: number;
  fill?: string | null;
  /** Free text only: text size in points. */
  fontSize?: number;
}

/** The fields every annotation the viewer makes carries. */
function base(type: string, pageIndex: number, bbox: Rect, user: SessionUser, style: Style): JsonObject {
  const now = new Date().toISOString();
  return {
    v: 2,
    type,
    pageIndex,
    bbox: roundRect(bbox),
    opacity: clampOpacity(style.opacity),
    createdAt: now,
    updatedAt: now,
    creatorName: user.user_name ?? user.user_id,
  };
}

export function inkContent(pageIndex: number, strokes: Point[][], style: Style, user: SessionUser): JsonObject {
  const bbox = boundsOf(strokes.flat(), style.lineWidth / 2 + 1);
  return {
    ...base(TYPES.ink, pageIndex, bbox, user, style),
    lines: {
      points: strokes.map((s) => s.map(roundPoint)),
      intensities: strokes.map((s) => s.map(() => 1)),
    },
    lineWidth: style.lineWidth,
    strokeColor: style.color,
    isDrawnNaturally: false,
  };
}

/** The text markup tools and the annotation type each makes. */
export const MARKUP_TYPES = {
  highlight: TYPES.highlight,
  underline: "pspdfkit/markup/underline",
  strikeout: "pspdfkit/markup/strikeout",
  squiggly: "pspdfkit/markup/squiggly",
} as const;

export type MarkupTool = keyof typeof MARKUP_TYPES;

export function isMarkupTool(tool: string): tool is MarkupTool {
  return Object.hasOwn(MARKUP_TYPES, tool);
}

/** Text markup over the given line rectangles (highlights blend with the text under them). */
export function markupContent(tool: MarkupTool, pageIndex: number, rects: Rect[], style: Style, user: SessionUser): JsonObject {
  const content: JsonObject = {
    ...base(MARKUP_TYPES[tool], pageIndex, unionRects(rects), user, style),
    rects: rects.map(roundRect),
    color: style.color,
  };
  if (tool === "highlight") content.blendMode = "multiply";
  return content;
}

export function highlightContent(pageIndex: number, rects: Rect[], style: Style, user: SessionUser): JsonObject {
  return markupContent("highlight", pageIndex, rects, style, user);
}

export function shapeContent(
  kind: "rectangle" | "ellipse",
  pageIndex: number,
  from: Point,
  to: Point,
  style: Style,
  user: SessionUser,
): JsonObject {
  return {
    ...base(TYPES[kind], pageIndex, rectFromCorners(from, to), user, style),
    strokeWidth: style.lineWidth,
    strokeColor: style.color,
    ...(style.fill ? { fillColor: style.fill } : {}),
  };
}

/** A polygon (closed) or polyline (open) through the points. */
export function polyContent(kind: "polygon" | "polyline", pageIndex: number, points: Point[], style: Style, user: SessionUser): JsonObject {
  return {
    ...base(`pspdfkit/shape/${kind}`, pageIndex, boundsOf(points, style.lineWidth / 2 + 1), user, style),
    points: points.map(roundPoint),
    strokeWidth: style.lineWidth,
    strokeColor: style.color,
    ...(kind === "polygon" && style.fill ? { fillColor: style.fill } : {}),
  };
}

/** The standard stamps the stamp tool offers, with their colours. */
export const STAMPS: Record<string, string> = {
  Approved: "#2e7d32",
  Rejected: "#c62828",
  Draft: "#1565c0",
  Confidential: "#6a1b9a",
};

/** A standard stamp (Instant JSON `pspdfkit/stamp`) centred on `at`, sized for its word. */
export function stampContent(pageIndex: number, at: Point, stampType: string, user: SessionUser, style: Style): JsonObject {
  const width = Math.round(stampType.length * 11 + 24);
  const height = 32;
  return {
    ...base("pspdfkit/stamp", pageIndex, [at[0] - width / 2, at[1] - height / 2, width, height], user, style),
    stampType,
    title: stampType,
    color: STAMPS[stampType] ?? "#2e7d32",
  };
}

export function lineContent(pageIndex: number, from: Point, to: Point, arrow: boolean, style: Style, user: SessionUser): JsonObject {
  const content: JsonObject = {
    ...base(TYPES.line, pageIndex, boundsOf([from, to], style.lineWidth * 2 + 2), user, style),
    startPoint: roundPoint(from),
    endPoint: roundPoint(to),
    strokeWidth: style.lineWidth,
    strokeColor: style.color,
  };
  if (arrow) content.lineCaps = { end: "openArrow" };
  return content;
}

export function noteContent(pageIndex: number, at: Point, text: string, style: Style, user: SessionUser): JsonObject {
  return {
    ...base(TYPES.note, pageIndex, [at[0], at[1], NOTE_SIZE, NOTE_SIZE], user, style),
    text: { format: "plain", value: text },
    icon: "comment",
    color: style.color,
  };
}

export function textContent(pageIndex: number, at: Point, text: string, style: Style, user: SessionUser): JsonObject {
  return {
    ...base(TYPES.text, pageIndex, textBox(at, text, style.fontSize), user, style),
    text: { format: "plain", value: text },
    fontSize: style.fontSize,
    font: "Helvetica",
    fontColor: style.color,
    horizontalAlign: "left",
    verticalAlign: "top",
    ...(style.fill ? { backgroundColor: style.fill } : {}),
  };
}

/** A box that fits `text` at `fontSize` (Helvetica averages about 0.55 em per character). */
export function textBox(at: Point, text: string, fontSize: number): Rect {
  const lines = text.split("\n");
  const longest = Math.max(1, ...lines.map((l) => l.length));
  return [at[0], at[1], round(longest * fontSize * 0.58 + 8), round(lines.length * fontSize * 1.25 + 6)];
}

/** A comment in a thread (Instant JSON's comment shape; the server needs rootId and text). */
export function commentContent(rootId: string, pageIndex: number | null, text: string, user: SessionUser): JsonObject {
  const now = new Date().toISOString();
  const content: JsonObject = {
    v: 2,
    type: "pspdfkit/comment",
    rootId,
    text: { format: "plain", value: text },
    createdAt: now,
    updatedAt: now,
    creatorName: user.user_name ?? user.user_id,
  };
  if (pageIndex !== null) content.pageIndex = pageIndex;
  return content;
}

/** The text of a note, free text or comment: a string or `{value}`. */
export function textOf(content: JsonObject): string {
  const t = content.text;
  if (typeof t === "string") return t;
  if (t && typeof t === "object" && !Array.isArray(t) && typeof t.value === "string") return t.value;
  return "";
}

/** Replaces the text, keeping the field's shape. */
export function withText(content: JsonObject, text: string): JsonObject {
  return { ...content, text: { format: "plain", value: text }, updatedAt: new Date().toISOString() };
}

/** The field holding a type's main colour. */
export function colorField(type: string): string {
  switch (type) {
    case TYPES.text:
      return "fontColor";
    case TYPES.note:
    case TYPES.highlight:
    case "pspdfkit/markup/underline":
    case "pspdfkit/markup/strikeout":
    case "pspdfkit/markup/squiggly":
      return "color";
    default:
      return "strokeColor";
  }
}

export function withColor(content: JsonObject, color: string): JsonObject {
  return { ...content, [colorField(typeof content.type === "string" ? content.type : "")]: color, updatedAt: new Date().toISOString() };
}

function clampOpacity(v: number): number {
  return Number.isFinite(v) ? Math.round(Math.max(0.05, Math.min(1, v)) * 100) / 100 : 1;
}

/**
 * Applies a style change to an annotation's content: colour to its colour field, line width
 * to ink (`lineWidth`) and shapes (`strokeWidth`), opacity to every type, fill to rectangles
 * and ellipses (null removes it). Fields a type does not have are left alone.
 */
export function withStyle(content: JsonObject, patch: StylePatch): JsonObject {
  const type = typeof content.type === "string" ? content.type : "";
  const out: JsonObject = { ...content, updatedAt: new Date().toISOString() };
  if (patch.color !== undefined) out[colorField(type)] = patch.color;
  if (patch.opacity !== undefined) out.opacity = clampOpacity(patch.opacity);
  if (patch.lineWidth !== undefined) {
    const width = Math.max(0.5, Math.min(48, patch.lineWidth));
    if (type === TYPES.ink) out.lineWidth = width;
    else if (type.startsWith("pspdfkit/shape/")) out.strokeWidth = width;
  }
  if (patch.fill !== undefined && (type === TYPES.rectangle || type === TYPES.ellipse)) {
    if (patch.fill) out.fillColor = patch.fill;
    else delete out.fillColor;
  }
  if (type === TYPES.text) {
    // Free text: fill is its background, line width its border (in its text colour).
    if (patch.fill !== undefined) {
      if (patch.fill) out.backgroundColor = patch.fill;
      else delete out.backgroundColor;
    }
    if (patch.lineWidth !== undefined) {
      out.borderWidth = Math.max(0, Math.min(12, patch.lineWidth));
      out.borderColor = typeof out.fontColor === "string" ? out.fontColor : "#000000";
    }
    if (patch.fontSize !== undefined) {
      const size = Math.max(6, Math.min(72, patch.fontSize));
      const bbox = Array.isArray(content.bbox) ? (content.bbox as number[]) : null;
      out.fontSize = size;
      if (bbox) out.bbox = textBox([bbox[0], bbox[1]], textOf(content), size);
    }
  }
  return out;
}

/**
 * Whether the type has corner handles: notes keep their icon size, and text markup follows
 * the text it marks (it can still be moved).
 */
export function isResizable(type: JsonValue | undefined): boolean {
  return type !== TYPES.note && !(typeof type === "string" && type.startsWith("pspdfkit/markup/"));
}

/** The type's name in the sidebar (`strings.sidebar.types`). */
export function typeLabel(type: JsonValue | undefined, t: SidebarStrings = EN_SIDEBAR): string {
  return (typeof type === "string" && Object.hasOwn(t.types, type) && t.types[type]) || t.annotation;
}

/** The thread state kept in the root annotation's `customData` (see README, "Comments"). */
export function isResolved(content: JsonObject): boolean {
  const data = content.customData;
  return !!data && typeof data === "object" && !Array.isArray(data) && data.resolved === true;
}

export function withResolved(content: JsonObject, resolved: boolean, user: SessionUser): JsonObject {
  const prev = content.customData;
  const data: JsonObject = prev && typeof prev === "object" && !Array.isArray(prev) ? { ...prev } : {};
  data.resolved = resolved;
  if (resolved) {
    data.resolvedBy = user.user_name ?? user.user_id;
    data.resolvedAt = new Date().toISOString();
  } else {
    delete data.resolvedBy;
    delete data.resolvedAt;
  }
  return { ...content, customData: data };
}
