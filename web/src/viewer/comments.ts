/**
 * The comments sidebar: one thread per annotation that has comments (comment records point
 * at their thread's root annotation with `rootId`), ordered by position in the document, with
 * a reply box and resolve/reopen. Selecting an annotation without comments offers to start a
 * thread on it.
 *
 * Resolved state lives in the root annotation's `customData.resolved` (with `resolvedBy` and
 * `resolvedAt`), so resolving needs the right to edit that annotation.
 *
 * Thread elements are kept across updates (only their comment lists are redrawn) so that a
 * reply being typed survives other people's changes arriving.
 */
import type { Rights } from "../client/rights";
import type { QuireRecord } from "../client/types";
import { AnnotationList } from "./annotation-list";
import { splitMentions, type KnownUser } from "./mentions";
import { isResolved, textOf, TYPES, typeLabel } from "./annotations";
import { formatTime, h } from "./dom";
import { bboxOf } from "./geometry";
import { colorFor } from "./presence-colors";
import { EN_SIDEBAR, type SidebarStrings } from "./strings";

export interface CommentActions {
  comment(rootId: string, text: string): void;
  setResolved(rootId: string, resolved: boolean): void;
  deleteComment(id: string): void;
  /** Selects the root annotation and scrolls to it. */
  focus(rootId: string): void;
  /** The document's users, for highlighting `@mentions`. */
  users(): KnownUser[];
}

class ThreadView {
  readonly el: HTMLElement;
  private readonly title: HTMLButtonElement;
  private readonly resolveButton: HTMLButtonElement;
  private readonly list: HTMLOListElement;
  private readonly form: HTMLFormElement;
  /** A sticky note's own text (notes are listed even without comments). */
  private readonly noteText: HTMLParagraphElement;
  private root: QuireRecord;

  constructor(
    root: QuireRecord,
    private readonly rights: Rights,
    private readonly actions: CommentActions,
    private readonly t: SidebarStrings,
  ) {
    this.root = root;
    this.title = h("button", { type: "button", class: "quire-thread-title" });
    this.title.addEventListener("click", () => actions.focus(this.root.id));
    this.resolveButton = h("button", { type: "button", class: "quire-button", "data-action": "resolve" });
    this.resolveButton.addEventListener("click", () => actions.setResolved(this.root.id, !isResolved(this.root.content)));
    this.list = h("ol", { class: "quire-comment-list" });
    this.form = replyForm("reply", this.t.replyPlaceholder, this.t.reply, (text) => actions.comment(this.root.id, text));
    this.noteText = h("p", { class: "quire-thread-note" });
    this.el = h(
      "li",
      { class: "quire-thread", "data-root-id": root.id },
      h("div", { class: "quire-thread-head" }, this.title, this.resolveButton),
      this.noteText,
      this.list,
      this.form,
    );
  }

  update(root: QuireRecord, comments: QuireRecord[], selected: boolean): void {
    this.root = root;
    const resolved = isResolved(root.content);
    const page = typeof root.content.pageIndex === "number" ? root.content.pageIndex + 1 : null;
    this.title.textContent = this.t.threadTitle(typeLabel(root.content.type, this.t), page);
    const isNote = root.content.type === TYPES.note;
    this.noteText.hidden = !isNote;
    if (isNote) this.noteText.textContent = this.t.noteText(root.creator_name ?? root.creator, textOf(root.content));
    this.el.classList.toggle("quire-selected", selected);
    this.el.toggleAttribute("data-resolved", resolved);
    this.resolveButton.textContent = resolved ? this.t.reopen : this.t.resolve;
    this.resolveButton.hidden = !this.rights.canEdit(root);
    this.form.hidden = !this.rights.canReply(root);
    this.list.replaceChildren(...comments.map((c) => this.renderComment(c)));
  }

  private renderComment(c: QuireRecord): HTMLElement {
    const name = c.creator_name ?? c.creator;
    const created = typeof c.content.createdAt === "string" ? c.content.createdAt : c.created_at;
    const author = h("span", { class: "quire-comment-author" }, name);
    author.style.color = colorFor(c.creator);
    const item = h(
      "li",
      { class: "quire-comment", "data-record-id": c.id, "data-kind": "comment", "data-type": "pspdfkit/comment" },
      h("div", { class: "quire-comment-head" }, author, h("time", { datetime: created }, formatTime(created))),
      h(
        "p",
        { class: "quire-comment-text" },
        ...splitMentions(textOf(c.content), this.actions.users()).map((seg) =>
          seg.user_id ? h("mark", { class: "quire-mention", "data-user-id": seg.user_id }, seg.text) : seg.text,
        ),
      ),
    );
    if (c.rev === 0) item.classList.add("quire-pending");
    if (this.rights.canDelete(c)) {
      const del = h("button", { type: "button", class: "quire-link-button", "data-action": "delete-comment", title: this.t.deleteComment }, this.t.delete);
      del.addEventListener("click", () => this.actions.deleteComment(c.id));
      item.querySelector(".quire-comment-head")?.append(del);
    }
    return item;
  }
}

export class CommentsPanel {
  readonly el: HTMLElement;
  private readonly threads = new Map<string, ThreadView>();
  private readonly list: HTMLUListElement;
  private readonly empty: HTMLParagraphElement;
  private readonly newThread: HTMLElement;
  private readonly newThreadLabel: HTMLElement;
  private newThreadRoot: string | null = null;
  private readonly annotations: AnnotationList;

