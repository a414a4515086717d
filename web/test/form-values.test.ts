import { describe, expect, it } from "vitest";
import { formFieldContent, storageValue, valueFromWidget, type Widget } from "../src/viewer/form-values";

const w = (type: Widget["type"], exportValue: string | null = null): Widget => ({ id: "1R", name: "f", type, exportValue });

describe("form values", () => {
  it("turns widget states into record values", () => {
    expect(valueFromWidget(w("text"), { value: "Ada" })).toBe("Ada");
    expect(valueFromWidget(w("checkbox", "Yes"), { checked: true })).toBe(true);
    expect(valueFromWidget(w("checkbox", "Yes"), { checked: false })).toBe(false);
    expect(valueFromWidget(w("radiobutton", "M"), { checked: true })).toBe("M");
    expect(valueFromWidget(w("combobox"), { selected: ["Blue"] })).toBe("Blue");
    expect(valueFromWidget(w("combobox"), { selected: [] })).toBe(null);
    expect(valueFromWidget(w("listbox"), { selected: ["a", "b"] })).toEqual(["a", "b"]);
  });

  it("turns record values into what PDF.js draws, ignoring values of the wrong shape", () => {
    expect(storageValue(w("text"), "Ada")).toEqual({ value: "Ada" });
    expect(storageValue(w("text"), 3)).toEqual({ value: "3" });
    expect(storageValue(w("text"), { x: 1 })).toEqual({ value: "" });
    expect(storageValue(w("checkbox", "Yes"), true)).toEqual({ value: true });
    expect(storageValue(w("checkbox", "Yes"), "Yes")).toEqual({ value: true });
    expect(storageValue(w("checkbox", "Yes"), "Off")).toEqual({ value: false });
    expect(storageValue(w("radiobutton", "M"), "M")).toEqual({ value: true });
    expect(storageValue(w("radiobutton", "S"), "M")).toEqual({ value: false });
    expect(storageValue(w("combobox"), "Blue")).toEqual({ value: ["Blue"] });
    expect(storageValue(w("listbox"), ["a", 2, "b"])).toEqual({ value: ["a", "b"] });
  });

  it("keys records by the fully qualified name", () => {
    expect(formFieldContent("person.name", "Ada")).toEqual({ v: 1, type: "pspdfkit/form-field-value", name: "person.name", value: "Ada" });
  });
});
