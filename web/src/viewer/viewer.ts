/**
 * The viewer: lays out toolbar, thumbnails, pages and comments; routes the client's events to
 * them; and is the one place where the user's edits become record changes (so that each one
 * is also recorded for undo). Gesture handling is in `interaction.ts`, drawing in `render.ts`
 * and `overlay.ts`.
 */
import type { PDFDocumentProxy, PDFPageProxy } from "pdfjs-dist";
import type { ClientEvents, QuireClient } from "../client/client";
import { Emitter } from "../client/events";
import type { Rights } from "../client/rights";
import type { JsonObject, QuireRecord, RecordKind, SessionUser } from "../client/types";
import { commentContent, isMarkupTool, withStyle, type StylePatch, isResizable, isResolved, withColor, withResolved, type Style } from "./annotations";
import { CommentsPanel } from "./comments";
import { h, isTypingTarget } from "./dom";
import { bboxOf, mapRect } from "./geometry";
import { History } from "./history";
import { Interaction, type InteractionHost } from "./interaction";
import { downloadOriginal, downloadWithAnnotations, pdfFileName, printDocument } from "./document-actions";
import { FindBar } from "./find";
import { Forms } from "./forms";
import { mentionedIds, type KnownUser } from "./mentions";
import { NotePopup } from "./note-popup";
import { PageOverlay } from "./overlay";
import { LinkService } from "./pdf/link-service";
import { PageList } from "./pdf/page-list";
import { SelectionPopup } from "./selection-popup";
import { ImageStampError, imageStampFromFile } from "./image-stamp";
import { EN, type Strings } from "./strings";
import { Thumbnails } from "./thumbnails";
import { COLORS, Toolbar, type Tool } from "./toolbar";

/** Below this width (CSS pixels) the comments panel is a drawer (see quire.css). */
const NARROW_WIDTH = 1100;

/** Events of a viewer instance (the client's, plus the UI's own). */
export interface ViewerEvents extends ClientEvents {
  page: { index: number };
  zoom: { zoom: number };
  selection: { id: string | null };
}

export class Viewer implements InteractionHost {
  readonly events = new Emitter<ViewerEvents>();
  readonly root: HTMLElement;
  readonly overlays: PageOverlay[];
  readonly pageList: PageList;
  tool: Tool = "select";
  private readonly toolbar: Toolbar;
  private readonly thumbnails: Thumbnails;
  private readonly comments: CommentsPanel;
  private readonly interaction: Interaction;
  private readonly history: History;
  private readonly toasts: HTMLElement;
  private readonly notePopup: NotePopup;
  private readonly findBar: FindBar;
  private readonly selectionPopup: SelectionPopup;
  private readonly forms: Forms;
  private readonly colors: Partial<Record<Tool, string>> = { highlight: COLORS[0], note: COLORS[0], squiggly: COLORS[1] };
  private defaultColor = COLORS[1];
  private lineWidth = 2;
  private fontSize = 14;
  /** The standard stamp the stamp tool places. */
  stampType = "Approved";
  /** The picture the stamp tool places instead, once the user picked one. */
  imageStamp: { dataUrl: string; width: number; height: number } | null = null;
  private opacity = 1;
  private fill: string | null = null;
  private selectedId: string | null = null;
  /** Which page's overlay draws each annotation (to move it when its pageIndex changes). */
  private readonly drawnOn = new Map<string, number>();
  private editable: boolean;
  private commentsRefresh = false;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly abort = new AbortController();

