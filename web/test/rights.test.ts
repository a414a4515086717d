import { describe, expect, it } from "vitest";
import { backoffDelay } from "../src/client/backoff";
import { shouldReconnect } from "../src/client/close-codes";
import { Rights } from "../src/client/rights";
import { ink, record } from "./fixtures";

const ada = { user_id: "ada", user_name: "Ada", group: "eds" };

describe("Rights", () => {
  it("gives full access with write and no collaboration permissions", () => {
    const r = new Rights({ permissions: ["read-document", "write"], collaboration_permissions: [] }, ada);
    expect(r.canCreate("annotation")).toBe(true);
    expect(r.canEdit(record("x", 1, ink(), "bo"))).toBe(true);
  });

  it("limits edits to the scope", () => {
    const r = new Rights(
      { permissions: ["read-document", "write"], collaboration_permissions: ["annotations:edit:self", "comments:reply:all"] },
      ada,
    );
    expect(r.canCreate("annotation")).toBe(true);
    expect(r.canEdit(record("x", 1, ink(), "ada"))).toBe(true);
    expect(r.canEdit(record("x", 1, ink(), "bo"))).toBe(false);
    expect(r.canDelete(record("x", 1, ink(), "ada"))).toBe(false);
    expect(r.canReply(record("x", 1, ink(), "bo"))).toBe(true);
  });

  it("allows nothing without write", () => {
    const r = new Rights({ permissions: ["read-document"], collaboration_permissions: ["annotations:edit:all"] }, ada);
    expect(r.canCreate("annotation")).toBe(false);
    expect(r.canReply(record("x", 1, ink()))).toBe(false);
  });
});

describe("backoff and close codes", () => {
  it("grows exponentially within [nominal/2, nominal], capped", () => {
    const opts = { initialMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, opts, () => 0)).toBe(50);
    expect(backoffDelay(2, opts, () => 1)).toBe(400);
    expect(backoffDelay(10, opts, () => 1)).toBe(1000);
  });

  it("reconnects on transient codes and stops on terminal ones", () => {
    for (const code of [1001, 1006, 4005, 4006, 4008, 4009]) expect(shouldReconnect(code)).toBe(true);
    for (const code of [4001, 4002, 4003, 4004]) expect(shouldReconnect(code)).toBe(false);
  });
});

describe("Rights.canFillForms", () => {
  it("follows form-fields:fill or form-fields:edit, and needs write", () => {
    const with_ = (perms: string[], collab: string[]) => new Rights({ permissions: perms, collaboration_permissions: collab }, ada).canFillForms;
    expect(with_(["read-document", "write"], [])).toBe(true);
    expect(with_(["read-document", "write"], ["form-fields:fill"])).toBe(true);
    expect(with_(["read-document", "write"], ["form-fields:edit:self"])).toBe(true);
    expect(with_(["read-document", "write"], ["annotations:edit:all", "form-fields:view:all"])).toBe(false);
    expect(with_(["read-document"], ["form-fields:fill"])).toBe(false);
  });
});
