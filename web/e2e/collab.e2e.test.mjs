// End to end: two users annotate, comment and reply on the real server, in real Chromium,
// through the page the server itself serves (/ and /quire.js). Run with `npm run e2e`.
//
// The test drives the UI as a user would: toolbar buttons, mouse drags for ink and for selecting
// text to highlight, typing comments and replies, going offline. The viewer is loaded the way an
// embedding page loads it (page.evaluate calling Quire.load with a token held in memory), and
// the instance API (`window.quire`) is only read, to wait for acknowledgements and the current
// page without sleeping.
//
// The document is generated (sample-pdf.mjs), so a fresh clone runs everything here; the
// real-world corpus beside the clone (../shared) adds one more test, skipped without it.
//
// Environment: QUIRE_BIN (default ../target/debug/quire), CHROMIUM_PATH (default
// /usr/bin/chromium), CI (when set, a missing corpus fails instead of skipping).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium } from "playwright-core";
import {
  backend,
  CHROMIUM,
  CHROMIUM_ARGS,
  CORPUS_PDF,
  loadViewer,
  mintToken,
  openViewer,
  SCREENSHOTS,
  serverRecords,
  startServer,
  WAIT,
  waitForAck,
  WEB,
} from "./harness.mjs";
import { samplePdf, TITLE } from "./sample-pdf.mjs";

const DOC = "sample";

