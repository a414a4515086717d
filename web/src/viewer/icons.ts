/**
 * Toolbar icons from Lucide (npm `lucide`, ISC licence): only the ones imported here end up in
 * the bundle. Icons are decorative (`aria-hidden`); every button carries its own label.
 */
import {
  ChevronLeft,
  ChevronRight,
  Circle,
  createElement,
  Download,
  FileDown,
  Highlighter,
  ImagePlus,
  type IconNode,
  Menu,
  MessageSquare,
  Minus,
  MousePointer2,
  MoveHorizontal,
  MoveUpRight,
  Palette,
  Pentagon,
  Shapes,
  Spline,
  Stamp,
  PanelLeft,
  Pencil,
  Printer,
  Redo2,
  Search,
  Square,
  StickyNote,
  Strikethrough,
  Trash2,
  Type,
  Underline,
  Undo2,
  WavesHorizontal,
  ZoomIn,
  ZoomOut,
} from "lucide";

export const ICONS = {
  thumbnails: PanelLeft,
  prev: ChevronLeft,
  next: ChevronRight,
  zoomIn: ZoomIn,
  zoomOut: ZoomOut,
  fitWidth: MoveHorizontal,
  select: MousePointer2,
  highlight: Highlighter,
  underline: Underline,
  strikeout: Strikethrough,
  squiggly: WavesHorizontal,
  ink: Pencil,
  rectangle: Square,
  ellipse: Circle,
  line: Minus,
  arrow: MoveUpRight,
  note: StickyNote,
  text: Type,
  delete: Trash2,
  style: Palette,
  more: Shapes,
  polygon: Pentagon,
  polyline: Spline,
  stamp: Stamp,
  undo: Undo2,
  redo: Redo2,
  comments: MessageSquare,
  search: Search,
  print: Printer,
  download: Download,
  downloadAnnotated: FileDown,
  menu: Menu,
  image: ImagePlus,
} satisfies Record<string, IconNode>;

export type IconName = keyof typeof ICONS;

/** An SVG icon, 18 px, hidden from assistive technology. */
export function icon(name: IconName): SVGElement {
  return createElement(ICONS[name], { width: 18, height: 18, "aria-hidden": "true", focusable: "false", class: "quire-icon" });
}
