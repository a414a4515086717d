/**
 * The toolbar: page navigation, zoom, the annotation tools and colours (only when the session
 * may create annotations), undo/redo, who else is here, and the connection state. It holds no
 * state of its own beyond what it shows; every button calls back into the viewer.
 */
import type { ConnectionState } from "../client/client";
import type { PresenceSession } from "../client/types";
import { h } from "./dom";
import { STAMPS, type StylePatch } from "./annotations";
import { icon, type IconName } from "./icons";
import { StylePanel } from "./style-panel";
import { colorFor, initials } from "./presence-colors";
import { EN_TOOLBAR, type ToolbarStrings } from "./strings";

export type Tool = "select" | "highlight" | "underline" | "strikeout" | "squiggly" | "polygon" | "polyline" | "stamp" | "ink" | "rectangle" | "ellipse" | "line" | "arrow" | "note" | "text";

/** The tools that create annotations, in toolbar order (their labels are in the strings table). */
export const EDIT_TOOLS = ["highlight", "underline", "strikeout", "squiggly", "ink", "rectangle", "ellipse", "line", "arrow", "note", "text"] as const satisfies readonly Tool[];

/** The zoom levels offered in the zoom menu. */
const ZOOM_PRESETS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4];

/** Preset colours (any other from the style panel's picker). */
export const COLORS = ["#ffd400", "#ff4d4f", "#2f80ed", "#000000"];

export interface ToolbarActions {
  goToPage(index: number): void;
  zoomIn(): void;
  zoomOut(): void;
  fitWidth(): void;
  fitPage(): void;
  setZoom(zoom: number): void;
  setTool(tool: Tool): void;
  setColor(color: string): void;
  setStyle(patch: StylePatch): void;
  /** Picks the stamp tool with one of the standard stamps. */
  setStamp(stampType: string): void;
  /** Picks the stamp tool with a picture from a file the user chose. */
  setImageStamp(file: File): void;
  deleteSelection(): void;
  undo(): void;
  redo(): void;
  toggleSidebar(which: "thumbnails" | "comments"): void;
  find(): void;
  print(): void;
  /** Absent: the session may not download. */
  download?: () => void;
  /** The PDF with the session's annotations written into it; absent like `download`. */
  downloadAnnotated?: () => void;
}

/** Numbers the pop-up's element id (several viewers may share a page). */
let overflowIds = 0;

export class Toolbar {
  readonly el: HTMLElement;
  private readonly pageInput: HTMLInputElement;
  private readonly zoomLabel: HTMLSelectElement;
  private readonly zoomCurrent: HTMLOptionElement;
  private readonly tools = new Map<Tool, HTMLButtonElement>();
  private readonly swatches: HTMLButtonElement[] = [];
  private readonly editGroup: HTMLElement | null;
  private stylePanel: StylePanel | null = null;
  private moreTools: HTMLButtonElement | null = null;
  private readonly deleteButton: HTMLButtonElement | null = null;
  private readonly undoButton: HTMLButtonElement | null = null;
  private readonly redoButton: HTMLButtonElement | null = null;
  private readonly connection: HTMLSpanElement;
  private readonly peers: HTMLElement;
  private readonly overflow: HTMLElement;
  private readonly menuButton: HTMLButtonElement;
  private page = 0;