  constructor(
    private readonly container: HTMLElement,
    readonly client: QuireClient,
    readonly doc: PDFDocumentProxy,
    first: PDFPageProxy,
    private readonly strings: Strings = EN,
    /** Where the document came from, for downloading it (with the token in a header). */
    private readonly session: { baseUrl: string; token: string } | null = null,
  ) {
    this.editable = this.rights.canCreate("annotation");
    this.notePopup = new NotePopup(strings.popups);
    const links = new LinkService(doc, (i) => this.goToPage(i), () => this.pageList.currentPage);
    this.forms = new Forms(doc, {
      canFill: this.rights.canFillForms,
      records: () => client.getRecords(),
      create: (kind, content) => void this.create(kind, content),
      update: (id, content) => this.update(id, content),
    });
    const formLayer = { storage: doc.annotationStorage, prepare: (div: HTMLElement) => this.forms.prepare(div) };
    this.pageList = new PageList(doc, first, links, (i) => this.pageChanged(i), (z) => this.zoomChanged(z), formLayer);
    this.overlays = this.pageList.pages.map((p) => new PageOverlay(p));
    this.toolbar = new Toolbar(doc.numPages, this.editable, {
      goToPage: (i) => this.goToPage(i),
      zoomIn: () => this.pageList.zoomIn(),
      zoomOut: () => this.pageList.zoomOut(),
      fitWidth: () => this.pageList.fitWidth(),
      fitPage: () => this.pageList.fitPage(),
      setZoom: (z) => this.pageList.setZoom(z),
      setTool: (t) => this.setTool(t),
      setColor: (c) => this.setColor(c),
      setStyle: (patch) => this.setStyle(patch),
      setStamp: (stamp) => {
        this.stampType = stamp;
        this.imageStamp = null;
        this.setTool("stamp");
      },
      setImageStamp: (file) => void this.pickImageStamp(file),
      deleteSelection: () => this.deleteSelection(),
      undo: () => this.undo(),
      redo: () => this.redo(),
      toggleSidebar: (which) => this.root.classList.toggle(`quire-hide-${which}`),
      find: () => this.findBar.open(),
      print: () => void this.print(),
      download: this.rights.canDownload && this.session ? () => void this.download(false) : undefined,
      downloadAnnotated: this.rights.canDownload && this.session ? () => void this.download(true) : undefined,
    }, strings.toolbar);
    this.findBar = new FindBar(doc, {
      goToPage: (i) => this.goToPage(i),
      ensureRendered: (i) => this.pageList.ensureRendered(i),
      pageDiv: (i) => this.pageList.pages[i]?.div,
    }, strings.toolbar);
    this.thumbnails = new Thumbnails(doc, first, (i) => this.goToPage(i), strings.sidebar);
    this.comments = new CommentsPanel(this.rights, {
      comment: (rootId, text) => this.comment(rootId, text),
      setResolved: (rootId, resolved) => this.setResolved(rootId, resolved),
      deleteComment: (id) => this.delete(id),
      focus: (rootId) => this.focusRecord(rootId),
      users: () => this.knownUsers(),
    }, strings.sidebar);
    this.toasts = h("div", { class: "quire-toasts", role: "status", "aria-live": "polite" });
    this.root = h(
      "div",
      { class: "quire-root", "data-tool": this.tool, "data-connection": client.connectionState, "data-user-id": this.user.user_id },
      this.toolbar.el,
      this.findBar.el,
      h("div", { class: "quire-body" }, this.thumbnails.el, this.pageList.scroller, this.comments.el),
      this.toasts,
    );
    container.replaceChildren(this.root);
    // Narrow: the comments are a drawer, closed at first. Every width: open at fit-width.
    if (this.root.clientWidth < NARROW_WIDTH) this.root.classList.add("quire-hide-comments");
    this.pageList.fitWidth();
    this.history = new History({
      exists: (id) => client.getRecord(id) !== undefined,
      create: (kind, content, id) => client.create(kind, content, id),
      update: (id, content) => client.update(id, content),
      delete: (id) => client.delete(id),
    });
    this.interaction = new Interaction(this, this.pageList.scroller, strings.popups);
    this.selectionPopup = new SelectionPopup(
      this.root,
      this.pageList.scroller,
      {
        canAnnotate: () => this.editable,
        highlight: () => void this.interaction.markSelection("highlight"),
        underline: () => void this.interaction.markSelection("underline"),
        comment: () => {
          if (!this.interaction.markSelection("highlight")) return;
          this.root.classList.remove("quire-hide-comments");
          queueMicrotask(() => this.comments.focusNewThread());
        },
      },
      () => this.tool === "select",
      strings.popups,
    );
    this.listen();
    this.setTool("select");
    this.toolbar.setColor(this.style.color);
    this.toolbar.setConnection(client.connectionState);
    this.toolbar.setPeers(client.presence);
    this.thumbnails.setPeers(client.presence);
    this.thumbnails.setCurrent(0);
    this.applyRecords(client.getRecords(), []);
    this.client.setPresence({ page: 0 });
    this.root.addEventListener("change", (e) => this.forms.changed(e.target));
    // Thumbnails and form fields wait for the first page: on a large PDF they would fetch
    // other pages' bytes before it.
    void this.pageList.ensureRendered(this.pageList.currentPage).then(() => {
      this.thumbnails.start();
      return this.forms.init().then(() => this.forms.apply(client.getRecords(), this.root));
    });
  }

  get rights(): Rights {
    return this.client.rights;
  }

  get user(): SessionUser {
    return this.client.welcome!.user;
  }

