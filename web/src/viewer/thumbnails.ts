/**
 * The page thumbnails sidebar: a small rendering of each page (drawn when scrolled into
 * view), the current page marked, and a dot for each other user on that page.
 */
import type { PDFDocumentProxy, PDFPageProxy } from "pdfjs-dist";
import type { PresenceSession } from "../client/types";
import { h } from "./dom";
import { colorFor } from "./presence-colors";
import { pageOf } from "./toolbar";

const THUMB_WIDTH = 96;

export class Thumbnails {
  readonly el: HTMLElement;
  private readonly items: HTMLButtonElement[] = [];
  private readonly observer: IntersectionObserver;
  private readonly drawn = new Set<number>();

  /**
   * Pages are fetched only when their thumbnail is drawn; until then each takes the first
   * page's shape. Nothing is drawn before `start` (called once the first page is on screen).
   */
  constructor(
    private readonly doc: PDFDocumentProxy,
    first: PDFPageProxy,
    onSelect: (index: number) => void,
  ) {
    this.el = h("nav", { class: "quire-sidebar quire-thumbnails", "aria-label": "Pages" });
    const vp = first.getViewport({ scale: 1 });
    for (let i = 0; i < doc.numPages; i++) {
      const holder = h("div", { class: "quire-thumb-image" });
      holder.style.aspectRatio = `${vp.width} / ${vp.height}`;
      const item = h(
        "button",
        { type: "button", class: "quire-thumb", "data-page-index": i, "aria-label": `Page ${i + 1}` },
        holder,
        h("span", { class: "quire-thumb-label" }, String(i + 1)),
        h("span", { class: "quire-thumb-peers" }),
      );
      item.addEventListener("click", () => onSelect(i));
      this.items.push(item);
      this.el.append(item);
    }
    this.observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting) void this.draw(Number((e.target as HTMLElement).dataset.pageIndex));
      }
    }, { root: this.el, rootMargin: "200px 0px" });
  }

  /** Starts drawing the thumbnails in view. */
  start(): void {
    for (const item of this.items) this.observer.observe(item);
  }

  setCurrent(index: number): void {
    for (const [i, item] of this.items.entries()) item.classList.toggle("quire-current", i === index);
    // Scroll only the sidebar (scrollIntoView would also scroll the embedding page).
    const item = this.items[index];
    if (!item) return;
    const top = item.offsetTop; // the sidebar is the items' offsetParent (position: relative)
    if (top < this.el.scrollTop) this.el.scrollTop = top;
    else if (top + item.offsetHeight > this.el.scrollTop + this.el.clientHeight) {
      this.el.scrollTop = top + item.offsetHeight - this.el.clientHeight;
    }
  }

  setPeers(peers: PresenceSession[]): void {
    for (const item of this.items) item.querySelector(".quire-thumb-peers")?.replaceChildren();
    for (const p of peers) {
      const page = pageOf(p);
      const slot = page === null ? null : this.items[page]?.querySelector(".quire-thumb-peers");
      if (!slot) continue;
      const dot = h("span", { class: "quire-thumb-peer", title: p.user_name ?? p.user_id, "data-user-id": p.user_id });
      dot.style.background = colorFor(p.user_id);
      slot.append(dot);
    }
  }

  destroy(): void {
    this.observer.disconnect();
  }

  private async draw(index: number): Promise<void> {
    if (this.drawn.has(index)) return;
    this.drawn.add(index);
    const holder = this.items[index].querySelector<HTMLElement>(".quire-thumb-image");
    let page: PDFPageProxy;
    try {
      page = await this.doc.getPage(index + 1);
    } catch (error) {
      this.drawn.delete(index);
      console.warn(`quire: thumbnail ${index + 1} failed`, error);
      return;
    }
    const base = page.getViewport({ scale: 1 });
    const viewport = page.getViewport({ scale: (THUMB_WIDTH * (globalThis.devicePixelRatio || 1)) / base.width });
    const canvas = h("canvas", { "aria-hidden": "true" });
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    try {
      await page.render({ canvas, viewport }).promise;
      if (holder) {
        holder.style.aspectRatio = `${base.width} / ${base.height}`;
        holder.replaceChildren(canvas);
      }
    } catch (error) {
      this.drawn.delete(index);
      console.warn(`quire: thumbnail ${index + 1} failed`, error);
    }
  }
}
