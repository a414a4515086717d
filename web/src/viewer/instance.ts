/**
 * What `Quire.load` resolves to: the viewer's public API. Changes made through it are the
 * user's own (they go through undo history and the live session like UI edits).
 */
import type { PDFDocumentProxy } from "pdfjs-dist";
import type { QuireClient } from "../client/client";
import type { Handler } from "../client/events";
import type { JsonObject, QuireRecord, RecordKind } from "../client/types";
import type { Tool } from "./toolbar";
import type { Viewer, ViewerEvents } from "./viewer";

export class Instance {
  private unloaded = false;

  constructor(
    private readonly viewer: Viewer,
    /** The live session, for advanced use (presence, pending changes, connection state). */
    readonly client: QuireClient,
    private readonly doc: PDFDocumentProxy,
  ) {}

  /** Every record the user can see, including their own not yet acknowledged changes. */
  getRecords(): QuireRecord[] {
    return this.client.getRecords();
  }

  getRecord(id: string): QuireRecord | undefined {
    return this.client.getRecord(id);
  }

  /** Creates a record (shown at once, sent to the server, undoable). Returns it. */
  create(kind: RecordKind, content: JsonObject, id?: string): QuireRecord {
    return this.viewer.create(kind, content, id);
  }

  update(id: string, content: JsonObject): QuireRecord {
    return this.viewer.update(id, content);
  }

  delete(id: string): void {
    this.viewer.delete(id);
  }

  on<K extends keyof ViewerEvents>(name: K, handler: Handler<ViewerEvents[K]>): () => void {
    return this.viewer.events.on(name, handler);
  }

  off<K extends keyof ViewerEvents>(name: K, handler: Handler<ViewerEvents[K]>): void {
    this.viewer.events.off(name, handler);
  }

  get pageCount(): number {
    return this.doc.numPages;
  }

  /** The page mostly in view (0-based). */
  get currentPage(): number {
    return this.viewer.pageList.currentPage;
  }

  setPage(index: number): void {
    this.viewer.goToPage(index);
  }

  get zoom(): number {
    return this.viewer.pageList.zoom;
  }

  setZoom(zoom: number): void {
    this.viewer.pageList.setZoom(zoom);
  }

  setTool(tool: Tool): void {
    this.viewer.setTool(tool);
  }

  /** Selects an annotation (null clears the selection). */
  select(id: string | null): void {
    this.viewer.select(id);
  }

  /** Closes the session and removes the viewer from its container. */
  unload(): void {
    if (this.unloaded) return;
    this.unloaded = true;
    this.viewer.destroy();
    this.client.close();
    void this.doc.loadingTask.destroy();
  }
}
