/**
 * The client's record state and its reconciliation with the server, with no I/O: the
 * connection layer feeds it server messages and local intents and sends what it returns. That
 * keeps every ordering rule here, where unit tests can drive it message by message.
 *
 * Model: `confirmed` holds the records as the server committed them (each with its `rev`);
 * `pending` holds the user's changes the server has not answered yet, oldest first. What the
 * user sees (`view`) is `confirmed` with `pending` replayed on top — changes appear at once
 * (optimistically) and are reconciled when their ack or reject arrives.
 *
 * Rules:
 * - At most one change per record is in flight. A later change to the same record waits, so
 *   that it can carry the revision the earlier one produced as its `base_rev`.
 * - Every change is rebased when it is sent: if the record moved on since the user made the
 *   change (someone else's change arrived), the user's edit is re-applied to the new content
 *   (`rebaseContent`) and sent with the new `base_rev`. A change that is already reflected on
 *   the server (an ack lost to a disconnect, then replayed) is dropped rather than resent.
 * - A `stale_base` reject adopts the server's `current` record and re-queues the change (the
 *   race where another change committed between our send and our commit); it is dropped if
 *   nothing of the edit is left to apply. A retryable reject (`busy`, `unavailable`: the server
 *   could not take the change now and applied nothing) keeps the change queued and holds it,
 *   and every later change to its record, back for a backoff that doubles with each retry
 *   (0.5 s to 30 s). Any other reject rolls the change back.
 * - Remote changes apply in `seq` order; one whose seq is not above the record's known
 *   revision (or the seq of its deletion) is stale and ignored.
 * - `headSeq` is the highest seq seen in acks and changes: the server delivers a session's acks
 *   and broadcasts in commit order, so nothing below it is missing, and it is what `hello`
 *   sends as `since` after a reconnect.
 */
import { cloneJson, jsonEqual, rebaseContent } from "./json";
import type {
  AckMessage,
  ChangeMessage,
  ChangeOp,
  ChangeRequest,
  JsonObject,
  QuireRecord,
  RecordKind,
  RejectCode,
  RejectMessage,
  SessionUser,
  WelcomeMessage,
} from "./types";

/** A change the user made that the server has not answered yet. Plain JSON: it is persisted. */
export interface PendingChange {
  clientId: string;
  op: ChangeOp;
  id: string;
  kind: RecordKind;
  /** The content the user wants (create and update); rebased when sent. */
  content?: JsonObject;
  /** The content the change was made on (update): the base of its rebase. */
  base?: JsonObject | null;
  /** Sent and not answered yet. Reset when the connection drops. */
  inFlight: boolean;
  /** When the user made the change (ISO 8601): the optimistic record's timestamps. */
  at: string;
  /** Retryable rejects so far, and the time (ms since the epoch) before which it is not sent. */
  retries?: number;
  retryAt?: number;
}

/** Codes that mean "not now": nothing was applied and the same change may succeed later. */
export function isRetryable(code: RejectCode): boolean {
  return code === "busy" || code === "unavailable";
}

/** The backoff before the `retries`-th retry of a change, in ms: 0.5 s doubling, at most 30 s. */
export function retryDelay(retries: number): number {
  return Math.min(500 * 2 ** Math.max(0, retries - 1), 30_000);
}

/** What became of a rejected change. */
export type Resolution =
  /** Re-queued on top of the server's current record, to be sent again. */
  | "rebased"
  /** Given up: the record is gone, or the edit no longer changes anything. */
  | "dropped"
  /** Undone locally: the server refused it for a reason retrying can't fix. */
  | "rolled_back"
  /** Kept: the server could not take it now; sent again after a backoff (`retryAt`). */
  | "retrying"
  /** Already committed earlier (a replay after a lost ack): nothing to do. */
  | "confirmed";

/** The outcome of a reject, for the `rejected` event. */
export interface RejectOutcome {
  change: PendingChange;
  code: RejectCode;
  message: string;
  resolution: Resolution;
  current: QuireRecord | null;
}

