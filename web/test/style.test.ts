import { describe, expect, it } from "vitest";
import { shapeContent, withStyle, type Style } from "../src/viewer/annotations";

const user = { user_id: "ada", user_name: "Ada", group: null };
const style: Style = { color: "#00aa55", lineWidth: 6, fontSize: 14, opacity: 0.8, fill: "#ffd400" };

describe("annotation style", () => {
  it("puts the chosen width, opacity and fill on new shapes", () => {
    const c = shapeContent("rectangle", 0, [10, 10], [50, 40], style, user);
    expect(c).toMatchObject({ strokeWidth: 6, strokeColor: "#00aa55", opacity: 0.8, fillColor: "#ffd400" });
    expect(shapeContent("ellipse", 0, [0, 0], [5, 5], { ...style, fill: null }, user).fillColor).toBeUndefined();
  });

  it("changes only the fields a type has, within bounds", () => {
    const rect = shapeContent("rectangle", 0, [10, 10], [50, 40], style, user);
    expect(withStyle(rect, { fill: null }).fillColor).toBeUndefined();
    expect(withStyle(rect, { lineWidth: 5000 }).strokeWidth).toBe(48);
    expect(withStyle(rect, { opacity: 7 }).opacity).toBe(1);
    expect(withStyle(rect, { opacity: -1 }).opacity).toBe(0.05);
    expect(withStyle(rect, { color: "#123456" }).strokeColor).toBe("#123456");
    const ink = { type: "pspdfkit/ink", lineWidth: 2 };
    expect(withStyle(ink, { lineWidth: 4, fill: "#ffffff" })).toMatchObject({ lineWidth: 4 });
    expect(withStyle(ink, { fill: "#ffffff" }).fillColor).toBeUndefined();
    const hl = { type: "pspdfkit/markup/highlight", color: "#ffd400" };
    expect(withStyle(hl, { lineWidth: 4 }).strokeWidth).toBeUndefined();
  });
});

describe("polygons, polylines and stamps", () => {
  it("builds them within the points and around the spot", async () => {
    const { polyContent, stampContent } = await import("../src/viewer/annotations");
    const poly = polyContent("polygon", 1, [[10, 10], [60, 10], [30, 50]], style, user);
    expect(poly).toMatchObject({ type: "pspdfkit/shape/polygon", pageIndex: 1, strokeWidth: 6, fillColor: "#ffd400" });
    const [x, y, w, h] = poly.bbox as number[];
    expect(x).toBeLessThanOrEqual(10);
    expect(y + h).toBeGreaterThanOrEqual(50);
    expect(x + w).toBeGreaterThanOrEqual(60);
    expect(polyContent("polyline", 0, [[0, 0], [5, 5]], style, user).fillColor).toBeUndefined();
    const stamp = stampContent(0, [100, 100], "Approved", user, style);
    expect(stamp).toMatchObject({ type: "pspdfkit/stamp", stampType: "Approved", color: "#2e7d32" });
    const [sx, sy, sw, sh] = stamp.bbox as number[];
    expect(sx + sw / 2).toBeCloseTo(100, 0);
    expect(sy + sh / 2).toBeCloseTo(100, 0);
  });
});

describe("free text style", () => {
  it("takes a size (resizing its box), a background and a border", async () => {
    const { textContent, withStyle } = await import("../src/viewer/annotations");
    const t = textContent(0, [10, 10], "Hello", { ...style, fill: null, fontSize: 12 }, user);
    const bigger = withStyle(t, { fontSize: 24 });
    expect(bigger.fontSize).toBe(24);
    expect((bigger.bbox as number[])[2]).toBeGreaterThan((t.bbox as number[])[2]);
    expect(withStyle(t, { fontSize: 500 }).fontSize).toBe(72);
    expect(withStyle(t, { fill: "#ffffcc" }).backgroundColor).toBe("#ffffcc");
    expect(withStyle({ ...t, backgroundColor: "#fff" }, { fill: null }).backgroundColor).toBeUndefined();
    expect(withStyle(t, { lineWidth: 2 })).toMatchObject({ borderWidth: 2, borderColor: "#00aa55" });
  });
});
