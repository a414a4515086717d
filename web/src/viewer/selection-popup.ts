/**
 * The bar that appears over a finished text selection on a page (with the Select tool), as in
 * commercial viewers: Highlight, Underline, Comment (highlight and open its thread) and Copy.
 * It goes away when the selection does, on scroll, or after an action.
 */
import { h } from "./dom";
import { EN_POPUPS, type PopupStrings } from "./strings";

export interface SelectionActions {
  /** Whether the user may annotate (else only Copy is offered). */
  canAnnotate(): boolean;
  highlight(): void;
  underline(): void;
  comment(): void;
}

export class SelectionPopup {
  readonly el: HTMLElement;
  private readonly markButtons: HTMLButtonElement[];
  private readonly abort = new AbortController();

  constructor(
    private readonly root: HTMLElement,
    private readonly surface: HTMLElement,
    actions: SelectionActions,
    isSelectTool: () => boolean,
    t: PopupStrings = EN_POPUPS,
  ) {
    const button = (action: string, label: string, run: () => void) => {
      const b = h("button", { type: "button", class: "quire-button", "data-action": action }, label);
      // Keep the selection: pressing a button must not clear it before the action reads it.
      b.addEventListener("mousedown", (e) => e.preventDefault());
      b.addEventListener("click", () => {
        run();
        this.hide();
      });
      return b;
    };
    this.markButtons = [
      button("selection-highlight", t.highlight, () => actions.highlight()),
      button("selection-underline", t.underline, () => actions.underline()),
      button("selection-comment", t.comment, () => actions.comment()),
    ];
    this.el = h(
      "div",
      { class: "quire-selection-popup", role: "toolbar", "aria-label": t.selectedText, hidden: true },
      ...this.markButtons,
      button("selection-copy", t.copy, () => void this.copy()),
    );
    this.el.addEventListener("pointerdown", (e) => e.stopPropagation());
    root.append(this.el);
    const doc = root.ownerDocument;
    const opts = { signal: this.abort.signal };
    doc.addEventListener(
      "pointerup",
      () => {
        // After the browser has finished the selection.
        setTimeout(() => (isSelectTool() ? this.showForSelection(actions.canAnnotate()) : this.hide()), 0);
      },
      opts,
    );
    doc.addEventListener(
      "selectionchange",
      () => {
        if (doc.getSelection()?.isCollapsed) this.hide();
      },
      opts,
    );
    surface.addEventListener("scroll", () => this.hide(), { ...opts, passive: true });
  }

  private showForSelection(canAnnotate: boolean): void {
    const selection = this.root.ownerDocument.getSelection();
    if (!selection || selection.isCollapsed || selection.rangeCount === 0) return this.hide();
    const range = selection.getRangeAt(selection.rangeCount - 1);
    const container = range.commonAncestorContainer;
    const element = container instanceof Element ? container : container.parentElement;
    if (!element?.closest(".quire-page") || !this.surface.contains(element)) return this.hide();
    const rects = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
    const last = rects.at(-1);
    if (!last) return this.hide();
    for (const b of this.markButtons) b.hidden = !canAnnotate;
    this.el.hidden = false;
    const box = this.root.getBoundingClientRect();
    const width = this.el.offsetWidth;
    const left = Math.max(4, Math.min(last.right - box.left - width / 2, box.width - width - 4));
    let top = last.bottom - box.top + 8;
    if (top + this.el.offsetHeight > box.height) top = rects[0].top - box.top - this.el.offsetHeight - 8;
    this.el.style.left = `${left}px`;
    this.el.style.top = `${Math.max(4, top)}px`;
  }

  hide(): void {
    this.el.hidden = true;
  }

  private async copy(): Promise<void> {
    const text = this.root.ownerDocument.getSelection()?.toString() ?? "";
    if (!text) return;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard API (plain HTTP): the browser's own copy of the live selection.
      this.root.ownerDocument.execCommand("copy");
    }
  }

  destroy(): void {
    this.abort.abort();
    this.el.remove();
  }
}
