import { describe, expect, it } from "vitest";
import annotationListSource from "../src/viewer/annotation-list.ts?raw";
import { typeLabel } from "../src/viewer/annotations";
import commentsSource from "../src/viewer/comments.ts?raw";
import documentActionsSource from "../src/viewer/document-actions.ts?raw";
import findSource from "../src/viewer/find.ts?raw";
import interactionSource from "../src/viewer/interaction.ts?raw";
import notePopupSource from "../src/viewer/note-popup.ts?raw";
import selectionPopupSource from "../src/viewer/selection-popup.ts?raw";
import { EN, EN_POPUPS, EN_SIDEBAR, EN_TOOLBAR, withStrings } from "../src/viewer/strings";
import stylePanelSource from "../src/viewer/style-panel.ts?raw";
import textEditorSource from "../src/viewer/text-editor.ts?raw";
import thumbnailsSource from "../src/viewer/thumbnails.ts?raw";
import toolbarSource from "../src/viewer/toolbar.ts?raw";

/** The files that build the viewer's UI, each with the section of the table it reads as `t`. */
const SOURCES: Record<string, { source: string; table: object }> = {
  // the toolbar, its find bar and its style panel
  "toolbar.ts": { source: toolbarSource, table: EN_TOOLBAR },
  "find.ts": { source: findSource, table: EN_TOOLBAR },
  "style-panel.ts": { source: stylePanelSource, table: EN_TOOLBAR },
  // the sidebar: comments, annotations, thumbnails
  "comments.ts": { source: commentsSource, table: EN_SIDEBAR },
  "annotation-list.ts": { source: annotationListSource, table: EN_SIDEBAR },
  "thumbnails.ts": { source: thumbnailsSource, table: EN_SIDEBAR },
  // the pop-ups over the pages, the in-place text editor, the printed pages
  "selection-popup.ts": { source: selectionPopupSource, table: EN_POPUPS },
  "note-popup.ts": { source: notePopupSource, table: EN_POPUPS },
  "interaction.ts": { source: interactionSource, table: EN_POPUPS },
  "text-editor.ts": { source: textEditorSource, table: EN_POPUPS },
  "document-actions.ts": { source: documentActionsSource, table: EN_POPUPS },
};

/** The source without its comments, errors and console messages (for developers, in English). */
function code(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "")
    .replace(/\s\/\/ .*$/gm, "")
    .replace(/(?:new Error|console\.\w+)\((?:[^;]|;(?!\s*$))*?\);?$/gm, "")
    .replace(/Authorization: `Bearer \$\{\w+\}`/g, "");
}

