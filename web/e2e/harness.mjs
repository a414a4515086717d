// The end-to-end harness: starts the real `quire serve` binary on an ephemeral port with a
// temporary data dir, talks to its backend API, and opens viewers in headless Chromium through
// the server's own root page (dist/index.html, /quire.js).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const QUIRE_BIN = process.env.QUIRE_BIN ?? join(WEB, "..", "target", "debug", "quire");
/** A real-world PDF from the corpus beside the clone: an extra, a fresh clone may not have it. */
export const CORPUS_PDF = join(WEB, "..", "..", "shared", "testdata", "pdfs", "tracemonkey.pdf");
export const SCREENSHOTS = join(WEB, "..", "target", "e2e");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
/** How long any single wait may take before the test fails. */
export const WAIT = 20_000;

/** Starts the server; resolves once it logs its listening address. */
export async function startServer() {
  if (!existsSync(QUIRE_BIN)) throw new Error(`no server binary at ${QUIRE_BIN} (build it, or set QUIRE_BIN)`);
  const dataDir = await mkdtemp(join(tmpdir(), "quire-e2e-"));
  const apiKey = `e2e-${randomBytes(16).toString("hex")}`;
  const proc = spawn(QUIRE_BIN, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-format", "json"], {
    env: { ...process.env, QUIRE_API_KEY: apiKey },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const logs = [];
  const address = await new Promise((resolveAddr, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not report listening within ${WAIT} ms:\n${logs.join("\n")}`)), WAIT);
    proc.once("exit", (code) => reject(new Error(`the server exited with ${code}:\n${logs.join("\n")}`)));
    createInterface({ input: proc.stderr }).on("line", (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line);
        const fields = entry.fields ?? entry;
        if (fields.message === "listening" && fields.addr) {
          clearTimeout(timer);
          resolveAddr(fields.addr);
        }
      } catch {
        // Not JSON: keep it for the error message.
      }
    });
  });
  const base = `http://${address}`;
  return {
    base,
    apiKey,
    logs,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A backend API call with the API key; throws with the server's error body on failure. */
export async function backend(server, method, path, body, headers = {}) {
  const init = { method, headers: { Authorization: `Bearer ${server.apiKey}`, ...headers } };
  if (body !== undefined) {
    if (body instanceof Uint8Array) init.body = body;
    else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  const res = await fetch(server.base + path, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Mints a session token for one user. */
export async function mintToken(server, documentId, userId, userName, permissions, extra = {}) {
  const grant = await backend(server, "POST", "/api/sessions", {
    document_id: documentId,
    user_id: userId,
    user_name: userName,
    permissions,
    expires_in: 3600,
    ...extra,
  });
  return grant.token;
}

/**
 * Opens the server's root page and loads the viewer into a full-page container with the token
 * (passed to the page in memory, never in a URL). Resolves once page 1's text is on screen.
 */
export async function openViewer(page, base, token) {
  await page.goto(`${base}/`);
  await loadViewer(page, token);
}

export async function loadViewer(page, token) {
  await page.waitForFunction(() => typeof window.Quire?.load === "function", null, { timeout: WAIT });
  await page.evaluate(async (session) => {
    document.body.replaceChildren();
    const container = document.createElement("div");
    container.id = "e2e-viewer";
    container.style.cssText = "position:fixed;inset:0";
    document.body.append(container);
    window.quire = await window.Quire.load({ container, session });
  }, token);
  await page.waitForSelector('.quire-page[data-page-index="0"] .textLayer span', { timeout: WAIT });
}

/** Records on the server, straight from the backend API (not through any viewer). */
export async function serverRecords(server, documentId) {
  const body = await backend(server, "GET", `/api/documents/${encodeURIComponent(documentId)}/records`);
  return new Map(body.records.map((r) => [r.id, r]));
}

/**
 * Waits until the viewer's own change to `id` is acknowledged. Quire acks a change only once it
 * is committed, so after this the backend API must return it.
 */
export async function waitForAck(page, id) {
  await page.waitForFunction(
    (rid) => window.quire.getRecord(rid) !== undefined && window.quire.client.pendingChanges.every((p) => p.id !== rid),
    id,
    { timeout: WAIT },
  );
}
