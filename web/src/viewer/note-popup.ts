/**
 * The pop-up that shows a sticky note's text when the note is selected (clicked or tapped), so
 * that everyone can read it, on touch screens too (an SVG title is only a mouse hover tooltip).
 * Its author, and whoever the rights allow, gets an Edit button that opens the in-place editor.
 */
import type { QuireRecord } from "../client/types";
import { textOf, TYPES } from "./annotations";
import { formatTime, h } from "./dom";
import { bboxOf, mapRect } from "./geometry";
import type { PageOverlay } from "./overlay";
import { EN_POPUPS, type PopupStrings } from "./strings";

/** The pop-up's width in pixels (kept inside the page). */
const WIDTH = 240;

export class NotePopup {
  private el: HTMLElement | null = null;

  constructor(private readonly t: PopupStrings = EN_POPUPS) {}

  /** Shows the note's pop-up on its page, or hides it when `record` is not a note. */
  show(record: QuireRecord | null, overlay: PageOverlay | undefined, canEdit: boolean, edit: (id: string) => void): void {
    this.hide();
    const bbox = record && bboxOf(record.content);
    if (!record || !overlay || !bbox || record.content.type !== TYPES.note) return;
    const [x, y, , hgt] = mapRect(overlay.transform, bbox);
    const pageWidth = overlay.page.width;
    const created = typeof record.content.createdAt === "string" ? record.content.createdAt : record.created_at;
    const el = h(
      "div",
      { class: "quire-note-popup", role: "dialog", "aria-label": this.t.note, "data-record-id-popup": record.id },
      h("div", { class: "quire-note-popup-head" }, h("strong", {}, record.creator_name ?? record.creator), h("time", { datetime: created }, formatTime(created))),
      h("p", { class: "quire-note-popup-text" }, textOf(record.content) || this.t.emptyNote),
    );
    if (canEdit) {
      const button = h("button", { type: "button", class: "quire-button", "data-action": "edit-note" }, this.t.editNote);
      button.addEventListener("click", () => edit(record.id));
      el.append(button);
    }
    // Stop presses inside the pop-up from starting a gesture on the page below it.
    el.addEventListener("pointerdown", (e) => e.stopPropagation());
    el.style.left = `${Math.max(0, Math.min(x, pageWidth - WIDTH))}px`;
    el.style.top = `${y + hgt + 6}px`;
    el.style.width = `${WIDTH}px`;
    overlay.page.div.append(el);
    this.el = el;
  }

  hide(): void {
    this.el?.remove();
    this.el = null;
  }
}