/** String literals (and the fixed parts of template literals) that read as words to a person. */
function wordLiterals(source: string): string[] {
  const literals = [...code(source).matchAll(/"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`/g)].map((m) => m[1] ?? m[2] ?? m[3]);
  const parts = literals.flatMap((l) => l.split(/\$\{[^}]*\}/));
  // Key names compared with KeyboardEvent.key are not text, nor are class names and CSS selectors.
  const keys = new Set(["Enter", "Escape", "Delete", "Backspace", "ArrowDown", "ArrowUp", "Tab"]);
  const selector = /^quire[-:]|(?:^|[\s,])[.#[][a-z]|^[a-z]+(?:, [a-z]+)+$/;
  return parts.filter(
    (p) => !keys.has(p) && !selector.test(p) && (/^\(?[A-Z][a-z]+\b/.test(p) || /\b[a-z]{2,}[,.…]? [a-z]{2,}\b/.test(p) || /[a-z]…$/.test(p)),
  );
}

describe("the strings table", () => {
  it("replaces toolbar labels one by one and keeps the rest", () => {
    const s = withStrings({ toolbar: { print: "Drucken", matchOf: (i, n) => `${i} von ${n}` } });
    expect(s.toolbar.print).toBe("Drucken");
    expect(s.toolbar.matchOf(1, 3)).toBe("1 von 3");
    expect(s.toolbar.zoomIn).toBe(EN_TOOLBAR.zoomIn);
    expect(s.loading).toBe(EN.loading);
    expect(EN.toolbar).toBe(EN_TOOLBAR);
    expect(s.sidebar).toBe(EN_SIDEBAR);
    expect(s.popups).toBe(EN_POPUPS);
  });

  it("ignores a replacement of the wrong type and unknown keys", () => {
    // a host passing a string where a function is expected (plain JavaScript embeds)
    const s = withStrings({ toolbar: { pageCount: "of many", nope: "x" } as never, loading: 3 as never });
    expect(s.toolbar.pageCount(4)).toBe("/ 4");
    expect(s.loading).toBe(EN.loading);
    expect("nope" in s.toolbar).toBe(false);
  });

  it("replaces sidebar and pop-up labels the same way", () => {
    const s = withStrings({
      sidebar: { reply: "Antworten", commentCount: (n: number) => `${n} Kommentare`, pageHeading: "Seite" as never, nope: "x" } as never,
      popups: { copy: "Kopieren", printedPage: 5 as never },
    });
    expect(s.sidebar.reply).toBe("Antworten");
    expect(s.sidebar.commentCount(2)).toBe("2 Kommentare");
    expect(s.sidebar.pageHeading(3)).toBe("Page 3");
    expect(s.sidebar.resolve).toBe(EN_SIDEBAR.resolve);
    expect("nope" in s.sidebar).toBe(false);
    expect(s.popups.copy).toBe("Kopieren");
    expect(s.popups.printedPage(2)).toBe("Page 2");
    expect(s.popups.highlight).toBe(EN_POPUPS.highlight);
    expect(s.toolbar).toBe(EN_TOOLBAR);
  });

  it("replaces annotation type names one by one", () => {
    const s = withStrings({ sidebar: { types: { "pspdfkit/ink": "Zeichnung", "pspdfkit/note": 3 as never }, annotation: "Anmerkung" } });
    expect(typeLabel("pspdfkit/ink", s.sidebar)).toBe("Zeichnung");
    expect(typeLabel("pspdfkit/note", s.sidebar)).toBe("Note");
    expect(typeLabel("pspdfkit/shape/rectangle", s.sidebar)).toBe("Rectangle");
    expect(typeLabel("pspdfkit/unknown", s.sidebar)).toBe("Anmerkung");
    expect(typeLabel("toString", s.sidebar)).toBe("Anmerkung");
    expect(typeLabel(undefined)).toBe("Annotation");
    expect(EN_SIDEBAR.types["pspdfkit/ink"]).toBe("Drawing");
  });

  it("keeps the English text the browser tests and users see", () => {
    expect(EN_SIDEBAR.threadTitle("Rectangle", 2)).toBe("Rectangle · p. 2");
    expect(EN_SIDEBAR.commentOn("Highlight")).toBe("Comment on highlight");
    expect(EN_SIDEBAR.annotationMeta("Alice", "1/2/26")).toBe("Alice · 1/2/26");
  });

  it("every label, tooltip, placeholder and visible word comes from the table", () => {
    for (const [file, { source, table }] of Object.entries(SOURCES)) {
      // A literal (quoted or template) as a label attribute's value would bypass the table.
      const literal = /(?:title|"aria-label"|placeholder|alt)\s*:\s*(?:[^,}]*\?\s*)?["'`]/g;
      expect(source.match(literal), `${file}: a label written in place`).toBeNull();
      // Visible words: h("span" | "option" | "small", …, "Text") children.
      const words = /h\("[a-z]+",\s*\{[^}]*\},\s*["'`][A-Za-z(]/g;
      expect(source.match(words), `${file}: visible text written in place`).toBeNull();
      // Text set on elements later (the match count, "Searching…", "Resolve").
      const text = /textContent\s*=\s*(?:[^;]*\?\s*)?["'`][A-Za-z(]/g;
      expect(source.match(text), `${file}: text written in place`).toBeNull();
      // Any other literal that reads as words (a helper's label argument, a fallback).
      expect(wordLiterals(source), `${file}: words written in place`).toEqual([]);
      // Every key read from the table exists in it.
      for (const [, key] of source.matchAll(/\bt\.([A-Za-z]+)\b/g)) expect(Object.keys(table), `${file}: t.${key}`).toContain(key);
    }
  });
});
