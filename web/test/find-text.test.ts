import { describe, expect, it } from "vitest";
import { countIn, normalize, pageMatches, step } from "../src/viewer/find-text";

describe("find in document", () => {
  it("compares case-insensitively with whitespace runs as one space", () => {
    expect(normalize("Hello \n  World")).toBe("hello world");
    expect(countIn("Line one, LINE two, line", "line")).toBe(3);
    expect(countIn("aaaa", "aa")).toBe(2);
    expect(countIn("anything", "")).toBe(0);
  });

  it("numbers a page's matches in item order", () => {
    expect(pageMatches(2, ["Page 3, line 1", "line 2"], "LINE")).toEqual([
      { page: 2, nth: 0 },
      { page: 2, nth: 1 },
    ]);
    expect(pageMatches(0, ["x"], "   ")).toEqual([]);
  });

  it("steps through matches and wraps around", () => {
    expect(step(-1, 3, true)).toBe(0);
    expect(step(-1, 3, false)).toBe(2);
    expect(step(2, 3, true)).toBe(0);
    expect(step(0, 3, false)).toBe(2);
    expect(step(0, 0, true)).toBe(-1);
  });
});
