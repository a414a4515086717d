/** Builders for server messages, shared by the unit tests. */
import type {
  AckMessage,
  ChangeMessage,
  JsonObject,
  QuireRecord,
  RejectMessage,
  WelcomeMessage,
} from "../src/client/types";

export const ADA = { user_id: "ada", user_name: "Ada", group: null };

export function record(id: string, rev: number, content: JsonObject, creator = "bo"): QuireRecord {
  return {
    id,
    kind: "annotation",
    content,
    creator,
    creator_name: creator,
    group: null,
    rev,
    created_at: "2026-11-25T10:00:00Z",
    updated_at: "2026-11-25T10:00:00Z",
  };
}

export function welcome(records: QuireRecord[] | null, headSeq: number, changes: ChangeMessage[] | null = null): WelcomeMessage {
  return {
    type: "welcome",
    protocol: 1,
    session_id: "s1",
    document_id: "paper",
    page_count: 14,
    user: ADA,
    rights: { permissions: ["read-document", "write"], collaboration_permissions: [] },
    layer: "",
    head_seq: headSeq,
    records,
    changes,
    presence: [],
  };
}

export function change(seq: number, rec: QuireRecord | null, id = rec?.id ?? "x", op: ChangeMessage["op"] = rec ? "update" : "delete"): ChangeMessage {
  return {
    type: "change",
    seq,
    op,
    id,
    record_kind: "annotation",
    record: rec,
    author: { user_id: "bo", user_name: "Bo" },
  };
}

export function ack(clientId: string, seq: number): AckMessage {
  return { type: "ack", client_id: clientId, seq, rev: seq };
}

/** A reject as the server sends it: `current` only when it shows the record. */
export function reject(clientId: string, code: RejectMessage["code"], current?: QuireRecord): RejectMessage {
  const msg: RejectMessage = { type: "reject", client_id: clientId, code, message: code };
  if (current) msg.current = current;
  return msg;
}

/** A minimal ink annotation on page `page`. */
export function ink(page = 0, color = "#ff0000"): JsonObject {
  return {
    v: 2,
    type: "pspdfkit/ink",
    pageIndex: page,
    bbox: [10, 20, 100, 50],
    lines: { points: [[[10, 20], [110, 70]]], intensities: [[1, 1]] },
    strokeColor: color,
  };
}