describe("collaboration in the browser", () => {
  let server;
  let browser;
  let ctxA;
  let ctxB;
  let a;
  let b;
  const tokens = {};
  const ids = {};

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
    if (!existsSync(join(WEB, "dist", "quire.js"))) throw new Error("web/dist is not built: run npm run build first");
    server = await startServer();
    const uploaded = await backend(server, "POST", `/api/documents?id=${DOC}&title=Sample`, samplePdf(3), { "Content-Type": "application/pdf" });
    assert.equal(uploaded.page_count, 3);
    tokens.a = await mintToken(server, DOC, "alice", "Alice", ["read-document", "write"]);
    tokens.b = await mintToken(server, DOC, "bob", "Bob", ["read-document", "write"]);
    tokens.reader = await mintToken(server, DOC, "rita", "Rita Reader", ["read-document"]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    ctxA = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    ctxB = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    a = await ctxA.newPage();
    b = await ctxB.newPage();
    for (const [name, page] of [["A", a], ["B", b]]) {
      page.on("pageerror", (e) => console.error(`[${name}] page error:`, e));
    }
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("serves the viewer bundle and dashboard from the server root", async () => {
    for (const path of ["/", "/quire.js", "/quire.css", "/pdf.worker.min.mjs"]) {
      const res = await fetch(server.base + path);
      assert.equal(res.status, 200, `${path} should be served`);
    }
    const served = await (await fetch(`${server.base}/quire.js`)).text();
    const built = await readFile(join(WEB, "dist", "quire.js"), "utf8");
    assert.ok(served === built, "the server serves web/dist/quire.js as built (a release binary embeds dist at compile time)");
  });

  it("opens the document for both users, who see each other", async () => {
    await openViewer(a, server.base, tokens.a);
    await openViewer(b, server.base, tokens.b);
    await a.waitForSelector('.quire-root[data-connection="online"]', { timeout: WAIT });
    await a.waitForSelector('.quire-peers [data-user-id="bob"]', { timeout: WAIT });
    await b.waitForSelector('.quire-peers [data-user-id="alice"]', { timeout: WAIT });
  });

  it("A draws an ink stroke on page 2 and B sees it", async () => {
    await a.click('[data-action="next-page"]');
    await a.waitForFunction(() => window.quire.currentPage === 1, null, { timeout: WAIT });
    // B sees where A is (presence).
    await b.waitForSelector('.quire-peers [data-user-id="alice"][data-page-index="1"]', { timeout: WAIT });
    await a.click('[data-tool="ink"]');
    const box = await a.locator('.quire-page[data-page-index="1"]').boundingBox();
    const x = box.x + box.width * 0.3;
    const y = Math.max(box.y, 60) + 120;
    await a.mouse.move(x, y);
    await a.mouse.down();
    for (let i = 1; i <= 12; i++) await a.mouse.move(x + i * 12, y + Math.sin(i / 2) * 30, { steps: 2 });
    await a.mouse.up();
    const ink = a.locator('.quire-overlay[data-page-index="1"] [data-type="pspdfkit/ink"]');
    await ink.waitFor({ state: "attached", timeout: WAIT });
    ids.ink = await ink.getAttribute("data-record-id");
    await waitForAck(a, ids.ink);
    await b.waitForSelector(`[data-record-id="${ids.ink}"][data-kind="annotation"]`, { state: "attached", timeout: WAIT });
  });

  it("A highlights text on page 1 and comments on it; B sees both", async () => {
    await a.click('[data-tool="highlight"]');
    await a.fill(".quire-page-input", "1");
    await a.press(".quire-page-input", "Enter");
    await a.waitForFunction(() => window.quire.currentPage === 0, null, { timeout: WAIT });
    // Select the title's text with a mouse drag, as a user would.
    const span = a.locator('.quire-page[data-page-index="0"] .textLayer span', { hasText: TITLE }).first();
    const box = await span.boundingBox();
    await a.mouse.move(box.x + 2, box.y + box.height / 2);
    await a.mouse.down();
    await a.mouse.move(box.x + box.width - 2, box.y + box.height / 2, { steps: 8 });
    await a.mouse.up();
    const highlight = a.locator('.quire-overlay[data-page-index="0"] [data-type="pspdfkit/markup/highlight"]');
    await highlight.waitFor({ state: "attached", timeout: WAIT });
    ids.highlight = await highlight.getAttribute("data-record-id");

    // The new highlight is selected: the sidebar offers to start a thread on it.
    await a.fill('textarea[data-input="new-comment"]', "Is this title final?");
    await a.click('[data-action="add-comment"]');
    const comment = a.locator(`.quire-thread[data-root-id="${ids.highlight}"] .quire-comment`);
    await comment.waitFor({ state: "attached", timeout: WAIT });
    ids.comment = await comment.getAttribute("data-record-id");
    await waitForAck(a, ids.highlight);
    await waitForAck(a, ids.comment);

    for (const id of [ids.ink, ids.highlight, ids.comment]) {
      await b.waitForSelector(`[data-record-id="${id}"]`, { state: "attached", timeout: WAIT });
    }
    assert.equal(await b.locator(`[data-record-id="${ids.comment}"]`).getAttribute("data-kind"), "comment");

    const records = await serverRecords(server, DOC);
    const ink = records.get(ids.ink);
    assert.equal(ink.kind, "annotation");
    assert.equal(ink.content.type, "pspdfkit/ink");
    assert.equal(ink.content.pageIndex, 1);
    assert.ok(ink.content.lines.points[0].length > 5, "the stroke keeps its points");
    const hl = records.get(ids.highlight);
    assert.equal(hl.content.type, "pspdfkit/markup/highlight");
    assert.equal(hl.content.pageIndex, 0);
    assert.ok(hl.content.rects.length >= 1);
    // The title sits in the top quarter of the page (PDF points from the top-left corner).
    assert.ok(hl.content.bbox[1] > 0 && hl.content.bbox[1] < 200, `highlight top ${hl.content.bbox[1]}`);
    const c = records.get(ids.comment);
    assert.equal(c.kind, "comment");
    assert.equal(c.content.rootId, ids.highlight);
    assert.equal(c.creator, "alice");
  });

  it("B replies to the comment and A sees the reply", async () => {
    const thread = `.quire-thread[data-root-id="${ids.highlight}"]`;
    await b.fill(`${thread} textarea[data-input="reply"]`, "Not yet — see section 2.");
    await b.click(`${thread} [data-action="reply"]`);
    await a.waitForFunction(
      (sel) => document.querySelectorAll(`${sel} .quire-comment`).length === 2,
      thread,
      { timeout: WAIT },
    );
    const texts = await a.locator(`${thread} .quire-comment-text`).allTextContents();
    assert.deepEqual(texts, ["Is this title final?", "Not yet — see section 2."]);
    ids.reply = await a.locator(`${thread} .quire-comment`).nth(1).getAttribute("data-record-id");
    const reply = (await serverRecords(server, DOC)).get(ids.reply);
    assert.equal(reply.creator, "bob");
    assert.equal(reply.content.rootId, ids.highlight);
  });

  it("B resolves the thread and A sees it resolved", async () => {
    const thread = `.quire-thread[data-root-id="${ids.highlight}"]`;
    await b.click(`${thread} [data-action="resolve"]`);
    await a.waitForSelector(`${thread}[data-resolved]`, { state: "attached", timeout: WAIT });
    await b.waitForFunction((id) => window.quire.client.pendingChanges.every((p) => p.id !== id), ids.highlight, { timeout: WAIT });
    const root = (await serverRecords(server, DOC)).get(ids.highlight);
    assert.equal(root.content.customData.resolved, true);
    assert.equal(root.content.customData.resolvedBy, "Bob");
  });

  it("A reloads and everything is still there", async () => {
    await a.reload();
    await loadViewer(a, tokens.a);
    for (const id of [ids.ink, ids.highlight, ids.comment, ids.reply]) {
      await a.waitForSelector(`[data-record-id="${id}"]`, { state: "attached", timeout: WAIT });
    }
  });

  it("a read-only user sees everything and gets no editing tools", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    try {
      const page = await ctx.newPage();
      await openViewer(page, server.base, tokens.reader);
      for (const id of [ids.ink, ids.highlight, ids.comment, ids.reply]) {
        await page.waitForSelector(`[data-record-id="${id}"]`, { state: "attached", timeout: WAIT });
      }
      assert.equal(await page.locator("button[data-tool]").count(), 0, "no annotation tools");
      assert.equal(await page.locator('[data-action="delete"]').count(), 0, "no delete button");
      assert.equal(await page.locator("textarea:visible").count(), 0, "no reply or comment box");
      assert.equal(await page.locator('[data-action="resolve"]:visible').count(), 0, "no resolve button");
    } finally {
      await ctx.close();
    }
  });

  it("A draws while offline; the stroke reaches B once A is back online", async () => {
    await ctxA.setOffline(true);
    await a.waitForSelector('.quire-root[data-connection="offline"]', { timeout: WAIT });
    await a.click('[data-tool="ink"]');
    const box = await a.locator('.quire-page[data-page-index="0"]').boundingBox();
    const x = box.x + box.width * 0.2;
    const y = box.y + box.height * 0.6;
    await a.mouse.move(x, y);
    await a.mouse.down();
    await a.mouse.move(x + 150, y + 40, { steps: 10 });
    await a.mouse.up();
    const known = new Set(Object.values(ids));
    const offlineInk = await a.waitForFunction(
      (seen) => window.quire.getRecords().find((r) => r.content.type === "pspdfkit/ink" && !seen.includes(r.id))?.id,
      [...known],
      { timeout: WAIT },
    );
    ids.offlineInk = await offlineInk.jsonValue();
    assert.equal(await a.evaluate(() => window.quire.client.pendingChanges.length), 1, "queued while offline");
    assert.ok(!(await serverRecords(server, DOC)).has(ids.offlineInk), "not on the server yet");

    await ctxA.setOffline(false);
    await a.waitForSelector('.quire-root[data-connection="online"]', { timeout: WAIT });
    await waitForAck(a, ids.offlineInk);
    await b.waitForSelector(`[data-record-id="${ids.offlineInk}"]`, { state: "attached", timeout: WAIT });
    assert.ok((await serverRecords(server, DOC)).has(ids.offlineInk));
  });

  it("a stroke drawn offline survives closing the tab and is sent from the next one", async () => {
    await ctxA.setOffline(true);
    await a.waitForSelector('.quire-root[data-connection="offline"]', { timeout: WAIT });
    await a.click('[data-tool="rectangle"]');
    const box = await a.locator('.quire-page[data-page-index="0"]').boundingBox();
    await a.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.55);
    await a.mouse.down();
    await a.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.65, { steps: 5 });
    await a.mouse.up();
    const rect = a.locator('.quire-overlay[data-page-index="0"] [data-type="pspdfkit/shape/rectangle"]');
    await rect.waitFor({ state: "attached", timeout: WAIT });
    ids.offlineRect = await rect.getAttribute("data-record-id");
    // The queue is in IndexedDB once this resolves (read-only use of the client API).
    await a.evaluate(() => window.quire.client.whenSaved());
    await a.close();
    assert.ok(!(await serverRecords(server, DOC)).has(ids.offlineRect), "not sent before the tab closed");

    await ctxA.setOffline(false);
    a = await ctxA.newPage();
    await openViewer(a, server.base, tokens.a);
    await a.waitForSelector(`[data-record-id="${ids.offlineRect}"]`, { state: "attached", timeout: WAIT });
    await waitForAck(a, ids.offlineRect);
    await b.waitForSelector(`[data-record-id="${ids.offlineRect}"]`, { state: "attached", timeout: WAIT });
  });

  it("saves screenshots of both viewers", async () => {
    await b.click('.quire-thumb[data-page-index="0"]');
    await b.waitForFunction(() => window.quire.currentPage === 0, null, { timeout: WAIT });
    await a.screenshot({ path: join(SCREENSHOTS, "viewer-a.png") });
    await b.screenshot({ path: join(SCREENSHOTS, "viewer-b.png") });
  });
});