  get style(): Style {
    return { color: this.colorFor(this.tool), lineWidth: this.lineWidth, fontSize: this.fontSize, opacity: this.opacity, fill: this.fill };
  }

  colorFor(tool: Tool): string {
    return this.colors[tool] ?? this.defaultColor;
  }

  // ---- records: every user edit goes through here -------------------------------------

  record(id: string): QuireRecord | undefined {
    return this.client.getRecord(id);
  }

  create(kind: RecordKind, content: JsonObject, id?: string): QuireRecord {
    const record = this.client.create(kind, content, id);
    this.history.record({ id: record.id, kind, before: null, after: record.content });
    this.historyChanged();
    return record;
  }

  update(id: string, content: JsonObject, base?: JsonObject): QuireRecord {
    const before = this.client.getRecord(id);
    const record = this.client.update(id, content, base);
    if (before) this.history.record({ id, kind: before.kind, before: before.content, after: record.content });
    this.historyChanged();
    return record;
  }

  delete(id: string): void {
    const before = this.client.getRecord(id);
    this.client.delete(id);
    if (before) this.history.record({ id, kind: before.kind, before: before.content, after: null });
    this.historyChanged();
  }

  canEdit(record: QuireRecord): boolean {
    return this.editable && this.rights.canEdit(record);
  }

  // ---- selection and tools -------------------------------------------------------------

  selected(): QuireRecord | null {
    return this.selectedId ? (this.client.getRecord(this.selectedId) ?? null) : null;
  }

  select(id: string | null): void {
    const record = id ? this.client.getRecord(id) : undefined;
    const next = record?.kind === "annotation" ? record.id : null;
    const changed = next !== this.selectedId;
    this.selectedId = next;
    this.showSelection();
    this.scheduleComments();
    if (changed) this.events.emit("selection", { id: next });
  }

  setTool(tool: Tool): void {
    if (!this.editable && tool !== "select") return;
    this.interaction.cancel();
    this.tool = tool;
    this.root.dataset.tool = tool;
    this.toolbar.setTool(tool);
    this.toolbar.setColor(this.style.color);
    if (tool !== "select") this.select(null);
    // Text selected first, then Highlight pressed: highlight it at once.
    if (isMarkupTool(tool)) this.interaction.maybeHighlight();
  }

  private setColor(color: string): void {
    if (this.tool === "select") this.defaultColor = color;
    else this.colors[this.tool] = color;
    this.toolbar.setColor(color);
    const selected = this.selected();
    if (selected && this.canEdit(selected)) this.update(selected.id, withColor(selected.content, color));
  }

  /** A change from the style panel: for what is drawn next, and the selection if editable. */
  private setStyle(patch: StylePatch): void {
    if (patch.color !== undefined) return this.setColor(patch.color);
    if (patch.lineWidth !== undefined) this.lineWidth = patch.lineWidth;
    if (patch.opacity !== undefined) this.opacity = patch.opacity;
    if (patch.fill !== undefined) this.fill = patch.fill;
    if (patch.fontSize !== undefined) this.fontSize = patch.fontSize;
    const selected = this.selected();
    if (selected && this.canEdit(selected)) this.update(selected.id, withStyle(selected.content, patch));
  }

  private showSelection(): void {
    const record = this.selected();
    const page = record && typeof record.content.pageIndex === "number" ? record.content.pageIndex : -1;
    for (const overlay of this.overlays) {
      overlay.select(overlay.pageIndex === page ? record : null, !!record && this.canEdit(record) && isResizable(record.content.type));
    }
    this.toolbar.setSelection(!!record && this.canEdit(record), !!record && this.editable && this.rights.canDelete(record));
    this.notePopup.show(record, page >= 0 ? this.overlays[page] : undefined, !!record && this.canEdit(record), (id) => this.interaction.editText(id));
  }

  private deleteSelection(): void {
    const record = this.selected();
    if (!record || !this.editable || !this.rights.canDelete(record)) return;
    this.delete(record.id);
    this.select(null);
  }

  private undo(): void {
    this.interaction.cancel();
    this.history.undo();
    this.historyChanged();
  }

  private redo(): void {
    this.history.redo();
    this.historyChanged();
  }

  private historyChanged(): void {
    this.toolbar.setHistory(this.history.canUndo, this.history.canRedo);
  }

  // ---- comments ------------------------------------------------------------------------

