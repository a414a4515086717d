import { describe, expect, it } from "vitest";
import { countIn, findInPieces, normalize, pageMatches, step } from "../src/viewer/find-text";

describe("find in document", () => {
  it("compares case-insensitively with whitespace runs as one space", () => {
    expect(normalize("Hello \n  World")).toBe("hello world");
    expect(countIn("Line one, LINE two, line", "line")).toBe(3);
    expect(countIn("aaaa", "aa")).toBe(2);
    expect(countIn("anything", "")).toBe(0);
  });

  it("numbers a page's matches in reading order", () => {
    expect(pageMatches(2, ["Page 3, line 1", "line 2"], "LINE")).toEqual([
      { page: 2, nth: 0 },
      { page: 2, nth: 1 },
    ]);
    expect(pageMatches(0, ["x"], "   ")).toEqual([]);
  });

  it("finds a match spanning two text runs and says which runs it touches", () => {
    // "Quarterly" set in two runs (a kerning or font change splits a word in PDF text)
    expect(findInPieces(["Total for the Quar", "terly report"], "quarterly")).toEqual([{ first: 0, last: 1 }]);
    // a phrase across an end of line (the text layer's <br>) and a run boundary's spaces
    expect(findInPieces(["first line ends with\n", "  the next"], "with the")).toEqual([{ first: 0, last: 1 }]);
    // across three runs, and a later match inside one run
    expect(findInPieces(["ab", "c", "d abcd"], "abcd")).toEqual([
      { first: 0, last: 2 },
      { first: 2, last: 2 },
    ]);
    expect(pageMatches(1, ["Quar", "terly"], "Quarterly")).toEqual([{ page: 1, nth: 0 }]);
  });

  it("keeps the owning run exact when a character's lower case is longer", () => {
    // U+0130 lower-cases to two characters in most locales
    expect(findInPieces(["\u0130x", "yz"], "xy")).toEqual([{ first: 0, last: 1 }]);
  });

  it("steps through matches and wraps around", () => {
    expect(step(-1, 3, true)).toBe(0);
    expect(step(-1, 3, false)).toBe(2);
    expect(step(2, 3, true)).toBe(0);
    expect(step(0, 3, false)).toBe(2);
    expect(step(0, 0, true)).toBe(-1);
  });
});
