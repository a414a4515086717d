import { describe, expect, it } from "vitest";
import { SyncState } from "../src/client/sync-state";
import { ack, ADA, change, ink, record, reject, welcome } from "./fixtures";

function joined(...records: ReturnType<typeof record>[]): SyncState {
  const state = new SyncState();
  state.applyWelcome(welcome(records, Math.max(0, ...records.map((r) => r.rev))));
  return state;
}

describe("optimistic changes and acks", () => {
  it("shows a create at once and confirms it with the ack's revision", () => {
    const state = joined();
    state.create("c1", "annotation", "ink-1", ink());
    expect(state.view("ink-1")).toMatchObject({ rev: 0, creator: ADA.user_id, content: ink() });

    const { requests } = state.takeSendable();
    expect(requests).toEqual([{ client_id: "c1", op: "create", kind: "annotation", id: "ink-1", content: ink() }]);

    expect(state.applyAck(ack("c1", 7))?.id).toBe("ink-1");
    expect(state.pending).toEqual([]);
    expect(state.confirmedRecord("ink-1")).toMatchObject({ rev: 7, content: ink(), creator: "ada" });
    expect(state.headSeq).toBe(7);
  });

  it("keeps one change per record in flight and bases the next on the ack's revision", () => {
    const state = joined(record("ink-1", 3, ink()));
    state.update("c1", "ink-1", ink(0, "#00ff00"));
    state.update("c2", "ink-1", { ...ink(0, "#00ff00"), lineWidth: 5 });
    const first = state.takeSendable().requests;
    expect(first.map((r) => [r.client_id, r.base_rev])).toEqual([["c1", 3]]);
    expect(state.takeSendable().requests).toEqual([]);

    state.applyAck(ack("c1", 9));
    const second = state.takeSendable().requests;
    expect(second).toMatchObject([{ client_id: "c2", base_rev: 9, content: { strokeColor: "#00ff00", lineWidth: 5 } }]);
  });

  it("sends changes to different records together, in the order they were made", () => {
    const state = joined(record("a", 1, ink()), record("b", 2, ink()));
    state.update("c1", "b", ink(0, "#000001"));
    state.delete("c2", "a");
    state.create("c3", "annotation", "c", ink());
    expect(state.takeSendable().requests.map((r) => r.client_id)).toEqual(["c1", "c2", "c3"]);
  });
});

describe("rejects", () => {
  it("rebases a stale update onto the current record and resends it", () => {
    const state = joined(record("ink-1", 1, ink(0, "#ff0000")));
    // The user moves the stroke…
    state.update("c1", "ink-1", { ...ink(0, "#ff0000"), bbox: [50, 60, 100, 50] });
    expect(state.takeSendable().requests[0]).toMatchObject({ base_rev: 1 });
    // …while someone else recolours it, committed first.
    const current = record("ink-1", 2, ink(0, "#0000ff"));
    const outcome = state.applyReject(reject("c1", "stale_base", current));

    expect(outcome).toMatchObject({ resolution: "rebased", code: "stale_base" });
    // Both intents survive: their colour, our move.
    expect(state.view("ink-1")?.content).toMatchObject({ strokeColor: "#0000ff", bbox: [50, 60, 100, 50] });
    const resent = state.takeSendable().requests;
    expect(resent).toMatchObject([{ client_id: "c1", op: "update", base_rev: 2 }]);
    expect(resent[0].content).toMatchObject({ strokeColor: "#0000ff", bbox: [50, 60, 100, 50] });
  });

  it("drops a stale update whose edit the current record already has", () => {
    const state = joined(record("ink-1", 1, ink(0, "#ff0000")));
    state.update("c1", "ink-1", ink(0, "#00ff00"));
    state.takeSendable();
    const outcome = state.applyReject(reject("c1", "stale_base", record("ink-1", 2, ink(0, "#00ff00"))));
    expect(outcome?.resolution).toBe("dropped");
    expect(state.pending).toEqual([]);
    expect(state.view("ink-1")?.rev).toBe(2);
  });

  it("re-sends a stale delete against the new revision", () => {
    const state = joined(record("ink-1", 1, ink()));
    state.delete("c1", "ink-1");
    state.takeSendable();
    expect(state.applyReject(reject("c1", "stale_base", record("ink-1", 4, ink(0, "#123456"))))?.resolution).toBe("rebased");
    expect(state.view("ink-1")).toBeUndefined();
    expect(state.takeSendable().requests).toMatchObject([{ op: "delete", id: "ink-1", base_rev: 4 }]);
  });

  it("rolls back an update that is not permitted", () => {
    const theirs = record("ink-1", 5, ink(0, "#ff0000"));
    const state = joined(theirs);
    state.update("c1", "ink-1", ink(0, "#00ff00"));
    expect(state.view("ink-1")?.content.strokeColor).toBe("#00ff00");
    state.takeSendable();

    const outcome = state.applyReject(reject("c1", "not_permitted"));
    expect(outcome?.resolution).toBe("rolled_back");
    expect(state.view("ink-1")).toEqual(theirs);
    expect(state.pending).toEqual([]);
  });

  it("rolls back a create that is not permitted", () => {
    const state = joined();
    state.create("c1", "annotation", "ink-1", ink());
    state.takeSendable();
    expect(state.applyReject(reject("c1", "not_permitted"))?.resolution).toBe("rolled_back");
    expect(state.view("ink-1")).toBeUndefined();
  });

  it("handles a reject that arrives before the ack of an earlier change", () => {
    // The server answers rejects at validation and acks after the commit, so a batch's
    // answers can come back out of order.
    const state = joined(record("a", 1, ink()));
    state.create("c1", "annotation", "b", ink());
    state.update("c2", "a", { nope: true });
    state.takeSendable();
    state.applyReject(reject("c2", "invalid"));
    state.applyAck(ack("c1", 2));
    expect(state.view("a")?.content).toEqual(ink());
    expect(state.view("b")?.rev).toBe(2);
  });
});

