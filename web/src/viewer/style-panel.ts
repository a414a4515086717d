/**
 * The style pop-over of the toolbar: any colour (a colour picker beside the preset swatches),
 * line width, opacity, fill for rectangles and ellipses, and for free text its size, background
 * (the fill) and border (the width). Changes apply to what is drawn
 * next and to the selected annotation (when the user may edit it). Values stay within what
 * the server accepts (`#rrggbb` colours, opacity 0–1, widths 0–1000).
 */
import type { StylePatch } from "./annotations";
import { h } from "./dom";
import { icon } from "./icons";
import { EN_TOOLBAR, type ToolbarStrings } from "./strings";

export class StylePanel {
  readonly el: HTMLElement;
  readonly button: HTMLButtonElement;
  private readonly panel: HTMLElement;
  private readonly color: HTMLInputElement;
  private readonly width: HTMLInputElement;
  private readonly opacity: HTMLInputElement;
  private readonly fillOn: HTMLInputElement;
  private readonly fill: HTMLInputElement;
  private readonly fontSize: HTMLInputElement;

  constructor(apply: (patch: StylePatch) => void, t: ToolbarStrings = EN_TOOLBAR) {
    this.button = h(
      "button",
      { type: "button", class: "quire-button", "data-action": "style", title: t.styleTooltip, "aria-label": t.style, "aria-expanded": "false" },
      icon("style"),
    );
    this.color = h("input", { type: "color", "data-input": "style-color", value: "#ff4d4f", "aria-label": t.styleColour });
    this.width = h("input", { type: "range", "data-input": "style-width", min: 1, max: 16, step: 1, value: 2, "aria-label": t.styleLineWidth });
    this.opacity = h("input", { type: "range", "data-input": "style-opacity", min: 10, max: 100, step: 5, value: 100, "aria-label": t.styleOpacityPercent });
    this.fillOn = h("input", { type: "checkbox", "data-input": "style-fill-on", "aria-label": t.styleFillShapes });
    this.fill = h("input", { type: "color", "data-input": "style-fill", value: "#ffd400", "aria-label": t.styleFillColour });
    this.fontSize = h("input", { type: "number", "data-input": "style-font-size", min: 6, max: 72, step: 1, value: 14, "aria-label": t.styleTextSizePt });
    const row = (label: string, ...controls: HTMLElement[]) => h("label", { class: "quire-style-row" }, h("span", {}, label), ...controls);
    this.panel = h(
      "div",
      { class: "quire-style-panel", role: "group", "aria-label": t.style, hidden: true },
      row(t.styleColour, this.color),
      row(t.styleWidth, this.width),
      row(t.styleOpacity, this.opacity),
      row(t.styleFill, this.fillOn, this.fill),
      row(t.styleTextSize, this.fontSize),
      h("small", { class: "quire-style-hint" }, t.styleHint),
    );
    this.el = h("div", { class: "quire-style" }, this.button, this.panel);
    this.button.addEventListener("click", () => this.toggle());
    this.color.addEventListener("change", () => apply({ color: this.color.value }));
    this.width.addEventListener("change", () => apply({ lineWidth: Number(this.width.value) }));
    this.opacity.addEventListener("change", () => apply({ opacity: Number(this.opacity.value) / 100 }));
    const fill = () => apply({ fill: this.fillOn.checked ? this.fill.value : null });
    this.fillOn.addEventListener("change", fill);
    this.fill.addEventListener("change", () => {
      this.fillOn.checked = true;
      fill();
    });
    this.fontSize.addEventListener("change", () => {
      const size = Number(this.fontSize.value);
      if (Number.isFinite(size) && size >= 6 && size <= 72) apply({ fontSize: size });
    });
    this.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.toggle(false);
    });
  }

  toggle(open = this.panel.hidden): void {
    this.panel.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
  }

  /** Shows the current colour (hex colours only: the picker takes no other form). */
  setColor(color: string): void {
    if (/^#[0-9a-f]{6}$/i.test(color)) this.color.value = color;
  }
}