/** What `takeSendable` produced: the requests to send, and changes found already applied. */
export interface SendBatch {
  requests: ChangeRequest[];
  /** Changes dropped because the server already has them (replays after a lost ack). */
  settled: PendingChange[];
}

/** A placeholder user until the welcome names the real one. */
const NOBODY: SessionUser = { user_id: "", user_name: null, group: null };

export class SyncState {
  /** Records as committed on the server. */
  private confirmed = new Map<string, QuireRecord>();
  /** The seq at which a record was deleted, so a late change to it is recognised as stale. */
  private tombstones = new Map<string, number>();
  /** The user's unanswered changes, oldest first. */
  private queue: PendingChange[] = [];
  /** The highest seq applied: sent as `since` when reconnecting. Null before any welcome. */
  headSeq: number | null = null;
  user: SessionUser = NOBODY;

  /** The unanswered changes, oldest first (copies; to persist or inspect). */
  get pending(): PendingChange[] {
    return this.queue.map((p) => structuredClone(p));
  }

  /** The record as the user sees it: confirmed plus pending changes. Undefined if absent. */
  view(id: string): QuireRecord | undefined {
    let record = this.confirmed.get(id);
    for (const p of this.queue) {
      if (p.id !== id) continue;
      record = applyPending(record, p, this.user);
    }
    return record;
  }

  /** Every record as the user sees it. */
  records(): QuireRecord[] {
    const ids = new Set([...this.confirmed.keys(), ...this.queue.map((p) => p.id)]);
    const out: QuireRecord[] = [];
    for (const id of ids) {
      const record = this.view(id);
      if (record) out.push(record);
    }
    return out;
  }

  /** The record as committed on the server (no pending changes). */
  confirmedRecord(id: string): QuireRecord | undefined {
    return this.confirmed.get(id);
  }

  // ---- local intents -------------------------------------------------------------------

  /** Queues a create. Throws if the id is already in use. */
  create(clientId: string, kind: RecordKind, id: string, content: JsonObject): PendingChange {
    if (this.view(id)) throw new Error(`a record with id ${id} already exists`);
    return this.push({ clientId, op: "create", id, kind, content: cloneJson(content), inFlight: false, at: now() });
  }

  /**
   * Queues an update that replaces the record's content. `base` is the content the edit was
   * derived from, when that is older than what the user sees now (a drag that started before
   * someone else's change arrived); it defaults to the current content. Throws if the record
   * is unknown.
   */
  update(clientId: string, id: string, content: JsonObject, base?: JsonObject): PendingChange {
    const current = this.view(id);
    if (!current) throw new Error(`no record with id ${id}`);
    return this.push({
      clientId,
      op: "update",
      id,
      kind: current.kind,
      content: cloneJson(content),
      base: cloneJson(base ?? current.content),
      inFlight: false,
      at: now(),
    });
  }

  /** Queues a delete. Throws if the record is unknown. */
  delete(clientId: string, id: string): PendingChange {
    const current = this.view(id);
    if (!current) throw new Error(`no record with id ${id}`);
    return this.push({ clientId, op: "delete", id, kind: current.kind, inFlight: false, at: now() });
  }

  /**
   * Puts changes restored from storage (a previous page load) back in the queue, before any
   * made since: they are older. Changes already queued (same client id) are skipped.
   */
  restore(changes: PendingChange[]): string[] {
    const known = new Set(this.queue.map((p) => p.clientId));
    const restored = changes
      .filter((p) => !known.has(p.clientId))
      .map((p) => ({ ...p, inFlight: false }));
    this.queue = [...restored, ...this.queue];
    return unique(restored.map((p) => p.id));
  }

  private push(change: PendingChange): PendingChange {
    this.queue.push(change);
    return change;
  }

  // ---- outgoing ------------------------------------------------------------------------

