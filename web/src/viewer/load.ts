/**
 * `Quire.load`: opens a document in a container with a session token. The PDF is fetched by
 * PDF.js with range requests and the token in an `Authorization` header (never in a URL); the
 * live session opens in parallel.
 */
import { getDocument, GlobalWorkerOptions } from "pdfjs-dist";
import { documentUrl } from "../client/api";
import { QuireClient } from "../client/client";
import type { QueueStore } from "../client/queue-store";
import { h, setDateLocale } from "./dom";
import { Instance } from "./instance";
import { explainLoadError } from "./load-errors";
import { withStrings, type StringOverrides } from "./strings";
import { Viewer } from "./viewer";

export interface LoadOptions {
  /** The element to fill (or a CSS selector for it). Give it a height: the viewer fills it. */
  container: HTMLElement | string;
  /** A session token from your backend (`POST /api/sessions`). */
  session: string;
  /** Quire's origin. Default: where quire.js was loaded from, else this page's origin. */
  baseUrl?: string;
  /** Where unsent changes wait across reloads. Default: IndexedDB. */
  store?: QueueStore;
  /** The page to open at (0-based). */
  initialPage?: number;
  /** BCP 47 language tag for dates and times. Default: the browser's. */
  locale?: string;
  /** Replacements for any of the viewer's messages (see `strings.ts` for the keys). */
  strings?: StringOverrides;
}

/** Where quire.js was loaded from, captured while the script runs (set by the bundle entry). */
let scriptOrigin: string | null = null;

export function setScriptOrigin(origin: string | null): void {
  scriptOrigin = origin;
}

export function defaultBaseUrl(): string {
  return scriptOrigin ?? globalThis.location.origin;
}

export async function load(options: LoadOptions): Promise<Instance> {
  const container = typeof options.container === "string" ? document.querySelector<HTMLElement>(options.container) : options.container;
  if (!container) throw new Error("Quire.load: container not found");
  if (!options.session) throw new Error("Quire.load: a session token is required");
  const baseUrl = new URL(options.baseUrl ?? defaultBaseUrl()).origin;
  const strings = withStrings(options.strings);
  setDateLocale(options.locale);
  container.replaceChildren(h("div", { class: "quire-root quire-loading" }, h("div", { class: "quire-spinner", role: "status" }, strings.loading)));

  GlobalWorkerOptions.workerSrc = new URL("/pdf.worker.min.mjs", baseUrl).href;
  const assets = (dir: string) => new URL(`/pdfjs/${dir}/`, baseUrl).href;
  const task = getDocument({
    url: documentUrl(baseUrl),
    httpHeaders: { Authorization: `Bearer ${options.session}` },
    withCredentials: false,
    rangeChunkSize: 64 * 1024,
    // Fetch only what the pages on screen need, by range: no streaming of the whole file, and
    // no fetching the rest in the background (a 352-page PDF paints its first page after a
    // fraction of its bytes).
    disableStream: true,
    disableAutoFetch: true,
    cMapUrl: assets("cmaps"),
    cMapPacked: true,
    standardFontDataUrl: assets("standard_fonts"),
    wasmUrl: assets("wasm"),
    iccUrl: assets("iccs"),
    isEvalSupported: false,
  });
  const client = new QuireClient({ token: options.session, baseUrl, store: options.store });
  try {
    const [doc] = await Promise.all([task.promise, client.connect()]);
    // Only the first page's proxy up front: the others are fetched when drawn (page-view.ts).
    const first = await doc.getPage(1);
    const viewer = new Viewer(container, client, doc, first, strings, { baseUrl, token: options.session });
    if (options.initialPage) viewer.goToPage(options.initialPage);
    return new Instance(viewer, client, doc);
  } catch (error) {
    client.close();
    void task.destroy();
    // The details (and the code, if any) are for developers: in the console.
    console.error("quire: could not open the document", error);
    const message = await explainLoadError(error, baseUrl, strings);
    container.replaceChildren(h("div", { class: "quire-root quire-error", role: "alert" }, message));
    throw error;
  }
}
