/**
 * The viewer's messages in one table, so that a host application can translate them:
 * `Quire.load({ locale, strings: { sessionEnded: "…", toolbar: { print: "…" }, sidebar: { reply: "…" } } })`
 * replaces any of them (sections: `toolbar`, `sidebar`, `popups`). Messages with
 * parameters are functions. English is the default; `locale` is kept for date formatting.
 */
import type { PendingChange } from "../client/sync-state";

/**
 * The toolbar's (and its find bar's and style panel's) labels: each is a button's tooltip and
 * accessible name, an input's accessible name or visible text.
 */
export const EN_TOOLBAR = {
  thumbnails: "Show or hide page thumbnails",
  previousPage: "Previous page",
  nextPage: "Next page",
  page: "Page",
  pageCount: (count: number) => `/ ${count}`,
  zoom: "Zoom",
  zoomIn: "Zoom in",
  zoomOut: "Zoom out",
  fitWidth: "Fit width",
  fitPage: "Fit page",
  annotationTools: "Annotation tools",
  select: "Select, move and resize (Esc)",
  highlight: "Highlight selected text",
  underline: "Underline selected text",
  strikeout: "Strike out selected text",
  squiggly: "Squiggly underline for selected text",
  ink: "Draw freehand",
  rectangle: "Rectangle",
  ellipse: "Ellipse",
  line: "Line",
  arrow: "Arrow",
  note: "Sticky note",
  text: "Free text",
  colours: "Colour",
  colour: (color: string) => `Colour ${color}`,
  moreTools: "More tools",
  polygon: "Polygon (double-click to finish)",
  polyline: "Polyline (double-click to finish)",
  stamp: (name: string) => `Stamp: ${name}`,
  imageStamp: "Stamp: image…",
  deleteSelection: "Delete the selection (Del)",
  undo: "Undo (Ctrl+Z)",
  redo: "Redo (Ctrl+Shift+Z)",
  peers: "Who else is here",
  peerOnPage: (name: string, page: number) => `${name} — page ${page}`,
  peerPage: (page: number) => `p. ${page}`,
  connecting: "Connecting…",
  online: "Online",
  offline: "Offline",
  reconnecting: "Reconnecting…",
  find: "Find in document (Ctrl+F)",
  print: "Print",
  download: "Download the PDF",
  downloadAnnotated: "Download the PDF with annotations",
  comments: "Show or hide comments",
  menu: "Tools and actions",
  findInput: "Find in document",
  findPrevious: "Previous match (Shift+Enter)",
  findNext: "Next match (Enter)",
  findClose: "Close find",
  close: "Close",
  searching: "Searching…",
  noMatches: "No matches",
  matchOf: (current: number, count: number) => `${current} of ${count}`,
  style: "Style",
  styleTooltip: "Style: colour, width, opacity, fill",
  styleColour: "Colour",
  styleWidth: "Width",
  styleLineWidth: "Line width",
  styleOpacity: "Opacity",
  styleOpacityPercent: "Opacity (%)",
  styleFill: "Fill",
  styleFillShapes: "Fill shapes",
  styleFillColour: "Fill colour",
  styleTextSize: "Text size",
  styleTextSizePt: "Text size (pt)",
  styleHint: "Free text: fill is its background, width its border.",
};

export type ToolbarStrings = typeof EN_TOOLBAR;

/** The sidebar's labels: the comments and annotations tabs, and the page thumbnails. */
export const EN_SIDEBAR = {
  sidebar: "Sidebar",
  commentsAndAnnotations: "Comments and annotations",
  commentsTab: "Comments",
  annotationsTab: "Annotations",
  noComments: "No comments yet. Select an annotation to start a thread.",
  addComment: "Add a comment…",
  comment: "Comment",
  commentOn: (type: string) => `Comment on ${type.toLowerCase()}`,
  replyPlaceholder: "Reply…",
  reply: "Reply",
  resolve: "Resolve",
  reopen: "Reopen",
  threadTitle: (type: string, page: number | null) => (page === null ? type : `${type} · p. ${page}`),
  noteText: (author: string, text: string) => `${author}: ${text}`,
  deleteComment: "Delete comment",
  delete: "Delete",
  noAnnotations: "No annotations yet.",
  pageHeading: (page: number) => `Page ${page}`,
  commentCount: (count: number) => `${count} comments`,
  annotationMeta: (author: string, time: string) => `${author} · ${time}`,
  pages: "Pages",
  thumbnail: (page: number) => `Page ${page}`,
  /** An annotation of a type not in `types`. */
  annotation: "Annotation",
  /** Each annotation type's name (Instant JSON `type`), in the sidebar's lists. */
  types: {
    "pspdfkit/ink": "Drawing",
    "pspdfkit/markup/highlight": "Highlight",
    "pspdfkit/markup/underline": "Underline",
    "pspdfkit/markup/strikeout": "Strikeout",
    "pspdfkit/markup/squiggly": "Squiggly",
    "pspdfkit/shape/rectangle": "Rectangle",
    "pspdfkit/shape/ellipse": "Ellipse",
    "pspdfkit/shape/line": "Line",
    "pspdfkit/shape/polygon": "Polygon",
    "pspdfkit/shape/polyline": "Polyline",
    "pspdfkit/note": "Note",
    "pspdfkit/text": "Text",
    "pspdfkit/stamp": "Stamp",
    "pspdfkit/image": "Image",
    "pspdfkit/link": "Link",
    "pspdfkit/redaction": "Redaction",
  } as Record<string, string>,
};

