// End to end: the viewer as a product (issue 12). Each test drives the UI as a user would, in
// real Chromium against the real server, and checks one thing that used to be broken: editing
// notes in place, reading others' notes, rotated pages, forms, a delete during a drag, the note
// editor at the page edge, anchored highlights, select-then-highlight, the layout at common
// widths, lazy loading of a large PDF and errors in plain words.
//
// The instance API (`window.quire`) is read to wait for acknowledgements; it is written only to
// provoke a server rejection the UI itself never sends.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium } from "playwright-core";
import { backend, CHROMIUM, CHROMIUM_ARGS, loadViewer, mintToken, openViewer, SCREENSHOTS, serverRecords, startServer, WAIT, waitForAck, WEB } from "./harness.mjs";
import { FORM_FIELDS, formPdf, samplePdf, TITLE } from "./sample-pdf.mjs";

// Work in progress: these fail until their fix lands (each commit removes its marker).

const DOC = "product";
const FORM = "form";
const LARGE_PDF = join(WEB, "..", "..", "shared", "testdata", "pdfs", "freeculture.pdf");

describe("the viewer as a product", () => {
  let server;
  let browser;
  const tokens = {};
  const contexts = [];
  const errors = [];

  /** A fresh browser context and page of the given size, with page errors collected. */
  async function newPage(name, options = {}) {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...options });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on("pageerror", (e) => errors.push(`[${name}] ${e.message}`));
    return page;
  }

  async function open(name, token, options) {
    const page = await newPage(name, options);
    await openViewer(page, server.base, token);
    return page;
  }

  /** Drags the mouse from one point to another in steps. */
  async function drag(page, [x1, y1], [x2, y2], { release = true } = {}) {
    await page.mouse.move(x1, y1);
    await page.mouse.down();
    await page.mouse.move(x2, y2, { steps: 6 });
    if (release) await page.mouse.up();
  }

  /** Places a note with the note tool at a point of page 1 and types its text. */
  async function placeNote(page, at, text) {
    await page.click('[data-tool="note"]');
    await page.mouse.click(at[0], at[1]);
    const editor = page.locator('textarea[data-input="annotation-text"]');
    await editor.waitFor({ timeout: WAIT });
    await editor.fill(text);
    await editor.press("Control+Enter");
    const id = await page.waitForFunction(
      (t) => window.quire.getRecords().find((r) => r.content.type === "pspdfkit/note" && r.content.text?.value === t)?.id,
      text,
      { timeout: WAIT },
    );
    return id.jsonValue();
  }

  async function pageBox(page, index = 0) {
    return page.locator(`.quire-page[data-page-index="${index}"]`).boundingBox();
  }

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}`);
    server = await startServer();
    await backend(server, "POST", `/api/documents?id=${DOC}&title=Product`, samplePdf(3, { rotateLast: 90 }), { "Content-Type": "application/pdf" });
    await backend(server, "POST", `/api/documents?id=${FORM}&title=Form`, formPdf(), { "Content-Type": "application/pdf" });
    tokens.a = await mintToken(server, DOC, "alice", "Alice", ["read-document", "write"]);
    tokens.b = await mintToken(server, DOC, "bob", "Bob", ["read-document", "write"]);
    tokens.downloader = await mintToken(server, DOC, "dora", "Dora", ["read-document", "download"]);
    tokens.formA = await mintToken(server, FORM, "alice", "Alice", ["read-document", "write"]);
    tokens.formB = await mintToken(server, FORM, "bob", "Bob", ["read-document", "write"]);
    tokens.formReader = await mintToken(server, FORM, "rita", "Rita", ["read-document"]);
    tokens.self = await mintToken(server, DOC, "carol", "Carol", ["read-document", "write"], {
      collaboration_permissions: ["annotations:view:all", "annotations:edit:self", "annotations:delete:self", "comments:view:all"],
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    for (const ctx of contexts) await ctx.close().catch(() => {});
    await browser?.close();
    await server?.stop();
  });

  it("1-2: a note is edited in place by its author; others read it in a popup and the sidebar", async () => {
    const a = await open("A", tokens.a);
    const b = await open("B", tokens.b);
    const box = await pageBox(a);
    const id = await placeNote(a, [box.x + 120, box.y + 300], "First draft");
    await waitForAck(a, id);
    // Select tool, double-click the note: the editor opens with its text.
    const note = a.locator(`.quire-overlay [data-record-id="${id}"]`);
    await note.dblclick();
    const editor = a.locator('textarea[data-input="annotation-text"]');
    await editor.waitFor({ timeout: WAIT });
    assert.equal(await editor.inputValue(), "First draft");
    await editor.fill("Second draft");
    await editor.press("Control+Enter");
    await a.waitForFunction((rid) => window.quire.getRecord(rid)?.content.text?.value === "Second draft", id, { timeout: WAIT });
    await waitForAck(a, id);
    // B: the note is listed in the sidebar with its text, and clicking it opens a popup.
    await b.locator(".quire-comments", { hasText: "Second draft" }).waitFor({ timeout: WAIT });
    await b.locator(`.quire-overlay [data-record-id="${id}"]`).click();
    const popup = b.locator(".quire-note-popup");
    await popup.waitFor({ timeout: WAIT });
    assert.match(await popup.textContent(), /Second draft/);
    assert.match(await popup.textContent(), /Alice/);
    assert.deepEqual(errors, []);
  });

  it("3: a rotated page's text layer lies on the rotated text", async () => {
    const a = await open("A3", tokens.a);
    await a.fill(".quire-page-input", "3");
    await a.press(".quire-page-input", "Enter");
    const span = a.locator('.quire-page[data-page-index="2"] .textLayer span', { hasText: "Section 3" }).first();
    await span.waitFor({ timeout: WAIT });
    const s = await span.boundingBox();
    const p = await pageBox(a, 2);
    // Rotated 90° clockwise, the page is landscape and its lines run top to bottom, near the right edge.
    assert.ok(p.width > p.height, "the rotated page is shown landscape");
    assert.ok(s.height > s.width * 2, `the heading runs vertically (${s.width}×${s.height})`);
    assert.ok(s.x > p.x + p.width / 2 && s.x + s.width <= p.x + p.width + 1, "the heading is in the right half of the page");
    assert.ok(s.y >= p.y - 1 && s.y + s.height <= p.y + p.height + 1, "within the page");
  });

  it("4: forms are filled in the page, synced by fully qualified name, kept over a reload, and read-only without rights", async () => {
    const a = await open("FA", tokens.formA);
    const b = await open("FB", tokens.formB);
    const field = (page, name) => page.locator(`.annotationLayer [name="${name}"]`);
    // The value in the PDF shows until changed.
    await field(a, FORM_FIELDS.text).waitFor({ timeout: WAIT });
    assert.equal(await field(a, FORM_FIELDS.text).inputValue(), "Ada");
    await field(a, FORM_FIELDS.text).fill("Grace Hopper");
    await field(a, FORM_FIELDS.text).press("Tab");
    await field(a, FORM_FIELDS.checkbox).check();
    await a.locator(`.annotationLayer input[name="${FORM_FIELDS.radio}"]`).nth(1).check();
    await field(a, FORM_FIELDS.choice).selectOption("Blue");
    await a.waitForFunction(
      () => window.quire.getRecords().filter((r) => r.kind === "form_field").length === 4 && window.quire.client.pendingChanges.length === 0,
      null,
      { timeout: WAIT },
    );
    const values = new Map([...(await serverRecords(server, FORM)).values()].filter((r) => r.kind === "form_field").map((r) => [r.content.name, r.content.value]));
    assert.deepEqual(Object.fromEntries(values), { "person.name": "Grace Hopper", agree: true, size: "M", colour: "Blue" });
    const check = async (page) => {
      await page.waitForFunction((n) => document.querySelector(`.annotationLayer [name="${n}"]`)?.value === "Grace Hopper", FORM_FIELDS.text, { timeout: WAIT });
      assert.equal(await field(page, FORM_FIELDS.checkbox).isChecked(), true);
      assert.equal(await page.locator(`.annotationLayer input[name="${FORM_FIELDS.radio}"]`).nth(1).isChecked(), true);
      assert.equal(await page.locator(`.annotationLayer input[name="${FORM_FIELDS.radio}"]`).nth(0).isChecked(), false);
      assert.equal(await field(page, FORM_FIELDS.choice).inputValue(), "Blue");
    };
    await check(b);
    await b.reload();
    await loadViewer(b, tokens.formB);
    await check(b);
    // B changes one value back; A sees it.
    await field(b, FORM_FIELDS.checkbox).uncheck();
    await a.waitForFunction((n) => document.querySelector(`.annotationLayer [name="${n}"]`)?.checked === false, FORM_FIELDS.checkbox, { timeout: WAIT });
    // Without form-fields:fill (here: no write at all) the fields show the values but are locked.
    const r = await open("FR", tokens.formReader);
    await check(r).catch(() => {}); // values may still be arriving; the lock is what matters
    await r.waitForFunction((n) => document.querySelector(`.annotationLayer [name="${n}"]`)?.disabled === true, FORM_FIELDS.text, { timeout: WAIT });
    assert.equal(await field(r, FORM_FIELDS.choice).isDisabled(), true);
    assert.deepEqual(errors, []);
  });

  it("5: deleting an annotation another user is dragging raises no error", async () => {
    const a = await open("A5", tokens.a);
    const b = await open("B5", tokens.b);
    const box = await pageBox(a);
    await a.click('[data-tool="rectangle"]');
    await drag(a, [box.x + 300, box.y + 400], [box.x + 400, box.y + 460]);
    const rect = a.locator('.quire-overlay [data-type="pspdfkit/shape/rectangle"]').last();
    await rect.waitFor({ state: "attached", timeout: WAIT });
    const id = await rect.getAttribute("data-record-id");
    await waitForAck(a, id);
    await a.click('[data-tool="select"]');
    // A grabs the rectangle's edge and starts dragging…
    await drag(a, [box.x + 301, box.y + 430], [box.x + 330, box.y + 470], { release: false });
    // …while B deletes it.
    await b.locator(`.quire-overlay [data-record-id="${id}"]`).waitFor({ state: "attached", timeout: WAIT });
    await b.locator(`.quire-overlay [data-record-id="${id}"] .quire-hit-area`).first().click({ position: { x: 2, y: 20 } });
    await b.keyboard.press("Delete");
    await a.waitForFunction((rid) => window.quire.getRecord(rid) === undefined, id, { timeout: WAIT });
    await a.mouse.move(box.x + 350, box.y + 480, { steps: 3 });
    await a.mouse.up();
    assert.equal(await a.locator(`[data-record-id="${id}"]`).count(), 0);
    assert.equal(await a.evaluate(() => window.quire.client.pendingChanges.length), 0, "no update was sent for the deleted record");
    assert.deepEqual(errors, []);
  });

  it("6: the note editor fits on the page; highlights stay on their text; select, then Highlight", async () => {
    const a = await open("A6", tokens.a);
    const box = await pageBox(a);
    await a.click('[data-tool="note"]');
    await a.mouse.click(box.x + box.width - 8, box.y + 500);
    const editor = a.locator('textarea[data-input="annotation-text"]');
    await editor.waitFor({ timeout: WAIT });
    const e = await editor.boundingBox();
    assert.ok(e.x + e.width <= box.x + box.width + 1, `the editor ends at ${e.x + e.width}, the page at ${box.x + box.width}`);
    await editor.press("Escape");

    // Select the title's text first, then press Highlight.
    await a.click('[data-tool="select"]');
    const span = a.locator('.quire-page[data-page-index="0"] .textLayer span', { hasText: TITLE }).first();
    const s = await span.boundingBox();
    await drag(a, [s.x + 2, s.y + s.height / 2], [s.x + s.width - 2, s.y + s.height / 2]);
    await a.click('[data-tool="highlight"]');
    const hl = a.locator('.quire-overlay[data-page-index="0"] [data-type="pspdfkit/markup/highlight"]').last();
    await hl.waitFor({ state: "attached", timeout: WAIT });
    const id = await hl.getAttribute("data-record-id");
    await waitForAck(a, id);
    const before = await a.evaluate((rid) => window.quire.getRecord(rid).content.bbox, id);
    // Dragging the highlight does not move it off its text.
    await a.click('[data-tool="select"]');
    const h = await hl.boundingBox();
    await drag(a, [h.x + h.width / 2, h.y + h.height / 2], [h.x + h.width / 2 + 80, h.y + h.height / 2 + 120]);
    assert.deepEqual(await a.evaluate((rid) => window.quire.getRecord(rid).content.bbox, id), before);
    assert.equal(await a.evaluate(() => window.quire.client.pendingChanges.length), 0);
  });

  it("underline, strikeout and squiggly mark the selected text", async () => {
    const a = await open("markup", tokens.a);
    for (const [tool, line] of [["underline", 11], ["strikeout", 12], ["squiggly", 13]]) {
      const span = a.locator('.quire-page[data-page-index="0"] .textLayer span', { hasText: `line ${line}:` }).first();
      const s = await span.boundingBox();
      await a.click('[data-tool="select"]');
      await drag(a, [s.x + 2, s.y + s.height / 2], [s.x + s.width - 2, s.y + s.height / 2]);
      await a.click(`[data-tool="${tool}"]`);
      const el = a.locator(`.quire-overlay[data-page-index="0"] [data-type="pspdfkit/markup/${tool}"]`).last();
      await el.waitFor({ state: "attached", timeout: WAIT });
      const id = await el.getAttribute("data-record-id");
      await waitForAck(a, id);
      const record = (await serverRecords(server, DOC)).get(id);
      assert.equal(record.content.rects.length, 1);
      // On its line: the markup's box overlaps the span's.
      const m = await el.boundingBox();
      assert.ok(m.y < s.y + s.height && m.y + m.height > s.y, `${tool} is on line ${line}`);
    }
  });

  it("axe-core finds no serious or critical accessibility violations in the viewer and the dashboard", async () => {
    const axe = await readFile(join(WEB, "node_modules", "axe-core", "axe.min.js"), "utf8");
    // The served pages' CSP forbids inline scripts; axe is the test's own instrument.
    const audit = async (page) => {
      await page.evaluate(axe);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
      return result.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
    };
    const dashboard = await newPage("axe-dashboard", { bypassCSP: true });
    await dashboard.goto(`${server.base}/`);
    await dashboard.waitForLoadState("load");
    assert.deepEqual(await audit(dashboard), [], "dashboard");
    const viewer = await newPage("axe-viewer", { bypassCSP: true });
    await openViewer(viewer, server.base, tokens.a);
    await viewer.waitForSelector(".quire-root[data-connection='online']", { timeout: WAIT });
    assert.deepEqual(await audit(viewer), [], "viewer");
  });

  it("the Annotations tab lists annotations by page with author and thread badge; a click jumps to one; thumbnails show annotations; @mentions", async () => {
    const a = await open("list", tokens.a);
    await a.click('[data-action="next-page"]');
    await a.waitForFunction(() => window.quire.currentPage === 1, null, { timeout: WAIT });
    const box = await pageBox(a, 1);
    await a.click('[data-tool="rectangle"]');
    const top = Math.max(box.y, 80) + 100;
    await drag(a, [box.x + 100, top], [box.x + 200, top + 60]);
    const rect = a.locator('.quire-overlay[data-page-index="1"] [data-type="pspdfkit/shape/rectangle"]').last();
    await rect.waitFor({ state: "attached", timeout: WAIT });
    const id = await rect.getAttribute("data-record-id");
    // The page's thumbnail shows it too.
    await a.locator('.quire-thumb[data-page-index="1"] .quire-thumb-marks [data-type="pspdfkit/shape/rectangle"]').first().waitFor({ state: "attached", timeout: WAIT });
    await a.click('[data-tool="select"]');
    await a.locator(`.quire-overlay [data-record-id="${id}"] .quire-hit-area`).first().click({ position: { x: 2, y: 20 } });
    // Bob has written in this document (he is a known user): @Bob is a mention.
    await a.fill('textarea[data-input="new-comment"]', "Why this box? @Bob");
    await a.click('[data-action="add-comment"]');
    const mention = a.locator(`.quire-thread[data-root-id="${id}"] mark.quire-mention[data-user-id="bob"]`);
    await mention.waitFor({ timeout: WAIT });
    assert.equal(await mention.textContent(), "@Bob");
    const comment = await (await a.waitForFunction((rid) => window.quire.getRecords().find((r) => r.kind === "comment" && r.content.rootId === rid), id, { timeout: WAIT })).jsonValue();
    assert.deepEqual(comment.content.customData.mentions, ["bob"]);
    await a.click('[data-tab="annotations"]');
    const item = a.locator(`.quire-annotation-item[data-annotation-id="${id}"]`);
    await item.waitFor({ timeout: WAIT });
    assert.match(await item.textContent(), /Rectangle/);
    assert.match(await item.textContent(), /Alice/);
    assert.equal(await item.locator(".quire-badge").textContent(), "1");
    const heading = await a.evaluate((rid) => {
      const li = document.querySelector(`[data-annotation-id="${rid}"]`).closest("li");
      let el = li.previousElementSibling;
      while (el && !el.classList.contains("quire-annotation-page")) el = el.previousElementSibling;
      return el?.textContent;
    }, id);
    assert.equal(heading, "Page 2");
    await a.fill(".quire-page-input", "1");
    await a.press(".quire-page-input", "Enter");
    await a.waitForFunction(() => window.quire.currentPage === 0, null, { timeout: WAIT });
    await item.click();
    await a.waitForFunction(() => window.quire.currentPage === 1, null, { timeout: WAIT });
    await a.waitForSelector(`.quire-selection[data-selected-id="${id}"]`, { state: "attached", timeout: WAIT });
  });

  it("zoom: presets, fit page, and Ctrl+wheel around the pointer", async () => {
    const a = await open("zoom", tokens.a);
    await a.selectOption(".quire-zoom-label", "2");
    await a.waitForFunction(() => Math.abs(window.quire.zoom - 2) < 1e-6, null, { timeout: WAIT });
    await a.selectOption(".quire-zoom-label", "fit-page");
    const p = await pageBox(a);
    const scroller = await a.locator(".quire-pages").boundingBox();
    assert.ok(p.height <= scroller.height && p.height > scroller.height * 0.8, `fit page: ${p.height} in ${scroller.height}`);
    // Ctrl+wheel over a line of text: the zoom grows and the line stays under the pointer.
    const span = a.locator('.quire-page[data-page-index="0"] .textLayer span', { hasText: "line 8:" }).first();
    const before = await span.boundingBox();
    const at = [before.x + 40, before.y + before.height / 2];
    const zoom = await a.evaluate(() => window.quire.zoom);
    await a.mouse.move(at[0], at[1]);
    await a.keyboard.down("Control");
    await a.mouse.wheel(0, -100);
    await a.keyboard.up("Control");
    await a.waitForFunction((z) => window.quire.zoom > z * 1.2, zoom, { timeout: WAIT });
    const after = await span.boundingBox();
    assert.ok(after.y <= at[1] && after.y + after.height >= at[1] - 2, `the line stays under the pointer (${after.y}–${after.y + after.height} vs ${at[1]})`);
    assert.ok(after.x <= at[0], "and so does its start");
  });

  it("a bar over selected text offers Highlight, Underline, Comment and Copy", async () => {
    const a = await open("popup", tokens.a);
    const select = async (line) => {
      const span = a.locator('.quire-page[data-page-index="0"] .textLayer span', { hasText: `line ${line}:` }).first();
      const s = await span.boundingBox();
      await drag(a, [s.x + 2, s.y + s.height / 2], [s.x + s.width - 2, s.y + s.height / 2]);
      await a.locator(".quire-selection-popup:not([hidden])").waitFor({ timeout: WAIT });
    };
    await select(16);
    const known = await a.evaluate(() => window.quire.getRecords().map((r) => r.id));
    await a.click('[data-action="selection-underline"]');
    const underline = await a.waitForFunction(
      (seen) => window.quire.getRecords().find((r) => !seen.includes(r.id) && r.content.type === "pspdfkit/markup/underline")?.id,
      known,
      { timeout: WAIT },
    );
    await waitForAck(a, await underline.jsonValue());
    assert.equal(await a.locator(".quire-selection-popup:not([hidden])").count(), 0, "the bar goes away after an action");

    await select(17);
    await a.click('[data-action="selection-comment"]');
    const box = a.locator('textarea[data-input="new-comment"]');
    await a.waitForFunction(() => document.activeElement?.getAttribute("data-input") === "new-comment", null, { timeout: WAIT });
    await box.fill("About this line");
    await box.press("Control+Enter");
    const comment = await a.waitForFunction(
      () => window.quire.getRecords().find((r) => r.kind === "comment" && r.content.text?.value === "About this line"),
      null,
      { timeout: WAIT },
    );
    const { content } = await comment.jsonValue();
    assert.equal(await a.evaluate((id) => window.quire.getRecord(id)?.content.type, content.rootId), "pspdfkit/markup/highlight");
  });

  it("dashboard: file name as title, permissions as checkboxes, revoke a token, delete a document", async () => {
    const page = await newPage("dashboard", { bypassCSP: true });
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${server.base}/`);
    await page.fill('input[name="api-key"]', server.apiKey);
    await page.click('button[type="submit"]');
    await page.setInputFiles('input[name="file"]', { name: "Quarterly report.pdf", mimeType: "application/pdf", buffer: Buffer.from(samplePdf(2)) });
    await page.click('.dash-upload button[type="submit"]');
    const row = page.locator("tr[data-document-id]", { hasText: "Quarterly report" });
    await row.waitFor({ timeout: WAIT });
    const id = await row.getAttribute("data-document-id");
    assert.equal((await backend(server, "GET", `/api/documents/${id}`)).title, "Quarterly report");
    // The signed-in dashboard passes axe too.
    const axe = await readFile(join(WEB, "node_modules", "axe-core", "axe.min.js"), "utf8");
    await page.evaluate(axe);
    await row.locator('[data-action="open-as"]').click();
    const serious = await page.evaluate(async () =>
      (await window.axe.run(document)).violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes[0]?.target}`),
    );
    assert.deepEqual(serious, []);
    await page.check('input[value="annotations:view:all"]');
    await page.check('input[value="annotations:edit:self"]');
    await page.click('.dash-open-as button[type="submit"]');
    await page.waitForSelector('#viewer .quire-root[data-connection="online"]', { timeout: WAIT });
    const grant = await page.evaluate(() => window.Quire && document.querySelector(".dash-tokens li")?.dataset.revocationId);
    assert.ok(grant, "the minted token is listed");
    // Revoking closes the open session.
    await page.click("#viewer-revoke");
    await page.waitForSelector("#viewer .quire-banner", { timeout: WAIT });
    await page.click("#viewer-close");
    await page.locator(".dash-tokens li", { hasText: "revoked" }).waitFor({ timeout: WAIT });
    await row.locator('[data-action="delete-document"]').click();
    await row.waitFor({ state: "detached", timeout: WAIT });
    await assert.rejects(backend(server, "GET", `/api/documents/${id}`), /404/);
  });

  it("style: any colour, line width, opacity and fill, for new shapes and the selected one", async () => {
    const a = await open("style", tokens.a);
    await a.click('[data-tool="rectangle"]');
    await a.click('[data-action="style"]');
    await a.locator('[data-input="style-color"]').fill("#00aa55");
    await a.focus('[data-input="style-width"]');
    for (let i = 0; i < 4; i++) await a.keyboard.press("ArrowRight");
    await a.focus('[data-input="style-opacity"]');
    for (let i = 0; i < 4; i++) await a.keyboard.press("ArrowLeft");
    await a.check('[data-input="style-fill-on"]');
    await a.click('[data-action="style"]');
    const box = await pageBox(a, 0);
    const known = await a.evaluate(() => window.quire.getRecords().map((r) => r.id));
    await drag(a, [box.x + box.width - 200, box.y + 150], [box.x + box.width - 120, box.y + 200]);
    const id = await (
      await a.waitForFunction((seen) => window.quire.getRecords().find((r) => !seen.includes(r.id) && r.content.type === "pspdfkit/shape/rectangle")?.id, known, { timeout: WAIT })
    ).jsonValue();
    await waitForAck(a, id);
    const created = (await serverRecords(server, DOC)).get(id).content;
    assert.equal(created.strokeColor, "#00aa55");
    assert.equal(created.strokeWidth, 6);
    assert.equal(created.opacity, 0.8);
    assert.equal(created.fillColor, "#ffd400");
    // The new rectangle is selected: changing the opacity changes it.
    await a.click('[data-tool="select"]');
    await a.evaluate((rid) => window.quire.select(rid), id);
    await a.click('[data-action="style"]');
    await a.focus('[data-input="style-opacity"]');
    await a.keyboard.press("ArrowLeft");
    await a.waitForFunction((rid) => window.quire.getRecord(rid)?.content.opacity === 0.75, id, { timeout: WAIT });
    await waitForAck(a, id);

    // Free text: size, background (fill) and border (width).
    await a.click('[data-action="style"]');
    await a.click('[data-tool="text"]');
    await a.mouse.click(box.x + 80, box.y + 650);
    const editor = a.locator('textarea[data-input="annotation-text"]');
    await editor.fill("Boxed");
    await editor.press("Control+Enter");
    const text = await (
      await a.waitForFunction((seen) => window.quire.getRecords().find((r) => !seen.includes(r.id) && r.content.type === "pspdfkit/text")?.id, known, { timeout: WAIT })
    ).jsonValue();
    const before = await a.evaluate((rid) => window.quire.getRecord(rid).content.bbox, text);
    await a.click('[data-action="style"]');
    await a.fill('[data-input="style-font-size"]', "24");
    await a.press('[data-input="style-font-size"]', "Enter");
    await a.waitForFunction((rid) => window.quire.getRecord(rid)?.content.fontSize === 24, text, { timeout: WAIT });
    await a.focus('[data-input="style-width"]');
    await a.keyboard.press("ArrowLeft");
    await a.waitForFunction((rid) => window.quire.getRecord(rid)?.content.borderWidth === 5, text, { timeout: WAIT });
    await waitForAck(a, text);
    const styled = (await serverRecords(server, DOC)).get(text).content;
    assert.equal(styled.backgroundColor, "#ffd400", "the fill (still on) is the background");
    assert.ok(styled.bbox[2] > before[2], "the box grows with the text");
  });

  it("touch: one finger draws with the ink tool, two fingers pinch-zoom", async () => {
    const a = await open("touch", tokens.a, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    const cdp = await a.context().newCDPSession(a);
    const touch = (type, points) => cdp.send("Input.dispatchTouchEvent", { type, touchPoints: points.map(([x, y], id) => ({ x, y, id })) });
    const box = await pageBox(a);
    const known = await a.evaluate(() => window.quire.getRecords().map((r) => r.id));
    // At 390 px the tools are in the toolbar menu; picking one closes it.
    await a.locator('[data-action="toolbar-menu"]').tap();
    await a.locator('[data-tool="ink"]').tap();
    assert.equal(await a.locator('[data-action="toolbar-menu"]').getAttribute("aria-expanded"), "false");
    const [x, y] = [box.x + 60, box.y + 200];
    await touch("touchStart", [[x, y]]);
    for (let i = 1; i <= 8; i++) await touch("touchMove", [[x + i * 10, y + i * 4]]);
    await touch("touchEnd", []);
    await a.waitForFunction((seen) => window.quire.getRecords().some((r) => !seen.includes(r.id) && r.content.type === "pspdfkit/ink"), known, { timeout: WAIT });

    // Back to the Select tool with Escape (in Chromium a tap right after a CDP-dispatched touch
    // sequence gets no click event).
    await a.keyboard.press("Escape");
    assert.equal(await a.locator('button[data-tool="select"]').getAttribute("aria-pressed"), "true");
    const zoom = await a.evaluate(() => window.quire.zoom);
    const [cx, cy] = [box.x + box.width / 2, box.y + 300];
    await touch("touchStart", [[cx - 30, cy], [cx + 30, cy]]);
    for (let i = 1; i <= 6; i++) await touch("touchMove", [[cx - 30 - i * 10, cy], [cx + 30 + i * 10, cy]]);
    await touch("touchEnd", []);
    await a.waitForFunction((z) => window.quire.zoom > z * 1.5, zoom, { timeout: WAIT });
  });

  it("polygon, polyline and stamp tools from the More tools menu", async () => {
    const a = await open("shapes", tokens.a);
    const box = await pageBox(a, 0);
    const known = await a.evaluate(() => window.quire.getRecords().map((r) => r.id));
    const fresh = async (type) =>
      (await a.waitForFunction(([seen, t]) => window.quire.getRecords().find((r) => !seen.includes(r.id) && r.content.type === t)?.id, [known, type], { timeout: WAIT })).jsonValue();
    const at = (fx, fy) => [box.x + box.width * fx, box.y + 700 * fy];
    // Polygon: three clicks and a double-click.
    await a.click('[data-action="more-tools"]');
    await a.click('.quire-menu-item[data-tool="polygon"]');
    for (const [fx, fy] of [[0.6, 0.2], [0.8, 0.2], [0.7, 0.4]]) await a.mouse.click(...at(fx, fy));
    await a.mouse.dblclick(...at(0.65, 0.35));
    const polygon = await fresh("pspdfkit/shape/polygon");
    // Polyline: two clicks and Enter.
    await a.click('[data-action="more-tools"]');
    await a.click('.quire-menu-item[data-tool="polyline"]');
    await a.mouse.click(...at(0.6, 0.5));
    await a.mouse.click(...at(0.8, 0.55));
    await a.keyboard.press("Enter");
    const polyline = await fresh("pspdfkit/shape/polyline");
    // A standard stamp.
    await a.click('[data-action="more-tools"]');
    await a.click('.quire-menu-item[data-stamp="Rejected"]');
    await a.mouse.click(...at(0.7, 0.7));
    const stamp = await fresh("pspdfkit/stamp");
    for (const id of [polygon, polyline, stamp]) await waitForAck(a, id);
    const records = await serverRecords(server, DOC);
    assert.ok(records.get(polygon).content.points.length >= 3);
    assert.equal(records.get(polyline).content.points.length, 2);
    assert.equal(records.get(stamp).content.stampType, "Rejected");
    assert.equal(await a.locator(`[data-record-id="${stamp}"] text`).textContent(), "REJECTED");
  });

  it("an image stamp from a picked picture, downscaled into the record, is seen by another user", async () => {
    const a = await open("image-a", tokens.a);
    const b = await open("image-b", tokens.b);
    const box = await pageBox(a, 0);
    const known = await a.evaluate(() => window.quire.getRecords().map((r) => r.id));
    // A 1200×800 PNG of noise (it does not compress: far over the record budget as it is).
    const png = Buffer.from(
      await a.evaluate(() => {
        const c = document.createElement("canvas");
        [c.width, c.height] = [1200, 800];
        const ctx = c.getContext("2d");
        const img = ctx.createImageData(1200, 800);
        for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 2654435761) % 251;
        ctx.putImageData(img, 0, 0);
        return c.toDataURL("image/png").split(",")[1];
      }),
      "base64",
    );
    assert.ok(png.length > 64 * 1024 && png.length <= 1024 * 1024, `the picture is ${png.length} bytes`);
    await a.click('[data-action="more-tools"]');
    await a.locator('input[data-input="image-stamp"]').setInputFiles({ name: "seal.png", mimeType: "image/png", buffer: png });
    await a.waitForFunction(() => document.querySelector('.quire-root')?.getAttribute("data-tool") === "stamp", null, { timeout: WAIT });
    await a.mouse.click(box.x + box.width * 0.5, box.y + 300);
    const id = await (
      await a.waitForFunction((seen) => window.quire.getRecords().find((r) => !seen.includes(r.id) && r.content.type === "pspdfkit/image")?.id, known, { timeout: WAIT })
    ).jsonValue();
    await waitForAck(a, id);
    const content = (await serverRecords(server, DOC)).get(id).content;
    assert.match(content.customData.imageDataUrl, /^data:image\/jpeg;base64,/);
    assert.ok(JSON.stringify(content).length <= 64 * 1024, "the record fits the server's limit");
    const [, , w, h] = content.bbox;
    assert.ok(Math.max(w, h) <= 200 && Math.abs(w / h - 1.5) < 0.05, `scaled to fit, shape kept (${w}×${h})`);
    // Bob sees the picture drawn as an SVG <image>.
    const image = b.locator(`[data-record-id="${id}"] image`);
    await image.waitFor({ timeout: WAIT });
    assert.equal(await image.getAttribute("href"), content.customData.imageDataUrl);
  });

  it("finds text in the document: count, next, previous, highlight", async () => {
    const a = await open("find", tokens.a);
    await a.click('[data-action="find"]');
    await a.fill(".quire-find-input", "LINE 2");
    await a.press(".quire-find-input", "Enter");
    // "line 2" and "line 20".."line 24" on each of the 3 pages (the rotated page too).
    await a.waitForSelector('.quire-find[data-matches="18"]', { timeout: WAIT });
    assert.equal(await a.locator(".quire-find-count").textContent(), "1 of 18");
    const current = a.locator('.quire-page[data-page-index="0"] .textLayer span.quire-find-current');
    await current.waitFor({ timeout: WAIT });
    assert.match(await current.textContent(), /line 2:/);
    // Previous from the first wraps to the last, on page 3.
    await a.click('[data-action="find-previous"]');
    await a.locator('.quire-page[data-page-index="2"] .textLayer span.quire-find-current').waitFor({ timeout: WAIT });
    assert.equal(await a.locator(".quire-find-count").textContent(), "18 of 18");
    assert.equal(await a.evaluate(() => window.quire.currentPage), 2);
    // A match spanning two text runs (the end of line 1 and the start of line 2, two spans of
    // the text layer): found once, both spans marked as the current match.
    await a.fill(".quire-find-input", "comment on. Page 1 of 3, line 2:");
    await a.press(".quire-find-input", "Enter");
    await a.waitForSelector('.quire-find[data-matches="1"]', { timeout: WAIT });
    const spanning = a.locator('.quire-page[data-page-index="0"] .textLayer span.quire-find-current');
    await spanning.first().waitFor({ timeout: WAIT });
    assert.deepEqual(
      (await spanning.allTextContents()).map((t) => t.match(/line \d+/)?.[0]),
      ["line 1", "line 2"],
    );
    await a.fill(".quire-find-input", "no such words");
    await a.press(".quire-find-input", "Enter");
    await a.waitForSelector('.quire-find[data-matches="0"]', { timeout: WAIT });
    assert.equal(await a.locator(".quire-find-count").textContent(), "No matches");
  });

  it("prints every page and downloads the original and the annotated PDF only with the download permission", async () => {
    const a = await open("print", tokens.a);
    assert.equal(await a.locator('[data-action="download"]').count(), 0, "no download without the permission");
    // The print dialog can't be driven headless: record what is ready when print() is called.
    await a.evaluate(() => {
      window.print = () => {
        window.printed = [...document.querySelectorAll(".quire-print img")].map((img) => img.complete && img.naturalWidth > 0);
      };
    });
    await a.click('[data-action="print"]');
    await a.waitForFunction(() => Array.isArray(window.printed), null, { timeout: WAIT });
    assert.deepEqual(await a.evaluate(() => window.printed), [true, true, true]);

    const d = await open("download", tokens.downloader);
    const [download] = await Promise.all([d.waitForEvent("download", { timeout: WAIT }), d.click('[data-action="download"]')]);
    assert.equal(download.suggestedFilename(), `${DOC}.pdf`);
    const saved = await readFile(await download.path());
    assert.deepEqual(new Uint8Array(saved), samplePdf(3, { rotateLast: 90 }));

    // With annotations: the server's export, the original followed by an incremental update.
    assert.equal(await a.locator('[data-action="download-annotated"]').count(), 0);
    const [annotated] = await Promise.all([
      d.waitForEvent("download", { timeout: WAIT }),
      d.click('[data-action="download-annotated"]'),
    ]);
    assert.equal(annotated.suggestedFilename(), `${DOC}-annotated.pdf`);
    const exported = new Uint8Array(await readFile(await annotated.path()));
    const original = samplePdf(3, { rotateLast: 90 });
    assert.ok(exported.length >= original.length, "the export keeps the original whole");
    assert.deepEqual(exported.slice(0, original.length), original, "the original bytes come first, unchanged");
  });

  for (const [label, viewport, touch] of [
    ["1200×800", { width: 1200, height: 800 }, false],
    ["1400×900", { width: 1400, height: 900 }, false],
    ["768×1024", { width: 768, height: 1024 }, false],
    ["390×844", { width: 390, height: 844 }, true],
  ]) {
    it(`7: at ${label} the toolbar is one tidy block, nothing is cut off and the page opens at fit-width`, async () => {
      const page = await open(`L${label}`, tokens.a, { viewport, hasTouch: touch, isMobile: touch });
      // Another user is present (their avatar takes toolbar space).
      await page.waitForSelector(".quire-root[data-connection='online']", { timeout: WAIT });
      await page.waitForSelector('.quire-page[data-page-index="0"] canvas', { timeout: WAIT });
      await page.screenshot({ path: join(SCREENSHOTS, `viewer-${label}.png`) });
      const controls = await page.$$eval(".quire-toolbar button, .quire-toolbar input", (els) =>
        els.filter((el) => el.getClientRects().length > 0).map((el) => {
          const r = el.getBoundingClientRect();
          return { label: el.getAttribute("aria-label") ?? el.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom };
        }),
      );
      for (const c of controls) assert.ok(c.left >= 0 && c.right <= viewport.width + 0.5, `${c.label} is cut off (${c.left}–${c.right})`);
      const toolbar = await page.locator(".quire-toolbar").boundingBox();
      // One row at 1200 px and wider (every tool in it) and at 768 px and narrower (the tools in the menu).
      if (viewport.width >= 1200 || viewport.width <= 768) assert.ok(toolbar.height < 60, `the toolbar wraps at ${label} (height ${toolbar.height})`);
      else assert.ok(toolbar.height < viewport.height / 4, `the toolbar takes ${toolbar.height}px`);
      const menu = page.locator('[data-action="toolbar-menu"]');
      if (viewport.width <= 768) {
        // The toolbar menu: opened from the keyboard, its items reached with the arrow keys, Escape closes.
        assert.equal(await page.locator('[data-tool="ink"]').isVisible(), false, "the tools are in the menu");
        await menu.focus();
        await page.keyboard.press("Enter");
        assert.equal(await menu.getAttribute("aria-expanded"), "true");
        const focused = () => page.evaluate(() => document.activeElement?.getAttribute("data-tool") ?? document.activeElement?.getAttribute("data-action"));
        assert.equal(await focused(), "select", "the first item has the focus");
        await page.keyboard.press("ArrowDown");
        assert.equal(await focused(), "highlight");
        const items = await page.$$eval(".quire-overflow button", (els) =>
          els.filter((el) => el.getClientRects().length > 0).map((el) => {
            const r = el.getBoundingClientRect();
            return { label: el.getAttribute("aria-label"), left: r.left, right: r.right, bottom: r.bottom };
          }),
        );
        assert.ok(items.some((i) => i.label === "Find in document (Ctrl+F)"), "the document actions are in the menu");
        for (const i of items) assert.ok(i.left >= 0 && i.right <= viewport.width + 0.5 && i.bottom <= viewport.height, `${i.label} is cut off in the menu`);
        await page.screenshot({ path: join(SCREENSHOTS, `viewer-${label}-menu.png`) });
        await page.keyboard.press("Escape");
        assert.equal(await menu.getAttribute("aria-expanded"), "false");
        assert.equal(await page.locator('[data-tool="ink"]').isVisible(), false);
        assert.equal(await focused(), "toolbar-menu", "the focus returns to the menu button");
      } else {
        assert.equal(await menu.isVisible(), false, "no menu button when the tools fit");
      }
      const p = await pageBox(page);
      const scroller = await page.locator(".quire-pages").boundingBox();
      assert.ok(p.x >= scroller.x - 0.5 && p.x + p.width <= scroller.x + scroller.width + 0.5, `the page (${p.x}+${p.width}) fits the view's width (${scroller.x}+${scroller.width})`);
      assert.ok(p.width >= scroller.width * 0.85 || p.width > 1000, `the page opens at fit-width (${p.width} of ${scroller.width})`);
      // Nothing covers the page: the element at its centre is part of it.
      const covered = await page.evaluate(([x, y]) => !document.elementFromPoint(x, y)?.closest(".quire-page"), [p.x + p.width / 2, Math.min(p.y + 100, viewport.height - 10)]);
      assert.equal(covered, false, "something covers the page");
    });
  }

  it("8: a 352-page PDF paints its first page after fetching at most a quarter of it", { skip: existsSync(LARGE_PDF) ? false : `no ${LARGE_PDF}` }, async () => {
    const bytes = new Uint8Array(await readFile(LARGE_PDF));
    await backend(server, "POST", "/api/documents?id=large", bytes, { "Content-Type": "application/pdf" });
    const token = await mintToken(server, "large", "rita", "Rita", ["read-document"]);
    const page = await newPage("large");
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    const documentRequests = new Set();
    let received = 0;
    cdp.on("Network.requestWillBeSent", (e) => {
      if (e.request.url.includes("/api/client/document")) documentRequests.add(e.requestId);
    });
    const perRequest = new Map();
    cdp.on("Network.dataReceived", (e) => {
      if (!documentRequests.has(e.requestId)) return;
      received += e.dataLength;
      perRequest.set(e.requestId, (perRequest.get(e.requestId) ?? 0) + e.dataLength);
    });
    await page.goto(`${server.base}/`);
    await page.waitForFunction(() => typeof window.Quire?.load === "function", null, { timeout: WAIT });
    const started = Date.now();
    void page.evaluate(async (session) => {
      document.body.replaceChildren();
      const container = document.createElement("div");
      container.style.cssText = "position:fixed;inset:0";
      document.body.append(container);
      window.quire = await window.Quire.load({ container, session });
    }, token);
    await page.waitForSelector('.quire-page[data-page-index="0"] canvas', { timeout: 60_000 });
    const atFirstPaint = received;
    const sizes = [...perRequest.values()];
    console.log(`first paint of freeculture.pdf after ${Date.now() - started} ms and ${atFirstPaint} of ${bytes.length} bytes in ${sizes.length} requests (${sizes.join(", ")})`);
    assert.equal(await page.locator(".quire-page").count(), 352);
    assert.ok(atFirstPaint <= bytes.length / 4, `fetched ${atFirstPaint} of ${bytes.length} bytes before the first paint (${sizes.length} requests: ${sizes.join(", ")})`);
  });

  it("9: a blocked origin and a refused change are explained in plain words", async () => {
    const page = await newPage("origin");
    // An embedding site on another origin (another port on the loopback interface) that the
    // server's --cors-origins does not list.
    const host = createServer((_, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(`<!doctype html><script src="${server.base}/quire.js"></script><div id="v" style="height:600px"></div>`);
    });
    await new Promise((r) => host.listen(0, "127.0.0.1", r));
    const other = `http://127.0.0.1:${host.address().port}`;
    let message;
    try {
      await page.goto(`${other}/`);
      await page.waitForFunction(() => typeof window.Quire?.load === "function", null, { timeout: WAIT });
      await page.evaluate(
        ([session, baseUrl]) => window.Quire.load({ container: "#v", session, baseUrl }).catch(() => {}),
        [tokens.a, server.base],
      );
      message = await page.locator(".quire-error").textContent({ timeout: WAIT });
    } finally {
      host.close();
    }
    assert.ok(message.includes(other), message);
    assert.match(message, /not allowed|cors-origins/i);
    assert.doesNotMatch(message, /Failed to fetch/);

    // Carol may edit only her own annotations; an edit of Alice's is refused in plain words.
    const a = await open("A9", tokens.a);
    const box = await pageBox(a);
    const known = await a.evaluate(() => window.quire.getRecords().map((r) => r.id));
    await a.click('[data-tool="rectangle"]');
    await drag(a, [box.x + 100, box.y + 600], [box.x + 200, box.y + 650]);
    const id = await a.waitForFunction(
      (seen) => window.quire.getRecords().find((r) => !seen.includes(r.id) && r.content.type === "pspdfkit/shape/rectangle")?.id,
      known,
      { timeout: WAIT },
    );
    const rid = await id.jsonValue();
    await waitForAck(a, rid);
    const c = await open("C9", tokens.self);
    await c.waitForSelector(`[data-record-id="${rid}"]`, { state: "attached", timeout: WAIT });
    await c.evaluate((r) => {
      const rec = window.quire.getRecord(r);
      window.quire.client.update(r, { ...rec.content, opacity: 0.5 });
    }, rid);
    const toast = c.locator(".quire-toast").first();
    await toast.waitFor({ timeout: WAIT });
    const text = await toast.textContent();
    assert.match(text, /only edit your own annotations/i);
    assert.doesNotMatch(text, new RegExp(rid));
  });
});
