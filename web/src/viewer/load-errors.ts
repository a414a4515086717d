/**
 * Why a document could not be opened, in words a person understands. The browser reports a
 * refused cross-origin request and a server that is down alike ("Failed to fetch"), so a
 * network failure is followed by one probe of a public file (served to every origin): if that
 * works, the server is up and this page's origin is what it refuses.
 */
import type { Strings } from "./strings";

/** The HTTP status PDF.js or the client attached to the error, if any. */
function statusOf(error: unknown): number | null {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" && status > 0 ? status : null;
}

/** Whether the error looks like a request the browser could not make or complete. */
function isNetworkFailure(error: unknown): boolean {
  if (error instanceof TypeError) return true;
  const message = error instanceof Error ? error.message : String(error);
  return /failed to fetch|networkerror|network error|load failed|websocket/i.test(message);
}

export async function explainLoadError(error: unknown, baseUrl: string, strings: Strings): Promise<string> {
  const status = statusOf(error);
  if (status === 401) return strings.sessionInvalid;
  if (status === 403) return strings.noAccess;
  if (status === 404) return strings.documentNotFound;
  const pageOrigin = globalThis.location?.origin;
  if (isNetworkFailure(error)) {
    const serverUp = await fetch(new URL("/quire.css", baseUrl), { method: "HEAD", cache: "no-store" }).then(
      (r) => r.ok,
      () => false,
    );
    if (!serverUp) return strings.serverUnreachable(baseUrl);
    if (pageOrigin && pageOrigin !== baseUrl) return strings.originNotAllowed(pageOrigin, baseUrl);
  }
  const message = error instanceof Error ? error.message : String(error);
  return strings.couldNotOpen(message);
}
