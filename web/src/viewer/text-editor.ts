/**
 * An in-place text box for sticky notes and free text: a textarea over the page at the spot
 * being annotated. Ctrl/Cmd+Enter or clicking elsewhere commits; Escape cancels.
 */
import { h } from "./dom";
import type { Point } from "./geometry";

export interface EditOptions {
  /** Where the box goes, in view pixels relative to the page. */
  at: Point;
  initial: string;
  placeholder: string;
  fontSizePx?: number;
}

/** Resolves with the text (trimmed of trailing whitespace) or null if cancelled. */
export function editText(pageDiv: HTMLElement, options: EditOptions): Promise<string | null> {
  return new Promise((resolve) => {
    const textarea = h("textarea", {
      class: "quire-text-editor",
      "data-input": "annotation-text",
      placeholder: options.placeholder,
      "aria-label": options.placeholder,
      rows: 3,
    });
    textarea.value = options.initial;
    textarea.style.left = `${options.at[0]}px`;
    textarea.style.top = `${options.at[1]}px`;
    if (options.fontSizePx) textarea.style.fontSize = `${options.fontSizePx}px`;
    let done = false;
    const finish = (value: string | null) => {
      if (done) return;
      done = true;
      textarea.remove();
      resolve(value === null ? null : value.replace(/\s+$/, ""));
    };
    textarea.addEventListener("keydown", (e) => {
      e.stopPropagation(); // keep Delete/Escape/Ctrl+Z from reaching the viewer's shortcuts
      if (e.key === "Escape") finish(null);
      else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) finish(textarea.value);
    });
    textarea.addEventListener("blur", () => finish(textarea.value));
    textarea.addEventListener("pointerdown", (e) => e.stopPropagation());
    pageDiv.append(textarea);
    // Keep the box on the page: near the right edge it opens to the left of the spot.
    const maxLeft = pageDiv.clientWidth - textarea.offsetWidth - 2;
    if (options.at[0] > maxLeft) textarea.style.left = `${Math.max(0, maxLeft)}px`;
    const maxTop = pageDiv.clientHeight - textarea.offsetHeight - 2;
    if (options.at[1] > maxTop) textarea.style.top = `${Math.max(0, maxTop)}px`;
    requestAnimationFrame(() => textarea.focus());
  });
}
