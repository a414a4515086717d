/**
 * The client REST routes (docs/api.md, "Client API"). The session token always travels in the
 * `Authorization` header, never in a URL: URLs end up in logs, history and Referer headers.
 */
import type { components } from "./generated/openapi";

/** REST bodies, generated from the server's OpenAPI description (`./generated/openapi.ts`). */
type Schemas = components["schemas"];

/** `GET /api/client/session`: who the token is for and what it grants now. */
export type ClientSession = Schemas["SessionResponse"];

/** `GET /api/client/records`: a snapshot (or the changes after `since`) of the session's layer. */
export type RecordsBody = Schemas["RecordsBody"];

/** A failed call, with the server's stable error code. */
export class QuireApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "QuireApiError";
  }
}

/** The URL of the session's PDF (fetch it with the token in `Authorization`). */
export function documentUrl(baseUrl: string): string {
  return new URL("/api/client/document", baseUrl).toString();
}

export async function fetchSession(baseUrl: string, token: string): Promise<ClientSession> {
  return getJson<ClientSession>(new URL("/api/client/session", baseUrl), token);
}

/** `GET /api/client/records`: the records the session may see, for clients without a socket. */
export async function fetchRecords(baseUrl: string, token: string): Promise<RecordsBody> {
  return getJson(new URL("/api/client/records", baseUrl), token);
}

/**
 * `GET /api/client/document.json`: the session's layer as an Instant JSON document (what the
 * session may see). Needs the `download` permission (403 `right_missing` otherwise).
 */
export async function exportInstantJson(baseUrl: string, token: string): Promise<InstantJsonDocument> {
  return getJson(new URL("/api/client/document.json", baseUrl), token);
}

/** `GET /api/client/document.xfdf`: the session's layer as XFDF text. Needs `download`. */
export async function exportXfdf(baseUrl: string, token: string): Promise<string> {
  const res = await get(new URL("/api/client/document.xfdf", baseUrl), token);
  return res.text();
}

/**
 * The URL of the session's PDF with its layer's annotations written in (`flatten`: drawn into
 * the pages instead). Fetch it with the token in `Authorization`; needs `download`.
 */
export function annotatedPdfUrl(baseUrl: string, options: { flatten?: boolean } = {}): string {
  const url = new URL("/api/client/pdf", baseUrl);
  if (options.flatten) url.searchParams.set("flatten", "true");
  return url.toString();
}

/** `GET /api/client/pdf`: the PDF with the session's annotations, as a Blob. Needs `download`. */
export async function exportPdf(baseUrl: string, token: string, options: { flatten?: boolean } = {}): Promise<Blob> {
  const res = await get(new URL(annotatedPdfUrl(baseUrl, options)), token);
  return res.blob();
}

/**
 * An Instant JSON document (docs/exchange.md): PSPDFKit's exchange format, which the server
 * describes as a plain object, so its outline is kept here.
 */
export interface InstantJsonDocument {
  format: string;
  annotations: Record<string, unknown>[];
  comments: Record<string, unknown>[];
  formFieldValues: Record<string, unknown>[];
  bookmarks: Record<string, unknown>[];
}

async function get(url: URL, token: string): Promise<Response> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw await apiError(res);
  return res;
}

async function getJson<T>(url: URL, token: string): Promise<T> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw await apiError(res);
  return (await res.json()) as T;
}

/** Turns an error response (`{message, code, …}`) into a `QuireApiError`. */
export async function apiError(res: Response): Promise<QuireApiError> {
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { code?: string; message?: string };
    code = body.code ?? code;
    message = body.message ?? message;
  } catch {
    // Not JSON: keep the status line.
  }
  return new QuireApiError(res.status, code, message);
}
