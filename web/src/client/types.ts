/**
 * Wire types of the Quire live protocol, version 1 (docs/protocol.md in the server repository),
 * under the names the client and viewer use. Every type here is generated
 * (`./generated/protocol.ts`, from docs/protocol.schema.json, which the server generates from its
 * Rust types in src/wire): nothing is kept by hand. Regenerate with `npm run gen:types`.
 */

import type * as wire from "./generated/protocol";

export type { JsonObject, JsonValue, RejectCode, Author, ChangeRequest, ErrorMessage } from "./generated/protocol";

/** The kinds of record a document holds. */
export type RecordKind = wire.Kind;

/** What a change does to its record. */
export type ChangeOp = wire.Op;

/** A record as the server stores and sends it. `rev` is the seq of its last change. */
export type QuireRecord = wire.RecordView;

/** The user a session token is for, as the welcome states it. */
export type SessionUser = wire.UserView;

/** What the session may do, after every attenuation of its token. */
export type SessionRights = wire.SessionRights;

/** Another session on the same document. `state` is whatever that client last sent. */
export type PresenceSession = wire.PresenceEntry;

/** A committed change by another session (or, in a welcome's catch-up, by anyone). */
export type ChangeMessage = wire.ChangeView;

/** The first server message of a session. Exactly one of `records` and `changes` is non-null. */
export type WelcomeMessage = wire.Welcome;

/** Our change was committed as `seq`; the record is now at revision `rev`. */
export type AckMessage = Extract<wire.Outcome, { type: "ack" }>;

/** Our change was refused; nothing was committed. */
export type RejectMessage = Extract<wire.Outcome, { type: "reject" }>;

/** One presence event: a session joined, set its state, or left. */
export type PresenceEvent = wire.PresenceEvent;

/** A presence event, or several gathered over one server tick (`batch`, applied in order). */
export type PresenceMessage = wire.Presence | wire.PresenceBatch;

/** Every message the server sends. */
export type ServerMessage = wire.ServerMessage;

/** Every message a client sends. */
export type ClientMessage = wire.ClientMessage;

/** The protocol's limit on changes per `changes` message. */
export const MAX_CHANGES_PER_MESSAGE = 100;
