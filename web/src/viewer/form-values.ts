/**
 * Form-field values as records: what a widget's state becomes in a `form_field` record, and
 * what a record's value becomes in PDF.js's annotation storage (which the form widgets are
 * drawn from). Pure functions, unit-tested; `forms.ts` wires them to the page.
 *
 * Values, keyed by the field's fully qualified name (`name`):
 * - text fields: the text (string);
 * - checkboxes: `true` / `false`;
 * - radio groups: the chosen button's export value (string), or null for none;
 * - combo boxes: the chosen option's export value (string); list boxes: an array of them.
 */
import type { JsonObject, JsonValue } from "../client/types";

/** The field kinds PDF.js reports in `getFieldObjects` that the viewer fills. */
export type FieldType = "text" | "checkbox" | "radiobutton" | "combobox" | "listbox";

export interface Widget {
  /** PDF.js's annotation id of the widget (e.g. "12R"). */
  id: string;
  name: string;
  type: FieldType;
  /** A checkbox's or radio button's "on" state name. */
  exportValue: string | null;
}

export function isFieldType(type: unknown): type is FieldType {
  return type === "text" || type === "checkbox" || type === "radiobutton" || type === "combobox" || type === "listbox";
}

/** The content of the record for a field's value. */
export function formFieldContent(name: string, value: JsonValue): JsonObject {
  return { v: 1, type: "pspdfkit/form-field-value", name, value };
}

/** The value a widget's new state stands for. */
export function valueFromWidget(widget: Widget, state: { value?: string; checked?: boolean; selected?: string[] }): JsonValue {
  switch (widget.type) {
    case "text":
      return state.value ?? "";
    case "checkbox":
      return state.checked === true;
    case "radiobutton":
      return state.checked ? widget.exportValue : null;
    case "combobox":
      return state.selected?.[0] ?? null;
    case "listbox":
      return state.selected ?? [];
  }
}

/** The storage entry (`{ value }`) PDF.js draws a widget from, for a record's value. */
export function storageValue(widget: Widget, value: JsonValue): { value: string | boolean | string[] } {
  switch (widget.type) {
    case "text":
      return { value: typeof value === "string" ? value : typeof value === "number" ? String(value) : "" };
    case "checkbox":
      return { value: value === true || (typeof value === "string" && value !== "Off" && value === widget.exportValue) };
    case "radiobutton":
      return { value: typeof value === "string" && value === widget.exportValue };
    case "combobox":
    case "listbox":
      return { value: Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : typeof value === "string" ? [value] : [] };
  }
}
