/**
 * Print and download.
 *
 * Printing draws every page to an image (pages on screen are drawn lazily, so the screen can't
 * simply be printed) into a container that only the print stylesheet shows, then opens the
 * browser's print dialog; the images are freed after printing.
 *
 * Downloading fetches the original PDF with the token in the `Authorization` header (never in
 * a URL) and saves it under the document's name. Offered only when the session has
 * `download`. Downloading *with annotations* fetches the server's export
 * (`GET /api/client/pdf`: the original plus the session's layer as standard PDF annotations,
 * docs/exchange.md) the same way.
 */
import type { PDFDocumentProxy } from "pdfjs-dist";
import { annotatedPdfUrl, apiError, documentUrl } from "../client/api";
import { h } from "./dom";
import { EN_POPUPS, type PopupStrings } from "./strings";

/** CSS pixels per PDF point for printed pages (2 × 72 dpi = 144 dpi). */
const PRINT_SCALE = 2;

/** Renders every page and opens the print dialog. `progress` reports pages done. */
export async function printDocument(
  doc: PDFDocumentProxy,
  progress: (done: number, total: number) => void,
  t: PopupStrings = EN_POPUPS,
): Promise<void> {
  const owner = globalThis.document;
  owner.querySelector(".quire-print")?.remove();
  const container = h("div", { class: "quire-print", "aria-hidden": "true" });
  const urls: string[] = [];
  for (let i = 1; i <= doc.numPages; i++) {
    const page = await doc.getPage(i);
    const viewport = page.getViewport({ scale: PRINT_SCALE });
    const canvas = h("canvas");
    canvas.width = Math.ceil(viewport.width);
    canvas.height = Math.ceil(viewport.height);
    await page.render({ canvas, viewport, intent: "print" }).promise;
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, "image/png"));
    canvas.width = canvas.height = 0;
    if (!blob) throw new Error(`page ${i} could not be drawn for printing`);
    const url = URL.createObjectURL(blob);
    urls.push(url);
    container.append(h("img", { src: url, alt: t.printedPage(i), "data-page-number": i }));
    progress(i, doc.numPages);
  }
  owner.body.append(container);
  // Every image decoded before the dialog opens, or the last pages may print blank.
  await Promise.all(Array.from(container.querySelectorAll("img"), (img) => img.decode()));
  const cleanUp = () => {
    container.remove();
    for (const url of urls) URL.revokeObjectURL(url);
  };
  globalThis.addEventListener("afterprint", cleanUp, { once: true });
  globalThis.print();
}

/** Saves the original PDF (needs the `download` permission). */
export async function downloadOriginal(baseUrl: string, token: string, filename: string): Promise<void> {
  const res = await fetch(documentUrl(baseUrl), { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw await apiError(res);
  saveBlob(await res.blob(), filename);
}

/** Saves the PDF with the session's annotations written into it (needs `download`). */
export async function downloadWithAnnotations(baseUrl: string, token: string, filename: string): Promise<void> {
  const res = await fetch(annotatedPdfUrl(baseUrl), { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw await apiError(res);
  saveBlob(await res.blob(), filename.replace(/\.pdf$/, "") + "-annotated.pdf");
}

function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, hidden: true });
  globalThis.document.body.append(a);
  a.click();
  a.remove();
  // Give the browser time to start the download before the URL goes away.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A safe file name for the document: its id, with anything odd replaced, ending in .pdf. */
export function pdfFileName(documentId: string | null | undefined): string {
  const base = (documentId ?? "document").replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(0, 100) || "document";
  return base.toLowerCase().endsWith(".pdf") ? base : `${base}.pdf`;
}
