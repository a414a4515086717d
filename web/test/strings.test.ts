import { describe, expect, it } from "vitest";
import findSource from "../src/viewer/find.ts?raw";
import { EN, EN_TOOLBAR, withStrings } from "../src/viewer/strings";
import stylePanelSource from "../src/viewer/style-panel.ts?raw";
import toolbarSource from "../src/viewer/toolbar.ts?raw";

/** The files that build the toolbar, its find bar and its style panel. */
const TOOLBAR_SOURCES: Record<string, string> = { "toolbar.ts": toolbarSource, "find.ts": findSource, "style-panel.ts": stylePanelSource };

describe("the strings table", () => {
  it("replaces toolbar labels one by one and keeps the rest", () => {
    const s = withStrings({ toolbar: { print: "Drucken", matchOf: (i, n) => `${i} von ${n}` } });
    expect(s.toolbar.print).toBe("Drucken");
    expect(s.toolbar.matchOf(1, 3)).toBe("1 von 3");
    expect(s.toolbar.zoomIn).toBe(EN_TOOLBAR.zoomIn);
    expect(s.loading).toBe(EN.loading);
    expect(EN.toolbar).toBe(EN_TOOLBAR);
  });

  it("ignores a replacement of the wrong type and unknown keys", () => {
    // a host passing a string where a function is expected (plain JavaScript embeds)
    const s = withStrings({ toolbar: { pageCount: "of many", nope: "x" } as never, loading: 3 as never });
    expect(s.toolbar.pageCount(4)).toBe("/ 4");
    expect(s.loading).toBe(EN.loading);
    expect("nope" in s.toolbar).toBe(false);
  });

  it("every toolbar label, tooltip and placeholder comes from the table", () => {
    for (const [file, source] of Object.entries(TOOLBAR_SOURCES)) {
      // A literal (quoted or template) as a label attribute's value would bypass the table.
      const literal = /(?:title|"aria-label"|placeholder)\s*:\s*["'`]/g;
      expect(source.match(literal), `${file}: a label written in place`).toBeNull();
      // Visible words: h("span" | "option" | "small", …, "Text") children.
      const words = /h\("(?:span|option|small|label|button)",\s*\{[^}]*\},\s*["'`][A-Za-z]/g;
      expect(source.match(words), `${file}: visible text written in place`).toBeNull();
      // Text set on elements later (the match count, "Searching…").
      const text = /textContent\s*=\s*(?:[^;]*\?\s*)?["'`][A-Za-z]/g;
      expect(source.match(text), `${file}: text written in place`).toBeNull();
      // Every key read from the table exists in it.
      for (const [, key] of source.matchAll(/\bt\.([A-Za-z]+)\b/g)) expect(Object.keys(EN_TOOLBAR), `${file}: t.${key}`).toContain(key);
    }
  });
});