const corpusMissing = !existsSync(CORPUS_PDF);
if (corpusMissing && process.env.CI) throw new Error(`the real-world corpus is missing in CI: ${CORPUS_PDF}`);

describe("a real-world PDF in the browser", () => {
  // Skipped on the test, not the suite, so that the runner counts it as skipped.
  const skip = corpusMissing ? `no ${CORPUS_PDF} (the corpus beside the clone)` : false;
  it("renders TraceMonkey's 14 pages with its title in the text layer", { skip }, async () => {
    const server = await startServer();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const bytes = new Uint8Array(await readFile(CORPUS_PDF));
      const doc = await backend(server, "POST", "/api/documents?id=tracemonkey", bytes, { "Content-Type": "application/pdf" });
      assert.equal(doc.page_count, 14);
      const token = await mintToken(server, "tracemonkey", "rita", "Rita Reader", ["read-document"]);
      const page = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
      page.on("pageerror", (e) => console.error("[corpus] page error:", e));
      await openViewer(page, server.base, token);
      await page.locator('.quire-page[data-page-index="0"] .textLayer span', { hasText: "Trace-based" }).first().waitFor({ timeout: WAIT });
      assert.equal(await page.locator(".quire-page").count(), 14);
    } finally {
      await browser.close();
      await server.stop();
    }
  });
});
