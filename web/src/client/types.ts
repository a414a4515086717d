/**
 * Wire types of the Quire live protocol, version 1 (docs/protocol.md in the server repository).
 * They mirror the server's `src/protocol.rs`; keep the three in step.
 */

/** Any JSON value, as records carry it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/** A JSON object: the shape of every record's `content`. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** The kinds of record a document holds. */
export type RecordKind = "annotation" | "comment" | "form_field" | "bookmark";

/** What a change does to its record. */
export type ChangeOp = "create" | "update" | "delete";

/** A record as the server stores and sends it. `rev` is the seq of its last change. */
export interface QuireRecord {
  id: string;
  kind: RecordKind;
  content: JsonObject;
  creator: string;
  creator_name: string | null;
  group: string | null;
  rev: number;
  created_at: string;
  updated_at: string;
}

/** The user a session token is for, as the welcome states it. */
export interface SessionUser {
  user_id: string;
  user_name: string | null;
  group: string | null;
}

/** What the session may do, after every attenuation of its token. */
export interface SessionRights {
  permissions: string[];
  collaboration_permissions: string[];
}

/** Another session on the same document. `state` is whatever that client last sent. */
export interface PresenceSession {
  session_id: string;
  user_id: string;
  user_name: string | null;
  state: JsonValue;
}

/** One change as a client submits it. */
export interface ChangeRequest {
  client_id: string;
  op: ChangeOp;
  id: string;
  kind?: RecordKind;
  content?: JsonObject;
  base_rev?: number;
}

/** Who made a change. */
export interface Author {
  user_id: string;
  user_name: string | null;
}

/** A committed change by another session (or, in a welcome's catch-up, by anyone). */
export interface ChangeMessage {
  type: "change";
  seq: number;
  op: ChangeOp;
  id: string;
  record_kind: RecordKind;
  /** The record after the change; null for deletes. */
  record: QuireRecord | null;
  author: Author;
}

/** The first server message of a session. Exactly one of `records` and `changes` is non-null. */
export interface WelcomeMessage {
  type: "welcome";
  protocol: number;
  session_id: string;
  document_id: string;
  page_count: number;
  user: SessionUser;
  rights: SessionRights;
  layer: string;
  head_seq: number;
  records: QuireRecord[] | null;
  changes: ChangeMessage[] | null;
  presence: PresenceSession[];
}

/** Our change was committed as `seq`; the record is now at revision `rev`. */
export interface AckMessage {
  type: "ack";
  client_id: string;
  seq: number;
  rev: number;
}

/** Why the server refused a change. */
export type RejectCode =
  | "stale_base"
  | "not_permitted"
  | "invalid"
  | "too_large"
  | "already_exists"
  | "not_found"
  /** Retryable: the server could not commit it (its database did not answer); nothing applied. */
  | "unavailable"
  /** Retryable: too many changes are waiting for the document's next commit. */
  | "busy"
  | "limit_exceeded"
  /** Part of an all-or-nothing batch in which another change was rejected. */
  | "aborted";

/** Our change was refused; nothing was committed. */
export interface RejectMessage {
  type: "reject";
  client_id: string;
  code: RejectCode;
  message: string;
  /** The record as it stands, for `stale_base` (and `already_exists` when visible). */
  current?: QuireRecord | null;
}

/** One presence event: a session joined, set its state, or left. */
export type PresenceEvent =
  | { event: "joined"; session: PresenceSession }
  | { event: "state"; session_id: string; user_id: string; state: JsonValue }
  | { event: "left"; session_id: string; user_id: string };

/** A presence event, or several gathered over one server tick (`batch`, applied in order). */
export type PresenceMessage =
  | ({ type: "presence" } & PresenceEvent)
  | { type: "presence"; event: "batch"; events: PresenceEvent[] };

export interface ErrorMessage {
  type: "error";
  code: string;
  message: string;
}

/** Every message the server sends. */
export type ServerMessage =
  | WelcomeMessage
  | ChangeMessage
  | AckMessage
  | RejectMessage
  | PresenceMessage
  | ErrorMessage
  | { type: "pong" };

/** Every message a client sends. */
export type ClientMessage =
  | { type: "hello"; token: string; since?: number; protocol: 1 }
  | { type: "changes"; changes: ChangeRequest[] }
  | { type: "presence"; state: JsonValue }
  | { type: "ping" };

/** The protocol's limit on changes per `changes` message. */
export const MAX_CHANGES_PER_MESSAGE = 100;