describe("retryable rejects", () => {
  it("keeps a change the server could not take now and holds it back for a backoff", () => {
    const state = joined(record("ink-1", 1, ink()));
    state.update("c1", "ink-1", ink(0, "#00ff00"));
    state.takeSendable(1_000);
    const outcome = state.applyReject(reject("c1", "unavailable"), 1_000);
    expect(outcome?.resolution).toBe("retrying");
    // Still shown, still queued, not rolled back.
    expect(state.view("ink-1")?.content.strokeColor).toBe("#00ff00");
    expect(state.nextRetryAt()).toBe(1_500);
    expect(state.takeSendable(1_499).requests).toEqual([]);
    expect(state.takeSendable(1_500).requests.map((r) => r.client_id)).toEqual(["c1"]);
  });

  it("holds back later changes to the same record but not to others", () => {
    const state = joined(record("a", 1, ink()), record("b", 1, ink()));
    state.update("c1", "a", ink(0, "#000001"));
    state.takeSendable(0);
    state.applyReject(reject("c1", "busy"), 0);
    state.update("c2", "a", ink(0, "#000002"));
    state.update("c3", "b", ink(0, "#000003"));
    expect(state.takeSendable(10).requests.map((r) => r.client_id)).toEqual(["c3"]);
  });

  it("doubles the backoff with each retry, up to 30 seconds", () => {
    const state = joined();
    state.create("c1", "annotation", "ink-1", ink());
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      now = state.nextRetryAt() ?? now;
      state.takeSendable(now);
      state.applyReject(reject("c1", "unavailable"), now);
      delays.push((state.nextRetryAt() ?? 0) - now);
    }
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  });

  it("forgets the backoff once the change is acknowledged", () => {
    const state = joined();
    state.create("c1", "annotation", "ink-1", ink());
    state.takeSendable(0);
    state.applyReject(reject("c1", "unavailable"), 0);
    state.takeSendable(500);
    state.applyAck(ack("c1", 2));
    expect(state.nextRetryAt()).toBeNull();
    expect(state.pending).toEqual([]);
  });
});