  constructor(
    private readonly rights: Rights,
    private readonly actions: CommentActions,
    private readonly t: SidebarStrings = EN_SIDEBAR,
  ) {
    this.list = h("ul", { class: "quire-threads" });
    this.empty = h("p", { class: "quire-empty" }, t.noComments);
    this.newThreadLabel = h("div", { class: "quire-new-thread-label" });
    const form = replyForm("new-comment", t.addComment, t.comment, (text) => {
      if (this.newThreadRoot) actions.comment(this.newThreadRoot, text);
    });
    this.newThread = h("div", { class: "quire-new-thread", hidden: true }, this.newThreadLabel, form);
    this.annotations = new AnnotationList((id) => actions.focus(id), t);
    const commentsPanel = h("div", { class: "quire-tab-panel", id: "quire-tab-comments", role: "tabpanel" }, this.newThread, this.list, this.empty);
    const annotationsPanel = h("div", { class: "quire-tab-panel", id: "quire-tab-annotations", role: "tabpanel", hidden: true }, this.annotations.el);
    const tab = (name: string, label: string, panel: HTMLElement, selected: boolean) => {
      const b = h("button", { type: "button", role: "tab", class: "quire-tab", "data-tab": name, "aria-selected": String(selected), "aria-controls": panel.id }, label);
      b.addEventListener("click", () => {
        for (const other of tabs.querySelectorAll("[role=tab]")) other.setAttribute("aria-selected", String(other === b));
        commentsPanel.hidden = panel !== commentsPanel;
        annotationsPanel.hidden = panel !== annotationsPanel;
      });
      return b;
    };
    const tabs = h("div", { class: "quire-tabs", role: "tablist", "aria-label": t.sidebar });
    tabs.append(tab("comments", t.commentsTab, commentsPanel, true), tab("annotations", t.annotationsTab, annotationsPanel, false));
    this.el = h("aside", { class: "quire-sidebar quire-comments", "aria-label": t.commentsAndAnnotations }, tabs, commentsPanel, annotationsPanel);
  }

  /** Redraws from the current records and selection. */
  update(records: QuireRecord[], selectedId: string | null): void {
    this.annotations.update(records, selectedId);
    const annotations = new Map<string, QuireRecord>();
    const byRoot = new Map<string, QuireRecord[]>();
    for (const r of records) {
      if (r.kind === "annotation") annotations.set(r.id, r);
      const rootId = r.kind === "comment" ? r.content.rootId : undefined;
      if (typeof rootId === "string") byRoot.set(rootId, [...(byRoot.get(rootId) ?? []), r]);
    }
    // Sticky notes are listed with their text even before anyone comments on them.
    for (const r of annotations.values()) if (r.content.type === TYPES.note && !byRoot.has(r.id)) byRoot.set(r.id, []);
    const roots = [...byRoot.keys()].map((id) => annotations.get(id)).filter((r): r is QuireRecord => !!r);
    roots.sort(documentOrder);

    for (const [id, view] of this.threads) {
      if (!byRoot.has(id) || !annotations.has(id)) {
        view.el.remove();
        this.threads.delete(id);
      }
    }
    for (const root of roots) {
      let view = this.threads.get(root.id);
      if (!view) this.threads.set(root.id, (view = new ThreadView(root, this.rights, this.actions, this.t)));
      const comments = (byRoot.get(root.id) ?? []).sort((a, b) => created(a).localeCompare(created(b)));
      view.update(root, comments, root.id === selectedId);
    }
    // Reorder only when needed: moving an element would take the focus from its reply box.
    const wanted = roots.map((r) => this.threads.get(r.id)!.el);
    if (wanted.some((el, i) => this.list.children[i] !== el)) this.list.replaceChildren(...wanted);
    this.empty.hidden = roots.length > 0;

    const selected = selectedId ? annotations.get(selectedId) : undefined;
    const offer = selected && !this.threads.has(selected.id) && this.rights.canReply(selected) ? selected : null;
    this.newThread.hidden = !offer;
    if (offer && offer.id !== this.newThreadRoot) {
      this.newThread.querySelector("textarea")!.value = "";
    }
    this.newThreadRoot = offer?.id ?? null;
    if (offer) this.newThreadLabel.textContent = this.t.commentOn(typeLabel(offer.content.type, this.t));
  }

  /** Puts the cursor in the new-thread box (after creating a note, say). */
  focusNewThread(): void {
    if (!this.newThread.hidden) this.newThread.querySelector("textarea")?.focus();
  }
}

/** A textarea with a submit button; Ctrl/Cmd+Enter submits too. */
function replyForm(input: string, placeholder: string, label: string, submit: (text: string) => void): HTMLFormElement {
  const textarea = h("textarea", { "data-input": input, rows: 2, placeholder, "aria-label": placeholder });
  const button = h("button", { type: "submit", class: "quire-button quire-primary", "data-action": input === "reply" ? "reply" : "add-comment" }, label);
  const form = h("form", { class: "quire-reply" }, textarea, button);
  const send = () => {
    const text = textarea.value.trim();
    if (!text) return;
    submit(text);
    textarea.value = "";
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      send();
    }
  });
  return form;
}

function created(r: QuireRecord): string {
  return typeof r.content.createdAt === "string" ? r.content.createdAt : r.created_at;
}

/** Page first, then top to bottom, then left to right. */
function documentOrder(a: QuireRecord, b: QuireRecord): number {
  const pa = typeof a.content.pageIndex === "number" ? a.content.pageIndex : 0;
  const pb = typeof b.content.pageIndex === "number" ? b.content.pageIndex : 0;
  const ba = bboxOf(a.content) ?? [0, 0, 0, 0];
  const bb = bboxOf(b.content) ?? [0, 0, 0, 0];
  return pa - pb || ba[1] - bb[1] || ba[0] - bb[0];
}
