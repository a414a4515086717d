import { describe, expect, it } from "vitest";
import { jsonEqual, rebaseContent } from "../src/client/json";

describe("jsonEqual", () => {
  it("ignores key order but not array order", () => {
    expect(jsonEqual({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 })).toBe(true);
    expect(jsonEqual({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: null })).toBe(false);
  });
});

describe("rebaseContent", () => {
  const base = { color: "red", bbox: [0, 0, 1, 1], customData: { resolved: false, tag: "x" } };

  it("re-applies only the keys the user changed", () => {
    const mine = { ...base, bbox: [5, 5, 1, 1] };
    const theirs = { ...base, color: "blue" };
    expect(rebaseContent(base, mine, theirs)).toEqual({ ...base, color: "blue", bbox: [5, 5, 1, 1] });
  });

  it("merges nested objects key by key", () => {
    const mine = { ...base, customData: { resolved: true, tag: "x" } };
    const theirs = { ...base, customData: { resolved: false, tag: "y" } };
    expect(rebaseContent(base, mine, theirs).customData).toEqual({ resolved: true, tag: "y" });
  });

  it("removes keys the user removed", () => {
    const mine: Record<string, unknown> = { ...base };
    delete mine.color;
    expect(rebaseContent(base, mine as typeof base, { ...base, bbox: [9, 9, 9, 9] })).toEqual({
      bbox: [9, 9, 9, 9],
      customData: base.customData,
    });
  });
});

describe("dates in the chosen language", () => {
  it("formats with the locale given to Quire.load, and falls back on an unknown tag", async () => {
    const { formatTime, setDateLocale } = await import("../src/viewer/dom");
    setDateLocale("de-DE");
    expect(formatTime("2026-11-26T09:05:00Z")).toMatch(/26\.11\.26/);
    setDateLocale("not a locale!");
    expect(formatTime("2026-11-26T09:05:00Z")).not.toBe("");
    setDateLocale(undefined);
  });
});