describe("remote changes", () => {
  it("applies changes by seq and ignores stale ones", () => {
    const state = joined(record("ink-1", 3, ink(0, "#000003")));
    expect(state.applyChange(change(5, record("ink-1", 5, ink(0, "#000005"))))).toEqual(["ink-1"]);
    expect(state.applyChange(change(4, record("ink-1", 4, ink(0, "#000004"))))).toEqual([]);
    expect(state.view("ink-1")?.content.strokeColor).toBe("#000005");

    expect(state.applyChange(change(8, null, "ink-1"))).toEqual(["ink-1"]);
    expect(state.applyChange(change(7, record("ink-1", 7, ink())))).toEqual([]);
    expect(state.view("ink-1")).toBeUndefined();
    expect(state.headSeq).toBe(8);
  });

  it("keeps the user's pending edit on top of a remote change to the same record", () => {
    const state = joined(record("ink-1", 1, ink(0, "#ff0000")));
    state.update("c1", "ink-1", { ...ink(0, "#ff0000"), lineWidth: 9 });
    state.applyChange(change(2, record("ink-1", 2, ink(0, "#0000ff"))));
    expect(state.view("ink-1")?.content).toMatchObject({ strokeColor: "#0000ff", lineWidth: 9 });
    // Sent rebased, on the new revision.
    expect(state.takeSendable().requests).toMatchObject([{ base_rev: 2, content: { strokeColor: "#0000ff", lineWidth: 9 } }]);
  });

  it("applies an edit made on older content without undoing what others changed since", () => {
    const state = joined(record("ink-1", 1, ink(0, "#ff0000")));
    const before = state.view("ink-1")!.content;
    // A drag starts; meanwhile someone recolours the stroke.
    state.applyChange(change(2, record("ink-1", 2, ink(0, "#0000ff"))));
    state.update("c1", "ink-1", { ...before, bbox: [1, 2, 100, 50] }, before);
    expect(state.view("ink-1")?.content).toMatchObject({ strokeColor: "#0000ff", bbox: [1, 2, 100, 50] });
    expect(state.takeSendable().requests[0]).toMatchObject({ base_rev: 2, content: { strokeColor: "#0000ff" } });
  });

  it("replaces everything with a snapshot welcome and applies a catch-up welcome in order", () => {
    const state = joined(record("a", 1, ink()), record("b", 2, ink()));
    const changed = state.applyWelcome(welcome([record("b", 4, ink(0, "#444444"))], 4));
    expect(changed.sort()).toEqual(["a", "b"]);
    expect(state.records().map((r) => r.id)).toEqual(["b"]);

    state.applyWelcome(welcome(null, 6, [change(5, null, "b"), change(6, record("c", 6, ink()), "c", "create")]));
    expect(state.records().map((r) => r.id)).toEqual(["c"]);
    expect(state.headSeq).toBe(6);
  });
});

describe("offline queue", () => {
  it("resends in-flight changes after a reconnect, in their original order", () => {
    const state = joined(record("a", 1, ink()));
    state.create("c1", "annotation", "b", ink());
    state.update("c2", "a", ink(0, "#00ff00"));
    state.takeSendable();
    state.connectionLost();
    state.create("c3", "annotation", "c", ink());
    state.applyWelcome(welcome(null, 1, []));
    expect(state.takeSendable().requests.map((r) => r.client_id)).toEqual(["c1", "c2", "c3"]);
  });

  it("drops a replayed change that the server committed before the ack was lost", () => {
    const state = joined();
    state.create("c1", "annotation", "ink-1", ink());
    state.takeSendable();
    state.connectionLost();
    // The catch-up shows our create committed as seq 1.
    state.applyWelcome(welcome(null, 1, [change(1, record("ink-1", 1, ink(), "ada"), "ink-1", "create")]));
    const batch = state.takeSendable();
    expect(batch.requests).toEqual([]);
    expect(batch.settled.map((p) => p.clientId)).toEqual(["c1"]);
  });

  it("restores a saved queue before changes made since", () => {
    const saved = joined(record("a", 1, ink()));
    saved.update("old", "a", ink(0, "#00ff00"));
    const state = joined(record("a", 1, ink()));
    state.create("new", "annotation", "b", ink());
    expect(state.restore(saved.pending)).toEqual(["a"]);
    expect(state.pending.map((p) => p.clientId)).toEqual(["old", "new"]);
    expect(state.view("a")?.content.strokeColor).toBe("#00ff00");
  });
});