export type SidebarStrings = typeof EN_SIDEBAR;

/** The pop-ups over the pages: the selected-text bar, a note's pop-up, the in-place text editor, printing. */
export const EN_POPUPS = {
  selectedText: "Selected text",
  highlight: "Highlight",
  underline: "Underline",
  comment: "Comment",
  copy: "Copy",
  note: "Note",
  emptyNote: "(empty note)",
  editNote: "Edit",
  noteTextPlaceholder: "Note text",
  textPlaceholder: "Text",
  printedPage: (page: number) => `Page ${page}`,
};

export type PopupStrings = typeof EN_POPUPS;

export const EN = {
  loading: "Loading…",
  couldNotOpen: (detail: string) => `Could not open the document: ${detail}`,
  originNotAllowed: (origin: string, server: string) =>
    `This page (${origin}) is not allowed to open documents from the Quire server at ${server}. ` +
    `Ask its administrator to add ${origin} to the server's allowed origins (--cors-origins).`,
  serverUnreachable: (server: string) => `Could not reach the Quire server at ${server}. Check your connection and try again.`,
  sessionInvalid: "Your session has expired or is not valid. Reload the page to start a new one.",
  noAccess: "You do not have access to this document.",
  documentNotFound: "This document was not found on the server.",
  sessionEnded: (reason: string) => `This session has ended (${reason}). Reload with a new session to continue.`,
  changeUndone: (why: string) => `Your change was undone: ${why}`,
  printFailed: "The document could not be prepared for printing.",
  downloadFailed: "The document could not be downloaded.",
  imageStampFailed: (reason: "type" | "size" | "decode" | "budget") =>
    reason === "type"
      ? "Pick a PNG or JPEG picture for the stamp."
      : reason === "size"
        ? "The picture is larger than 1 MiB; pick a smaller one."
        : reason === "decode"
          ? "The picture could not be read."
          : "The picture could not be made small enough for a stamp.",
  changeRebased: "Someone edited this at the same time; your change was applied on top of theirs.",
  notPermitted: (op: PendingChange["op"], kind: PendingChange["kind"], own: boolean) => {
    const what = kind === "comment" ? "comments" : kind === "form_field" ? "form fields" : "annotations";
    const verb = op === "delete" ? "delete" : op === "create" ? "add" : "edit";
    return own ? `You are not allowed to ${verb} ${what}.` : `You can only ${verb} your own ${what}.`;
  },
  rejected: {
    invalid: "The change was not valid.",
    too_large: "The change is too large.",
    already_exists: "It already exists.",
    not_found: "It was deleted in the meantime.",
    limit_exceeded: "The document holds too many annotations.",
    busy: "The server is busy; try again in a moment.",
    unavailable: "The server could not save the change; try again in a moment.",
    stale_base: "Someone else changed it first.",
    not_permitted: "You are not allowed to do that.",
  } as Record<string, string>,
  toolbar: EN_TOOLBAR,
  sidebar: EN_SIDEBAR,
  popups: EN_POPUPS,
};

type Sections = "toolbar" | "sidebar" | "popups";

export type Strings = Omit<typeof EN, Sections> & { toolbar: ToolbarStrings; sidebar: SidebarStrings; popups: PopupStrings };

/** What `Quire.load({ strings })` takes: any message, any toolbar, sidebar or pop-up label. */
export type StringOverrides = Partial<Omit<Strings, Sections>> & {
  toolbar?: Partial<ToolbarStrings>;
  sidebar?: Partial<SidebarStrings>;
  popups?: Partial<PopupStrings>;
};

/** `base` with those of `overrides` that have the same type (a string for a string, a function for a function). */
function sameTypes<T extends object>(base: T, overrides: Partial<T>): T {
  const out = { ...base };
  for (const key of Object.keys(base) as (keyof T)[]) {
    const value = overrides[key];
    if (value !== undefined && typeof value === typeof base[key]) out[key] = value;
  }
  return out;
}

/** The entries of a host's record whose values are strings. */
function onlyStrings(record: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter((e): e is [string, string] => typeof e[1] === "string"));
}

/** The table with the host's replacements applied (unknown keys are ignored). */
export function withStrings(overrides: StringOverrides | undefined): Strings {
  if (!overrides) return EN;
  const out: Strings = sameTypes<Strings>(EN, { ...overrides, rejected: undefined, toolbar: undefined, sidebar: undefined, popups: undefined });
  if (overrides.rejected) out.rejected = { ...EN.rejected, ...onlyStrings(overrides.rejected) };
  if (overrides.toolbar) out.toolbar = sameTypes(EN_TOOLBAR, overrides.toolbar);
  if (overrides.sidebar) {
    out.sidebar = sameTypes(EN_SIDEBAR, { ...overrides.sidebar, types: undefined });
    const types = overrides.sidebar.types;
    if (types && typeof types === "object") out.sidebar.types = { ...EN_SIDEBAR.types, ...onlyStrings(types) };
  }
  if (overrides.popups) out.popups = sameTypes(EN_POPUPS, overrides.popups);
  return out;
}
