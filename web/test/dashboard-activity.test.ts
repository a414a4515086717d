import { describe, expect, it } from "vitest";
import { describeEvent, describeSession } from "../src/dashboard/activity";

describe("dashboard activity lines", () => {
  it("names a session's user, layer and node", () => {
    expect(describeSession({ session_id: "s1-1", user_id: "alice", user_name: "Alice", layer: "", node: "this" })).toBe(
      "Alice (alice) · default layer",
    );
    expect(describeSession({ session_id: "s1-2", user_id: "bob", user_name: null, layer: "review", node: "this" })).toBe(
      "bob · layer review",
    );
    expect(describeSession({ session_id: "s2-1", user_id: "cy", user_name: null, layer: null, node: "other" })).toBe(
      "cy · on another node",
    );
  });

  it("names an event's kind, record, actor and sequence number", () => {
    expect(
      describeEvent({ id: 7, at: "2026-11-26T11:02:03Z", kind: "record.update", actor: "alice", actor_name: "Alice", seq: 3, record_id: "ink-1" }),
    ).toBe("record.update ink-1 by Alice (alice) (seq 3)");
    expect(describeEvent({ id: 1, at: "2026-11-26T11:00:00Z", kind: "document.upload", actor: "api_key:3f2a" })).toBe(
      "document.upload by api_key:3f2a",
    );
  });
});
