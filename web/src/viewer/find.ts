/**
 * Find in document: a bar with a search box, previous/next and "n of m". Page texts are read
 * on demand (PDF.js `getTextContent`, so a search fetches the pages it reads) and cached; the
 * current match's page is scrolled into view and, once its text layer is drawn, the spans
 * holding matches are marked (the current one more strongly). Enter / Shift+Enter step,
 * Escape closes.
 */
import type { PDFDocumentProxy } from "pdfjs-dist";
import { h } from "./dom";
import { findInPieces, normalize, pageMatches, step, type Match } from "./find-text";
import { icon } from "./icons";
import { EN_TOOLBAR, type ToolbarStrings } from "./strings";

export interface FindHost {
  goToPage(index: number): void;
  /** Resolves once the page's text layer is on screen. */
  ensureRendered(index: number): Promise<void>;
  pageDiv(index: number): HTMLElement | undefined;
}

export class FindBar {
  readonly el: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly count: HTMLElement;
  private readonly texts = new Map<number, string[]>();
  private matches: Match[] = [];
  private current = -1;
  private query = "";
  private searchRun = 0;

  constructor(
    private readonly doc: PDFDocumentProxy,
    private readonly host: FindHost,
    private readonly t: ToolbarStrings = EN_TOOLBAR,
  ) {
    this.input = h("input", { type: "search", class: "quire-find-input", "aria-label": t.findInput, placeholder: t.findInput });
    this.count = h("span", { class: "quire-find-count", role: "status", "aria-live": "polite" });
    const button = (action: string, label: string, glyph: "prev" | "next", onClick: () => void) => {
      const b = h("button", { type: "button", class: "quire-button", "data-action": action, title: label, "aria-label": label }, icon(glyph));
      b.addEventListener("click", onClick);
      return b;
    };
    const close = h("button", { type: "button", class: "quire-button", "data-action": "find-close", title: t.close, "aria-label": t.findClose }, "×");
    close.addEventListener("click", () => this.close());
    this.el = h(
      "div",
      { class: "quire-find", role: "search", hidden: true },
      this.input,
      this.count,
      button("find-previous", t.findPrevious, "prev", () => void this.go(false)),
      button("find-next", t.findNext, "next", () => void this.go(true)),
      close,
    );
    this.input.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") {
        e.preventDefault();
        void this.go(!e.shiftKey);
      } else if (e.key === "Escape") {
        this.close();
      }
    });
  }

  open(): void {
    this.el.hidden = false;
    this.input.focus();
    this.input.select();
  }

  close(): void {
    this.el.hidden = true;
    this.clearMarks();
    this.query = "";
    this.matches = [];
    this.current = -1;
  }

  /** Steps to the next (or previous) match, searching first if the query changed. */
  private async go(forward: boolean): Promise<void> {
    const query = normalize(this.input.value).trim();
    if (query !== this.query) await this.search(query);
    if (query !== this.query) return; // a newer search took over
    this.current = step(this.current, this.matches.length, forward);
    this.showCount();
    await this.show();
  }

  private async search(query: string): Promise<void> {
    const run = ++this.searchRun;
    this.query = query;
    this.matches = [];
    this.current = -1;
    this.clearMarks();
    this.count.textContent = query ? this.t.searching : "";
    for (let page = 0; page < this.doc.numPages && query; page++) {
      const items = await this.pageText(page);
      if (run !== this.searchRun) return;
      this.matches.push(...pageMatches(page, items, query));
    }
    this.showCount();
  }

  private showCount(): void {
    if (!this.query) this.count.textContent = "";
    else if (this.matches.length === 0) this.count.textContent = this.t.noMatches;
    else this.count.textContent = this.t.matchOf(Math.max(0, this.current) + 1, this.matches.length);
    this.el.dataset.matches = String(this.matches.length);
  }

  private async pageText(page: number): Promise<string[]> {
    const cached = this.texts.get(page);
    if (cached) return cached;
    const content = await (await this.doc.getPage(page + 1)).getTextContent();
    // The pieces the text layer draws: a span per non-empty string, a line break after an end of line.
    const items = content.items.map((item) => ("str" in item ? item.str + (item.hasEOL ? "\n" : "") : ""));
    this.texts.set(page, items);
    return items;
  }

  /** Scrolls to the current match and marks the matching spans on its page. */
  private async show(): Promise<void> {
    const match = this.matches[this.current];
    if (!match) return;
    this.host.goToPage(match.page);
    await this.host.ensureRendered(match.page);
    this.clearMarks();
    const div = this.host.pageDiv(match.page);
    const spans: HTMLElement[] = [];
    const pieces: string[] = [];
    for (const el of div?.querySelectorAll<HTMLElement>(".textLayer span, .textLayer br") ?? []) {
      if (el.tagName === "BR") {
        if (pieces.length > 0) pieces[pieces.length - 1] += "\n";
      } else if (el.children.length === 0) {
        // only the spans that hold text directly (not marked-content wrappers)
        spans.push(el);
        pieces.push(el.textContent ?? "");
      }
    }
    findInPieces(pieces, this.query).forEach((range, nth) => {
      for (let i = range.first; i <= range.last; i++) {
        spans[i].classList.add("quire-find-match");
        if (nth === match.nth) spans[i].classList.add("quire-find-current");
      }
      if (nth === match.nth) spans[range.first].scrollIntoView({ block: "center", inline: "nearest" });
    });
  }

  private clearMarks(): void {
    const root = this.el.ownerDocument;
    for (const el of root.querySelectorAll(".quire-find-match")) el.classList.remove("quire-find-match", "quire-find-current");
  }
}
