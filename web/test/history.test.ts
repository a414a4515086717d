import { describe, expect, it } from "vitest";
import type { JsonObject, RecordKind } from "../src/client/types";
import { History } from "../src/viewer/history";

function target() {
  const records = new Map<string, JsonObject>();
  const log: string[] = [];
  return {
    records,
    log,
    exists: (id: string) => records.has(id),
    create: (_kind: RecordKind, content: JsonObject, id: string) => {
      records.set(id, content);
      log.push(`create ${id}`);
    },
    update: (id: string, content: JsonObject) => {
      records.set(id, content);
      log.push(`update ${id}`);
    },
    delete: (id: string) => {
      records.delete(id);
      log.push(`delete ${id}`);
    },
  };
}

describe("History", () => {
  it("undoes and redoes creates, updates and deletes", () => {
    const t = target();
    const history = new History(t);
    t.records.set("a", { v: 1 });
    history.record({ id: "a", kind: "annotation", before: null, after: { v: 1 } });
    t.records.set("a", { v: 2 });
    history.record({ id: "a", kind: "annotation", before: { v: 1 }, after: { v: 2 } });
    t.records.delete("a");
    history.record({ id: "a", kind: "annotation", before: { v: 2 }, after: null });

    expect(history.undo()).toBe("a");
    expect(t.records.get("a")).toEqual({ v: 2 });
    history.undo();
    expect(t.records.get("a")).toEqual({ v: 1 });
    history.undo();
    expect(t.records.has("a")).toBe(false);
    expect(history.canUndo).toBe(false);

    history.redo();
    history.redo();
    expect(t.records.get("a")).toEqual({ v: 2 });
    expect(t.log).toEqual(["create a", "update a", "delete a", "create a", "update a"]);
  });

  it("skips an edit whose record someone else deleted", () => {
    const t = target();
    const history = new History(t);
    history.record({ id: "gone", kind: "annotation", before: { v: 1 }, after: { v: 2 } });
    t.records.set("b", { v: 2 });
    history.record({ id: "b", kind: "annotation", before: { v: 1 }, after: { v: 2 } });
    history.record({ id: "gone", kind: "annotation", before: { v: 2 }, after: { v: 3 } });
    expect(history.undo()).toBe("b");
    expect(t.records.get("b")).toEqual({ v: 1 });
  });

  it("forgets the redo stack after a new action", () => {
    const t = target();
    const history = new History(t);
    t.records.set("a", { v: 1 });
    history.record({ id: "a", kind: "annotation", before: null, after: { v: 1 } });
    history.undo();
    history.record({ id: "b", kind: "annotation", before: null, after: { v: 1 } });
    expect(history.canRedo).toBe(false);
  });
});