  /**
   * Picks the changes to send now, marks them in flight and returns them as wire requests:
   * the oldest unsent change of each record that has nothing in flight, rebased on the
   * confirmed record.
   */
  takeSendable(now: number = Date.now()): SendBatch {
    const busy = new Set(this.queue.filter((p) => p.inFlight || (p.retryAt ?? 0) > now).map((p) => p.id));
    const requests: ChangeRequest[] = [];
    const settled: PendingChange[] = [];
    for (const p of [...this.queue]) {
      if (p.inFlight || busy.has(p.id)) continue;
      busy.add(p.id);
      const current = this.confirmed.get(p.id);
      const request = this.prepare(p, current);
      if (request === null) {
        this.remove(p);
        settled.push(p);
        busy.delete(p.id); // the next change to this record may go right away
        continue;
      }
      p.inFlight = true;
      requests.push(request);
    }
    return { requests, settled };
  }

  /** The wire request for one change, or null if the server already reflects it. */
  private prepare(p: PendingChange, current: QuireRecord | undefined): ChangeRequest | null {
    switch (p.op) {
      case "create":
        if (current && jsonEqual(current.content, p.content)) return null;
        return { client_id: p.clientId, op: "create", kind: p.kind, id: p.id, content: p.content };
      case "update": {
        if (!current) {
          // Gone, or never seen: let the server answer (not_found rolls it back).
          return { client_id: p.clientId, op: "update", kind: p.kind, id: p.id, content: p.content };
        }
        const content = rebaseContent(p.base ?? null, p.content ?? {}, current.content);
        if (jsonEqual(content, current.content)) return null;
        p.content = content;
        p.base = cloneJson(current.content);
        return {
          client_id: p.clientId,
          op: "update",
          kind: p.kind,
          id: p.id,
          content,
          base_rev: current.rev,
        };
      }
      case "delete":
        if (!current) return null;
        return { client_id: p.clientId, op: "delete", kind: p.kind, id: p.id, base_rev: current.rev };
    }
  }

  // ---- incoming ------------------------------------------------------------------------

  /**
   * Applies a welcome: a snapshot replaces the confirmed records, or the catch-up changes are
   * applied in order. Returns the ids whose view may have changed.
   */
  applyWelcome(welcome: WelcomeMessage): string[] {
    this.user = welcome.user;
    for (const p of this.queue) p.inFlight = false;
    const changed = new Set<string>();
    if (welcome.records) {
      for (const id of this.confirmed.keys()) changed.add(id);
      this.confirmed = new Map(welcome.records.map((r) => [r.id, r]));
      this.tombstones.clear();
      for (const id of this.confirmed.keys()) changed.add(id);
    }
    for (const change of welcome.changes ?? []) {
      for (const id of this.applyChange(change)) changed.add(id);
    }
    this.headSeq = welcome.head_seq;
    for (const p of this.queue) changed.add(p.id);
    return [...changed];
  }

  /** Applies someone's committed change. Returns the affected ids (empty if stale). */
  applyChange(change: ChangeMessage): string[] {
    this.headSeq = Math.max(this.headSeq ?? 0, change.seq);
    const known = this.confirmed.get(change.id)?.rev ?? this.tombstones.get(change.id) ?? -1;
    if (change.seq <= known) return [];
    if (change.op === "delete" || change.record === null) {
      this.confirmed.delete(change.id);
      this.tombstones.set(change.id, change.seq);
    } else {
      this.confirmed.set(change.id, change.record);
      this.tombstones.delete(change.id);
    }
    return [change.id];
  }

