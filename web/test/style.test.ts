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
