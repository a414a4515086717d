/**
 * The sidebar's "Annotations" tab: every annotation the user can see, grouped by page in
 * document order, with its kind, author and time, and a badge with the number of comments on
 * those that carry a thread. Clicking one selects it and scrolls to it.
 */
import type { QuireRecord } from "../client/types";
import { textOf, typeLabel } from "./annotations";
import { formatTime, h } from "./dom";
import { bboxOf } from "./geometry";
import { EN_SIDEBAR, type SidebarStrings } from "./strings";

export class AnnotationList {
  readonly el: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly empty: HTMLParagraphElement;

  constructor(
    private readonly focus: (id: string) => void,
    private readonly t: SidebarStrings = EN_SIDEBAR,
  ) {
    this.list = h("ol", { class: "quire-annotation-list" });
    this.empty = h("p", { class: "quire-empty" }, this.t.noAnnotations);
    this.el = h("div", { class: "quire-annotation-panel" }, this.list, this.empty);
  }

  update(records: QuireRecord[], selectedId: string | null): void {
    const comments = new Map<string, number>();
    for (const r of records) {
      if (r.kind === "comment" && typeof r.content.rootId === "string") comments.set(r.content.rootId, (comments.get(r.content.rootId) ?? 0) + 1);
    }
    const annotations = records.filter((r) => r.kind === "annotation" && typeof r.content.pageIndex === "number").sort(documentOrder);
    const items: HTMLElement[] = [];
    let page = -1;
    for (const r of annotations) {
      const p = r.content.pageIndex as number;
      if (p !== page) {
        page = p;
        items.push(h("li", { class: "quire-annotation-page", role: "presentation" }, this.t.pageHeading(p + 1)));
      }
      items.push(this.item(r, comments.get(r.id) ?? 0, r.id === selectedId));
    }
    this.list.replaceChildren(...items);
    this.empty.hidden = annotations.length > 0;
  }

  private item(r: QuireRecord, commentCount: number, selected: boolean): HTMLElement {
    const when = typeof r.content.updatedAt === "string" ? r.content.updatedAt : r.updated_at;
    const text = textOf(r.content);
    const button = h(
      "button",
      { type: "button", class: "quire-annotation-item", "data-annotation-id": r.id, "aria-current": selected ? "true" : null },
      h("span", { class: "quire-annotation-kind" }, typeLabel(r.content.type, this.t)),
      commentCount > 0 ? h("span", { class: "quire-badge", title: this.t.commentCount(commentCount), "aria-label": this.t.commentCount(commentCount) }, String(commentCount)) : null,
      h("span", { class: "quire-annotation-meta" }, this.t.annotationMeta(r.creator_name ?? r.creator, formatTime(when))),
      text ? h("span", { class: "quire-annotation-text" }, text) : null,
    );
    button.addEventListener("click", () => this.focus(r.id));
    return h("li", {}, button);
  }
}

/** Page first, then top to bottom, then left to right. */
function documentOrder(a: QuireRecord, b: QuireRecord): number {
  const ba = bboxOf(a.content) ?? [0, 0, 0, 0];
  const bb = bboxOf(b.content) ?? [0, 0, 0, 0];
  return (a.content.pageIndex as number) - (b.content.pageIndex as number) || ba[1] - bb[1] || ba[0] - bb[0];
}