  private comment(rootId: string, text: string): void {
    const root = this.client.getRecord(rootId);
    const page = root && typeof root.content.pageIndex === "number" ? root.content.pageIndex : null;
    const content = commentContent(rootId, page, text, this.user);
    // Who is @mentioned, by user id (for notifications; the text keeps the names).
    const mentions = mentionedIds(text, this.knownUsers());
    if (mentions.length > 0) content.customData = { mentions };
    this.create("comment", content);
  }

  /** The document's users this viewer knows of: itself, who is here, who wrote something. */
  private knownUsers(): KnownUser[] {
    const users = new Map<string, string>();
    users.set(this.user.user_id, this.user.user_name ?? this.user.user_id);
    for (const p of this.client.presence) users.set(p.user_id, p.user_name ?? p.user_id);
    for (const r of this.client.getRecords()) if (!users.has(r.creator)) users.set(r.creator, r.creator_name ?? r.creator);
    return [...users].map(([user_id, name]) => ({ user_id, name }));
  }

  private setResolved(rootId: string, resolved: boolean): void {
    const root = this.client.getRecord(rootId);
    if (root && isResolved(root.content) !== resolved) this.update(rootId, withResolved(root.content, resolved, this.user));
  }

  /** Selects an annotation and scrolls it into view. */
  focusRecord(id: string): void {
    const record = this.client.getRecord(id);
    const page = record && typeof record.content.pageIndex === "number" ? record.content.pageIndex : null;
    const bbox = record && bboxOf(record.content);
    if (page === null || !bbox || !this.overlays[page]) return;
    const [, y] = mapRect(this.overlays[page].transform, bbox);
    const scroller = this.pageList.scroller;
    scroller.scrollTop = this.pageList.pages[page].div.offsetTop + y - scroller.clientHeight / 3;
    this.select(id);
  }

  private scheduleComments(): void {
    if (this.commentsRefresh) return;
    this.commentsRefresh = true;
    queueMicrotask(() => {
      this.commentsRefresh = false;
      const records = this.client.getRecords();
      this.comments.update(records, this.selectedId);
      const counts = new Map<string, number>();
      for (const r of records) {
        if (r.kind === "comment" && typeof r.content.rootId === "string") counts.set(r.content.rootId, (counts.get(r.content.rootId) ?? 0) + 1);
      }
      for (const r of records) {
        const page = this.drawnOn.get(r.id);
        if (page !== undefined) this.overlays[page].setCommented(r.id, counts.get(r.id) ?? 0, isResolved(r.content));
      }
    });
  }

  // ---- navigation ----------------------------------------------------------------------

  goToPage(index: number): void {
    this.pageList.goToPage(index);
  }

  private pageChanged(index: number): void {
    this.toolbar.setPage(index);
    this.thumbnails.setCurrent(index);
    this.client.setPresence({ page: index });
    this.events.emit("page", { index });
  }

  private zoomChanged(zoom: number): void {
    for (const overlay of this.overlays) overlay.layout();
    this.toolbar.setZoom(zoom);
    this.events.emit("zoom", { zoom });
  }

  // ---- client events -------------------------------------------------------------------

  private listen(): void {
    const c = this.client;
    this.unsubscribe.push(
      c.on("records", (e) => {
        this.applyRecords(e.changed, e.removed);
        this.events.emit("records", e);
      }),
      c.on("presence", (e) => {
        this.toolbar.setPeers(e.peers);
        this.thumbnails.setPeers(e.peers);
        this.events.emit("presence", e);
      }),
      c.on("connection", (e) => {
        this.root.dataset.connection = e.state;
        this.toolbar.setConnection(e.state);
        this.events.emit("connection", e);
      }),
      c.on("rejected", (e) => {
        // The code and the server's words are for developers; the toast is for people.
        console.warn(`quire: change ${e.change.op} ${e.change.kind} ${e.change.id} rejected (${e.code}): ${e.message}`);
        if (e.resolution === "rolled_back") this.toast(this.strings.changeUndone(this.rejectionText(e.code, e.change)));
        else if (e.resolution === "rebased") this.toast(this.strings.changeRebased);
        this.events.emit("rejected", e);
      }),
      c.on("sessionClosed", (e) => {
        this.sessionEnded(e.name);
        this.events.emit("sessionClosed", e);
      }),
      c.on("welcome", (e) => this.events.emit("welcome", e)),
    );
    const doc = this.root.ownerDocument;
    doc.addEventListener("keydown", (e) => this.keydown(e), { signal: this.abort.signal });
  }