  constructor(
    pageCount: number,
    canEdit: boolean,
    private readonly actions: ToolbarActions,
    private readonly t: ToolbarStrings = EN_TOOLBAR,
  ) {
    // Icon buttons: the label is the tooltip and the accessible name.
    const button = (action: string, glyph: IconName, title: string, onClick: () => void) => {
      const b = h("button", { type: "button", class: "quire-button", "data-action": action, title, "aria-label": title }, icon(glyph));
      b.addEventListener("click", onClick);
      return b;
    };

    this.pageInput = h("input", { class: "quire-page-input", type: "number", min: 1, max: pageCount, value: 1, "aria-label": t.page });
    this.pageInput.addEventListener("change", () => actions.goToPage(Number(this.pageInput.value) - 1));
    const nav = h(
      "div",
      { class: "quire-group quire-nav" },
      button("thumbnails", "thumbnails", t.thumbnails, () => actions.toggleSidebar("thumbnails")),
      button("prev-page", "prev", t.previousPage, () => actions.goToPage(this.page - 1)),
      this.pageInput,
      h("span", { class: "quire-page-count" }, t.pageCount(pageCount)),
      button("next-page", "next", t.nextPage, () => actions.goToPage(this.page + 1)),
    );

    // The zoom level, and presets to pick from (fit width, fit page, fixed levels).
    this.zoomCurrent = h("option", { value: "current", hidden: true }, "100%");
    this.zoomLabel = h(
      "select",
      { class: "quire-zoom-label", "aria-label": t.zoom, title: t.zoom },
      this.zoomCurrent,
      h("option", { value: "fit-width" }, t.fitWidth),
      h("option", { value: "fit-page" }, t.fitPage),
      ...ZOOM_PRESETS.map((z) => h("option", { value: String(z) }, `${Math.round(z * 100)}%`)),
    );
    this.zoomLabel.addEventListener("change", () => {
      const v = this.zoomLabel.value;
      if (v === "fit-width") actions.fitWidth();
      else if (v === "fit-page") actions.fitPage();
      else if (v !== "current") actions.setZoom(Number(v));
      this.zoomLabel.value = "current";
    });
    const zoom = h(
      "div",
      { class: "quire-group quire-zoom" },
      button("zoom-out", "zoomOut", t.zoomOut, () => actions.zoomOut()),
      this.zoomLabel,
      button("zoom-in", "zoomIn", t.zoomIn, () => actions.zoomIn()),
      button("fit-width", "fitWidth", t.fitWidth, () => actions.fitWidth()),
    );

    let edit: HTMLElement | null = null;
    if (canEdit) {
      const tool = (which: Tool, title: string) => {
        const b = h("button", { type: "button", class: "quire-tool", "data-tool": which, title, "aria-label": title, "aria-pressed": "false" }, icon(which));
        b.addEventListener("click", () => actions.setTool(which));
        // Pressing a tool must not clear a text selection made before (select, then Highlight).
        b.addEventListener("mousedown", (e) => e.preventDefault());
        this.tools.set(which, b);
        return b;
      };
      const colors = h("div", { class: "quire-colors", role: "group", "aria-label": t.colours });
      for (const color of COLORS) {
        const sw = h("button", { type: "button", class: "quire-swatch", "data-color": color, title: color, "aria-label": t.colour(color) });
        sw.style.setProperty("--swatch", color);
        sw.addEventListener("click", () => actions.setColor(color));
        this.swatches.push(sw);
        colors.append(sw);
      }
      this.stylePanel = new StylePanel((patch) => actions.setStyle(patch), t);
      colors.append(this.stylePanel.el);
      // Less frequent tools in a menu, so the toolbar keeps one row on common widths.
      const menu = h("div", { class: "quire-menu-panel", role: "menu", "aria-label": t.moreTools, hidden: true });
      const moreButton = h(
        "button",
        { type: "button", class: "quire-tool", "data-action": "more-tools", title: t.moreTools, "aria-label": t.moreTools, "aria-haspopup": "menu", "aria-expanded": "false" },
        icon("more"),
      );
      const setMenu = (open: boolean) => {
        menu.hidden = !open;
        moreButton.setAttribute("aria-expanded", String(open));
      };
      moreButton.addEventListener("click", () => setMenu(menu.hidden));
      const entry = (label: string, glyph: IconName, run: () => void, data: Record<string, string>) => {
        const b = h("button", { type: "button", role: "menuitem", class: "quire-menu-item", ...data }, icon(glyph), h("span", {}, label));
        b.addEventListener("click", () => {
          run();
          setMenu(false);
        });
        menu.append(b);
        return b;
      };
      this.tools.set("polygon", entry(t.polygon, "polygon", () => actions.setTool("polygon"), { "data-tool": "polygon" }));
      this.tools.set("polyline", entry(t.polyline, "polyline", () => actions.setTool("polyline"), { "data-tool": "polyline" }));
      for (const stamp of Object.keys(STAMPS)) entry(t.stamp(stamp), "stamp", () => actions.setStamp(stamp), { "data-stamp": stamp });
      // An image stamp: the entry opens the file picker; the chosen file arms the stamp tool.
      const picker = h("input", { type: "file", accept: "image/png,image/jpeg", hidden: true, "data-input": "image-stamp", "aria-label": t.imageStamp });
      picker.addEventListener("change", () => {
        const file = picker.files?.[0];
        if (file) actions.setImageStamp(file);
        picker.value = "";
      });
      entry(t.imageStamp, "image", () => picker.click(), { "data-stamp-image": "" });
      menu.append(picker);
      menu.addEventListener("keydown", (e) => {
        if (e.key === "Escape") setMenu(false);
      });
      this.moreTools = moreButton;
      const more = h("div", { class: "quire-menu" }, moreButton, menu);
      this.deleteButton = button("delete", "delete", t.deleteSelection, () => actions.deleteSelection());
      this.undoButton = button("undo", "undo", t.undo, () => actions.undo());
      this.redoButton = button("redo", "redo", t.redo, () => actions.redo());
      edit = h(
        "div",
        { class: "quire-group quire-tools", role: "toolbar", "aria-label": t.annotationTools },
        tool("select", t.select),
        ...EDIT_TOOLS.map((which) => tool(which, t[which])),
        more,
        colors,
        this.deleteButton,
        this.undoButton,
        this.redoButton,
      );
    }
    this.editGroup = edit;

    this.peers = h("div", { class: "quire-peers", role: "group", "aria-label": t.peers });
    this.connection = h(
      "span",
      { class: "quire-connection", "data-connection": "connecting", role: "status" },
      h("span", { class: "quire-connection-label" }, t.connecting),
    );
    const documentActions = h(
      "div",
      { class: "quire-group quire-document-actions" },
      button("find", "search", t.find, () => actions.find()),
      button("print", "print", t.print, () => actions.print()),
      actions.download ? button("download", "download", t.download, () => actions.download?.()) : null,
      actions.downloadAnnotated
        ? button("download-annotated", "downloadAnnotated", t.downloadAnnotated, () => actions.downloadAnnotated?.())
        : null,
      button("comments", "comments", t.comments, () => actions.toggleSidebar("comments")),
    );
    // The tools and the document actions. On wide viewers this wrapper takes no box of its own
    // (display: contents); at 768 px and narrower it is the pop-up of the toolbar menu button,
    // so the toolbar keeps one row on a phone.
    this.overflow = h("div", { class: "quire-overflow", id: `quire-overflow-${++overflowIds}` }, edit, documentActions);
    this.menuButton = h(
      "button",
      {
        type: "button",
        class: "quire-button quire-toolbar-menu",
        "data-action": "toolbar-menu",
        title: t.menu,
        "aria-label": t.menu,
        "aria-haspopup": "true",
        "aria-expanded": "false",
        "aria-controls": this.overflow.id,
      },
      icon("menu"),
    );
    this.menuButton.addEventListener("click", () => this.setMenu(!this.menuOpen(), false));
    this.menuButton.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" || ((e.key === "Enter" || e.key === " ") && !this.menuOpen())) {
        e.preventDefault();
        this.setMenu(true, true);
      }
    });
    this.overflow.addEventListener("keydown", (e) => {
      if (!this.menuOpen()) return;
      if (e.key === "Escape") {
        // The More tools menu inside closes first, on its own Escape.
        if (e.target instanceof Element && e.target.closest(".quire-menu-panel")) return;
        e.stopPropagation();
        this.setMenu(false, false);
        this.menuButton.focus();
      } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        this.moveFocus(e.key === "ArrowDown" ? 1 : -1);
      }
    });
    // Picking a tool or a document action closes the pop-up (colours, style, undo keep it open).
    this.overflow.addEventListener("click", (e) => {
      const target = e.target instanceof Element ? e.target.closest("button") : null;
      if (!target || !this.menuOpen()) return;
      if (target.matches('[data-tool], .quire-menu-item, .quire-document-actions button')) this.setMenu(false, false);
    });
    this.el = h("div", { class: "quire-toolbar" }, nav, zoom, h("div", { class: "quire-spacer" }), this.peers, this.connection, this.menuButton, this.overflow);
    this.el.ownerDocument.addEventListener("pointerdown", (e) => {
      if (this.menuOpen() && e.target instanceof Node && !this.overflow.contains(e.target) && !this.menuButton.contains(e.target)) this.setMenu(false, false);
    });
    this.setSelection(false, false);
    this.setHistory(false, false);
  }

  private menuOpen(): boolean {
    return this.menuButton.getAttribute("aria-expanded") === "true";
  }

  /** Opens or closes the narrow toolbar's pop-up; `focusFirst` when opened from the keyboard. */
  private setMenu(open: boolean, focusFirst: boolean): void {
    this.menuButton.setAttribute("aria-expanded", String(open));
    this.overflow.toggleAttribute("data-open", open);
    if (open && focusFirst) this.focusables()[0]?.focus();
  }

  /** The pop-up's controls a person can reach, in order. */
  private focusables(): HTMLElement[] {
    return [...this.overflow.querySelectorAll<HTMLElement>("button, input, select")].filter((el) => !(el as HTMLButtonElement).disabled && el.getClientRects().length > 0);
  }

  private moveFocus(by: number): void {
    const items = this.focusables();
    if (items.length === 0) return;
    const at = items.indexOf(this.el.ownerDocument.activeElement as HTMLElement);
    items[(at + by + items.length) % items.length]?.focus();
  }

  setPage(index: number): void {
    this.page = index;
    this.pageInput.value = String(index + 1);
  }

  setZoom(zoom: number): void {
    this.zoomCurrent.textContent = `${Math.round(zoom * 100)}%`;
    this.zoomLabel.value = "current";
  }

  setTool(tool: Tool): void {
    for (const [t, b] of this.tools) if (b.getAttribute("role") !== "menuitem") b.setAttribute("aria-pressed", String(t === tool));
    // The menu's button shows that one of its tools is in use.
    this.moreTools?.setAttribute("aria-pressed", String(tool === "polygon" || tool === "polyline" || tool === "stamp"));
  }

  setColor(color: string): void {
    for (const sw of this.swatches) sw.setAttribute("aria-pressed", String(sw.dataset.color === color));
    this.stylePanel?.setColor(color);
  }

  setSelection(editable: boolean, deletable: boolean): void {
    if (this.deleteButton) this.deleteButton.disabled = !deletable;
    for (const sw of this.swatches) sw.classList.toggle("quire-recolor", editable);
  }

  setHistory(canUndo: boolean, canRedo: boolean): void {
    if (this.undoButton) this.undoButton.disabled = !canUndo;
    if (this.redoButton) this.redoButton.disabled = !canRedo;
  }

  /** Removes the editing tools (the session ended, or rights were lost). */
  disableEditing(): void {
    this.editGroup?.remove();
    this.tools.clear();
  }

  setConnection(state: ConnectionState): void {
    this.connection.dataset.connection = state;
    this.connection.replaceChildren(h("span", { class: "quire-connection-label" }, this.t[state]));
  }

  /** Shows the other sessions: a chip per user, with the page they are on. */
  setPeers(peers: PresenceSession[]): void {
    const byUser = new Map<string, PresenceSession>();
    for (const p of peers) byUser.set(p.user_id, p);
    this.peers.replaceChildren(
      ...[...byUser.values()].map((p) => {
        const name = p.user_name ?? p.user_id;
        const page = pageOf(p);
        const chip = h(
          "span",
          { class: "quire-peer", "data-user-id": p.user_id, "data-page-index": page, title: page === null ? name : this.t.peerOnPage(name, page + 1) },
          h("span", { class: "quire-avatar" }, initials(name)),
          h("span", { class: "quire-peer-name" }, name),
          page === null ? null : h("span", { class: "quire-peer-page" }, this.t.peerPage(page + 1)),
        );
        chip.style.setProperty("--peer-color", colorFor(p.user_id));
        return chip;
      }),
    );
  }
}

/** The page a peer reported in its presence state, if any. */
export function pageOf(p: PresenceSession): number | null {
  const state = p.state;
  if (state && typeof state === "object" && !Array.isArray(state) && typeof state.page === "number") return state.page;
  return null;
}
