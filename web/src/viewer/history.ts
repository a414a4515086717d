/**
 * Undo and redo of the user's own changes. Each entry remembers a record's content before and
 * after one action (null: the record did not exist). Undo applies `before` as a new change,
 * so it goes through the server like any edit (and others see it); if someone else has since
 * deleted the record, the step is skipped rather than resurrecting their deletion.
 */
import type { JsonObject, RecordKind } from "../client/types";

export interface HistoryEntry {
  id: string;
  kind: RecordKind;
  before: JsonObject | null;
  after: JsonObject | null;
}

/** How the history reaches the records (the viewer's create/update/delete without recording). */
export interface HistoryTarget {
  exists(id: string): boolean;
  create(kind: RecordKind, content: JsonObject, id: string): void;
  update(id: string, content: JsonObject): void;
  delete(id: string): void;
}

const LIMIT = 200;

export class History {
  private undoStack: HistoryEntry[] = [];
  private redoStack: HistoryEntry[] = [];

  constructor(private readonly target: HistoryTarget) {}

  record(entry: HistoryEntry): void {
    this.undoStack.push(entry);
    if (this.undoStack.length > LIMIT) this.undoStack.shift();
    this.redoStack = [];
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /** Reverts the latest action; returns the record id it touched, or null. */
  undo(): string | null {
    return this.step(this.undoStack, this.redoStack, (e) => e.before);
  }

  redo(): string | null {
    return this.step(this.redoStack, this.undoStack, (e) => e.after);
  }

  private step(from: HistoryEntry[], to: HistoryEntry[], want: (e: HistoryEntry) => JsonObject | null): string | null {
    while (from.length > 0) {
      const entry = from.pop()!;
      if (this.apply(entry, want(entry))) {
        to.push(entry);
        return entry.id;
      }
    }
    return null;
  }

  /** Makes the record's content `content` (or deletes it for null). False if impossible. */
  private apply(entry: HistoryEntry, content: JsonObject | null): boolean {
    const exists = this.target.exists(entry.id);
    try {
      if (content === null) {
        if (!exists) return false;
        this.target.delete(entry.id);
      } else if (exists) {
        this.target.update(entry.id, content);
      } else if (entry.after === null || entry.before === null) {
        // Undoing a delete, or redoing a create: bring the record back under its id.
        this.target.create(entry.kind, content, entry.id);
      } else {
        return false; // an edit of a record someone else deleted meanwhile
      }
      return true;
    } catch (error) {
      console.warn("quire: cannot undo/redo", error);
      return false;
    }
  }
}