  /** Draws changed annotation records on their pages; removes removed ones. */
  private applyRecords(changed: QuireRecord[], removed: string[]): void {
    this.forms?.apply(changed, this.root);
    this.thumbnails.setRecords(changed, removed);
    for (const id of removed) {
      this.interaction.forget(id);
      this.erase(id);
    }
    for (const record of changed) {
      if (record.kind !== "annotation") continue;
      const page = record.content.pageIndex;
      if (typeof page !== "number" || !this.overlays[page]) {
        this.erase(record.id);
        continue;
      }
      const before = this.drawnOn.get(record.id);
      if (before !== undefined && before !== page) this.overlays[before].remove(record.id);
      this.overlays[page].upsert(record);
      this.drawnOn.set(record.id, page);
    }
    if (this.selectedId && !this.client.getRecord(this.selectedId)) this.select(null);
    else this.showSelection();
    this.scheduleComments();
  }

  private erase(id: string): void {
    const page = this.drawnOn.get(id);
    if (page !== undefined) this.overlays[page].remove(id);
    this.drawnOn.delete(id);
  }

  /** Why a change was refused, in words (for `not_permitted`: what the rights allow). */
  private rejectionText(code: string, change: { op: "create" | "update" | "delete"; kind: RecordKind; id: string }): string {
    if (code !== "not_permitted") return this.strings.rejected[code] ?? this.strings.rejected.invalid;
    const record = this.client.getRecord(change.id);
    const othersRecord = change.op !== "create" && !!record && record.creator !== this.user.user_id;
    const mayTouchOwn = change.kind === "comment" || this.rights.canCreate(change.kind);
    return this.strings.notPermitted(change.op, change.kind, !(othersRecord && mayTouchOwn));
  }

  private async print(): Promise<void> {
    try {
      await printDocument(this.doc, (done, total) => {
        this.root.dataset.printProgress = `${done}/${total}`;
      }, this.strings.popups);
    } catch (error) {
      console.error("quire: printing failed", error);
      this.toast(this.strings.printFailed);
    }
  }

  private async download(annotated: boolean): Promise<void> {
    if (!this.session) return;
    const save = annotated ? downloadWithAnnotations : downloadOriginal;
    try {
      await save(this.session.baseUrl, this.session.token, pdfFileName(this.client.welcome?.document_id));
    } catch (error) {
      console.error("quire: download failed", error);
      this.toast(this.strings.downloadFailed);
    }
  }

  private sessionEnded(name: string): void {
    this.editable = false;
    this.setTool("select");
    this.toolbar.disableEditing();
    this.root.classList.add("quire-ended");
    this.root.prepend(h("div", { class: "quire-banner", role: "alert" }, this.strings.sessionEnded(name)));
  }

  private toast(message: string): void {
    const el = h("div", { class: "quire-toast" }, message);
    this.toasts.append(el);
    setTimeout(() => el.remove(), 6000);
  }

  // ---- keyboard ------------------------------------------------------------------------

  private keydown(e: KeyboardEvent): void {
    if (e.defaultPrevented || isTypingTarget(e.target)) return;
    const active = this.root.ownerDocument.activeElement;
    if (active && active !== this.root.ownerDocument.body && !this.root.contains(active)) return;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    if (e.key === "Delete" || e.key === "Backspace") {
      if (!this.selectedId) return;
      this.deleteSelection();
    } else if (e.key === "Enter" && this.interaction.finishPoly()) {
      // the polygon or polyline in progress ended
    } else if (mod && key === "f") {
      this.findBar.open();
    } else if (e.key === "Escape") {
      if (this.interaction.cancel()) return;
      if (this.tool !== "select") this.setTool("select");
      else this.select(null);
    } else if (mod && ((key === "z" && e.shiftKey) || key === "y")) {
      if (!this.editable) return;
      this.redo();
    } else if (mod && key === "z") {
      if (!this.editable) return;
      this.undo();
    } else {
      return;
    }
    e.preventDefault();
  }

  /** Turns a picked file into the stamp tool's picture (or says why it cannot be one). */
  private async pickImageStamp(file: File): Promise<void> {
    try {
      this.imageStamp = await imageStampFromFile(file);
      this.setTool("stamp");
    } catch (e) {
      this.toast(this.strings.imageStampFailed(e instanceof ImageStampError ? e.reason : "decode"));
    }
  }

  destroy(): void {
    for (const off of this.unsubscribe) off();
    this.abort.abort();
    this.interaction.destroy();
    this.selectionPopup.destroy();
    this.thumbnails.destroy();
    this.pageList.destroy();
    this.events.clear();
    this.container.replaceChildren();
  }
}
