import { describe, expect, it } from "vitest";
import { mentionedIds, splitMentions } from "../src/viewer/mentions";

const users = [
  { user_id: "ada", name: "Ada" },
  { user_id: "al", name: "Ada Lovelace" },
  { user_id: "bob", name: "Bob" },
];

describe("@mentions", () => {
  it("finds known users by name or id, longest name first, case-insensitively", () => {
    expect(mentionedIds("@Ada Lovelace and @bob, see this", users)).toEqual(["al", "bob"]);
    expect(mentionedIds("@ADA?", users)).toEqual(["ada"]);
    expect(mentionedIds("ping @bob @Bob", users)).toEqual(["bob"]);
  });

  it("ignores unknown names, e-mail addresses and partial words", () => {
    expect(mentionedIds("@carol mail ada@example.com @Bobby", users)).toEqual([]);
  });

  it("splits the text into plain runs and mentions", () => {
    expect(splitMentions("Hi @Bob!", users)).toEqual([{ text: "Hi " }, { text: "@Bob", user_id: "bob" }, { text: "!" }]);
    expect(splitMentions("", users)).toEqual([]);
  });
});