  /** Applies an ack: the change is now confirmed. Returns it, or null for an unknown id. */
  applyAck(ack: AckMessage): PendingChange | null {
    const p = this.queue.find((c) => c.clientId === ack.client_id);
    if (!p) return null;
    this.remove(p);
    this.headSeq = Math.max(this.headSeq ?? 0, ack.seq);
    const known = this.confirmed.get(p.id);
    if ((known?.rev ?? this.tombstones.get(p.id) ?? -1) >= ack.rev) return p;
    if (p.op === "delete") {
      this.confirmed.delete(p.id);
      this.tombstones.set(p.id, ack.rev);
    } else {
      this.confirmed.set(p.id, {
        id: p.id,
        kind: p.kind,
        content: p.content ?? {},
        creator: known?.creator ?? this.user.user_id,
        creator_name: known ? known.creator_name : this.user.user_name,
        group: known ? known.group : this.user.group,
        rev: ack.rev,
        created_at: known?.created_at ?? p.at,
        updated_at: p.at,
      });
      this.tombstones.delete(p.id);
    }
    return p;
  }

  /** Applies a reject (see the module comment). Returns null for an unknown client id. */
  applyReject(reject: RejectMessage, now: number = Date.now()): RejectOutcome | null {
    const p = this.queue.find((c) => c.clientId === reject.client_id);
    if (!p) return null;
    const current = reject.current ?? null;
    if (current) this.adopt(current);
    p.inFlight = false;
    let resolution: Resolution = "rolled_back";
    if (isRetryable(reject.code)) {
      p.retries = (p.retries ?? 0) + 1;
      p.retryAt = now + retryDelay(p.retries);
      resolution = "retrying";
    } else if (reject.code === "stale_base" && current) {
      resolution = this.stillMeaningful(p, current) ? "rebased" : "dropped";
    } else if (reject.code === "already_exists" && current && jsonEqual(current.content, p.content)) {
      resolution = "confirmed";
    }
    if (resolution !== "rebased" && resolution !== "retrying") this.remove(p);
    return { change: p, code: reject.code, message: reject.message, resolution, current };
  }

  /** When the next change held back by a backoff may go (ms since the epoch), if any. */
  nextRetryAt(): number | null {
    const times = this.queue.map((p) => p.retryAt ?? 0).filter((t) => t > 0);
    return times.length > 0 ? Math.min(...times) : null;
  }

  /** Marks everything in flight as unsent: the connection dropped before the answers came. */
  connectionLost(): void {
    for (const p of this.queue) p.inFlight = false;
  }

  /** Whether re-applying the change on `current` still changes anything. */
  private stillMeaningful(p: PendingChange, current: QuireRecord): boolean {
    if (p.op === "delete") return true;
    if (p.op !== "update") return false;
    const rebased = rebaseContent(p.base ?? null, p.content ?? {}, current.content);
    return !jsonEqual(rebased, current.content);
  }

  /** Takes a record from the server if it is newer than what we know. */
  private adopt(record: QuireRecord): void {
    const known = this.confirmed.get(record.id)?.rev ?? this.tombstones.get(record.id) ?? -1;
    if (record.rev > known) {
      this.confirmed.set(record.id, record);
      this.tombstones.delete(record.id);
    }
  }

  private remove(p: PendingChange): void {
    this.queue = this.queue.filter((c) => c !== p);
  }
}

/** One pending change replayed on top of a record, for the optimistic view. */
function applyPending(record: QuireRecord | undefined, p: PendingChange, user: SessionUser): QuireRecord | undefined {
  switch (p.op) {
    case "delete":
      return undefined;
    case "create":
      return {
        id: p.id,
        kind: p.kind,
        content: p.content ?? {},
        creator: record?.creator ?? user.user_id,
        creator_name: record ? record.creator_name : user.user_name,
        group: record ? record.group : user.group,
        rev: record?.rev ?? 0,
        created_at: record?.created_at ?? p.at,
        updated_at: p.at,
      };
    case "update":
      if (!record) return undefined;
      return {
        ...record,
        content: rebaseContent(p.base ?? null, p.content ?? {}, record.content),
        updated_at: p.at,
      };
  }
}

function now(): string {
  return new Date().toISOString();
}

function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}
