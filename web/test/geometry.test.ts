import { describe, expect, it } from "vitest";
import {
  apply,
  invert,
  mapRect,
  mergeLineRects,
  pageToView,
  resizeRect,
  transformContent,
  translateContent,
  type Matrix,
} from "../src/viewer/geometry";

/** PDF.js's viewport transform for an unrotated page of height `h` at `scale`. */
const upright = (scale: number, h: number): number[] => [scale, 0, 0, -scale, 0, h * scale];

describe("page space ↔ view pixels", () => {
  it("maps Instant JSON coordinates (top-left origin) to view pixels at any zoom", () => {
    const viewBox = [0, 0, 612, 792];
    for (const scale of [0.5, 1, 2]) {
      const m = pageToView(upright(scale, 792), viewBox);
      expect(apply(m, [10, 20])).toEqual([10 * scale, 20 * scale]);
      expect(apply(invert(m), [10 * scale, 20 * scale])).toEqual([10, 20]);
    }
  });

  it("honours a crop box that does not start at the origin", () => {
    const viewBox = [50, 40, 662, 832];
    // PDF.js: user space (x, y) → view (x − 50, 832 − y) at scale 1.
    const m = pageToView([1, 0, 0, -1, -50, 832], viewBox);
    expect(apply(m, [0, 0])).toEqual([0, 0]);
    expect(apply(m, [100, 10])).toEqual([100, 10]);
  });

  it("follows the page's rotation", () => {
    // PDF.js's transform for /Rotate 90 of a 612×792 page at scale 1.
    const m = pageToView([0, 1, 1, 0, 0, 0], [0, 0, 612, 792]);
    // The page's top-left corner is now at the view's top-right.
    expect(apply(m, [0, 0])).toEqual([792, 0]);
    expect(apply(m, [10, 20])).toEqual([772, 10]);
    expect(mapRect(m, [10, 20, 100, 50])).toEqual([722, 10, 50, 100]);
  });

  it("inverts affine transforms", () => {
    const m: Matrix = [2, 0.5, -1, 3, 7, -4];
    const p = apply(invert(m), apply(m, [3, 4]));
    expect(p[0]).toBeCloseTo(3);
    expect(p[1]).toBeCloseTo(4);
  });
});

describe("moving and resizing content", () => {
  const ink = {
    type: "pspdfkit/ink",
    bbox: [10, 10, 100, 50],
    lines: { points: [[[10, 10], [110, 60]]], intensities: [[1, 1]] },
    lineWidth: 3,
  };

  it("moves every geometric field with the bbox", () => {
    const moved = translateContent(ink, 5, -5);
    expect(moved.bbox).toEqual([15, 5, 100, 50]);
    expect(moved.lines).toEqual({ points: [[[15, 5], [115, 55]]], intensities: [[1, 1]] });
    expect(moved.lineWidth).toBe(3);
  });

  it("scales points, rects and line ends into a new bbox", () => {
    const line = { bbox: [0, 0, 10, 10], startPoint: [0, 0], endPoint: [10, 10] };
    expect(transformContent(line, [0, 0, 10, 10], [0, 0, 20, 40])).toMatchObject({ startPoint: [0, 0], endPoint: [20, 40] });
    const hl = { bbox: [0, 0, 10, 10], rects: [[0, 0, 10, 5]] };
    expect(transformContent(hl, [0, 0, 10, 10], [10, 10, 20, 20]).rects).toEqual([[10, 10, 20, 10]]);
  });

  it("resizes from a corner, keeping the opposite one and a minimum size", () => {
    expect(resizeRect([10, 10, 100, 50], "se", [150, 100])).toEqual([10, 10, 140, 90]);
    expect(resizeRect([10, 10, 100, 50], "nw", [0, 0])).toEqual([0, 0, 110, 60]);
    expect(resizeRect([10, 10, 100, 50], "nw", [200, 200])).toEqual([106, 56, 4, 4]);
  });

  it("merges a text selection's runs into one rect per line", () => {
    const rects = mergeLineRects([
      [10, 100, 50, 12],
      [58, 101, 40, 11],
      [10, 120, 80, 12],
      [0, 0, 0.2, 0.2],
    ]);
    expect(rects).toEqual([
      [10, 100, 88, 12],
      [10, 120, 80, 12],
    ]);
  });
});

describe("squiggly markup", () => {
  it("zigzags along the whole width and no further", async () => {
    const { squigglePath } = await import("../src/viewer/render");
    const d = squigglePath(10, 50, 20, 2);
    const xs = [...d.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map((m) => Number(m[1]));
    expect(xs[0]).toBe(10);
    expect(Math.max(...xs)).toBe(30);
    expect(xs.length).toBeGreaterThan(4);
  });
});
