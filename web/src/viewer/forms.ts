/**
 * Form filling: PDF.js draws the PDF's form fields as HTML inputs (from its annotation
 * storage); this module turns what the user enters into `form_field` records keyed by the
 * field's fully qualified name, and other users' records back into the storage and the inputs
 * on screen. Without the right to fill forms the inputs are shown but disabled.
 */
import type { PDFDocumentProxy } from "pdfjs-dist";
import type { JsonObject, JsonValue, QuireRecord, RecordKind } from "../client/types";
import { jsonEqual } from "../client/json";
import { formFieldContent, isFieldType, storageValue, valueFromWidget, type Widget } from "./form-values";

export interface FormHost {
  readonly canFill: boolean;
  records(): QuireRecord[];
  create(kind: RecordKind, content: JsonObject): void;
  update(id: string, content: JsonObject): void;
}

export class Forms {
  private readonly widgets = new Map<string, Widget>();
  private readonly byName = new Map<string, Widget[]>();

  constructor(
    private readonly doc: PDFDocumentProxy,
    private readonly host: FormHost,
  ) {}

  /** Reads the document's fields (none: the viewer has nothing to do here). */
  async init(): Promise<void> {
    // PDF.js types the field objects as `Object`; these are the properties read here.
    type FieldObject = { id?: unknown; type?: unknown; exportValues?: unknown };
    const fields = await this.doc.getFieldObjects();
    for (const [name, objects] of Object.entries(fields ?? {})) {
      for (const o of objects as FieldObject[]) {
        if (typeof o.id !== "string" || !isFieldType(o.type)) continue;
        const widget: Widget = { id: o.id, name, type: o.type, exportValue: typeof o.exportValues === "string" ? o.exportValues : null };
        this.widgets.set(o.id, widget);
        this.byName.set(name, [...(this.byName.get(name) ?? []), widget]);
      }
    }
  }

  get hasFields(): boolean {
    return this.widgets.size > 0;
  }

  /** Shows records' values: in the storage (pages drawn later) and in inputs on screen. */
  apply(records: QuireRecord[], root: ParentNode): void {
    for (const r of records) {
      if (r.kind !== "form_field" || typeof r.content.name !== "string") continue;
      const value = r.content.value ?? null;
      for (const w of this.byName.get(r.content.name) ?? []) {
        const stored = storageValue(w, value);
        this.doc.annotationStorage.setValue(w.id, stored);
        for (const el of root.querySelectorAll(`[data-element-id="${CSS.escape(w.id)}"]`)) showValue(el, stored.value);
      }
    }
  }

  /** After PDF.js drew a page's widgets: locks them when the user may not fill the form. */
  prepare(layer: HTMLElement): void {
    if (this.host.canFill) return;
    for (const el of layer.querySelectorAll<HTMLInputElement>("[data-element-id]")) {
      el.disabled = true;
      el.setAttribute("aria-readonly", "true");
    }
  }

  /** A widget changed (a `change` event from the annotation layer): store the new value. */
  changed(target: EventTarget | null): void {
    if (!this.host.canFill || !(target instanceof HTMLElement)) return;
    const id = target.getAttribute("data-element-id");
    const widget = id ? this.widgets.get(id) : undefined;
    if (!widget) return;
    const el = target as HTMLInputElement & HTMLSelectElement;
    const selected = el instanceof HTMLSelectElement ? Array.from(el.selectedOptions, (o) => o.value) : undefined;
    if (widget.type === "radiobutton" && !el.checked) return; // the checked button of the group reports
    const value = valueFromWidget(widget, { value: el.value, checked: el.checked, selected });
    this.store(widget.name, value);
  }

  private store(name: string, value: JsonValue): void {
    const existing = this.host
      .records()
      .filter((r) => r.kind === "form_field" && r.content.name === name)
      .sort((a, b) => b.updated_at.localeCompare(a.updated_at))[0];
    if (existing) {
      if (!jsonEqual(existing.content.value ?? null, value)) this.host.update(existing.id, { ...existing.content, value });
    } else {
      this.host.create("form_field", formFieldContent(name, value));
    }
  }
}

/** Sets an input's shown state to a storage value. */
function showValue(el: Element, value: string | boolean | string[]): void {
  if (el instanceof HTMLSelectElement) {
    const chosen = Array.isArray(value) ? value : [String(value)];
    for (const o of el.options) o.selected = chosen.includes(o.value);
  } else if (el instanceof HTMLInputElement && (el.type === "checkbox" || el.type === "radio")) {
    el.checked = value === true;
  } else if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) {
    if (typeof value === "string" && el.value !== value) el.value = value;
  }
}
