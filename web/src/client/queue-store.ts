/**
 * Where the offline queue lives between page loads. The client saves its unanswered changes
 * after every change to them, keyed by document, layer and user, so that edits made offline
 * survive a reload and are sent on the next connection.
 */
import type { PendingChange } from "./sync-state";

export interface QueueStore {
  load(key: string): Promise<PendingChange[]>;
  /** Replaces the saved queue (an empty one deletes the entry). */
  save(key: string, changes: PendingChange[]): Promise<void>;
}

/** Keeps queues in memory only: for tests, and browsers without IndexedDB. */
export class MemoryQueueStore implements QueueStore {
  private readonly queues = new Map<string, PendingChange[]>();

  load(key: string): Promise<PendingChange[]> {
    return Promise.resolve(structuredClone(this.queues.get(key) ?? []));
  }

  save(key: string, changes: PendingChange[]): Promise<void> {
    if (changes.length === 0) this.queues.delete(key);
    else this.queues.set(key, structuredClone(changes));
    return Promise.resolve();
  }
}

const STORE = "outbox";

/**
 * IndexedDB: one object store, `outbox`, whose values are whole queues under out-of-line
 * keys. Saves are one readwrite transaction each; IndexedDB runs transactions on the same
 * store in the order they were created, so the last save wins as it should.
 */
export class IndexedDbQueueStore implements QueueStore {
  private db: Promise<IDBDatabase> | null = null;

  constructor(
    private readonly factory: IDBFactory = indexedDB,
    private readonly name = "quire",
  ) {}

  async load(key: string): Promise<PendingChange[]> {
    const db = await this.open();
    const value = await request<PendingChange[] | undefined>(
      db.transaction(STORE, "readonly").objectStore(STORE).get(key),
    );
    return Array.isArray(value) ? value : [];
  }

  async save(key: string, changes: PendingChange[]): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    if (changes.length === 0) store.delete(key);
    else store.put(changes, key);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const req = this.factory.open(this.name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error("cannot open IndexedDB"));
    });
    return this.db;
  }
}

function request<T>(req: IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result as T);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
  });
}

/** The queue's key: one queue per document, layer and user. */
export function queueKey(documentId: string, layer: string, userId: string): string {
  return JSON.stringify([documentId, layer, userId]);
}

/** IndexedDB when the browser has it (and allows it), else memory. */
export function defaultQueueStore(): QueueStore {
  try {
    if (typeof indexedDB !== "undefined") return new IndexedDbQueueStore();
  } catch {
    // Some privacy modes throw on access.
  }
  return new MemoryQueueStore();
}
