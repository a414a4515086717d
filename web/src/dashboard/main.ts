/**
 * The operator dashboard (dist/index.html): sign in with an API key, upload PDFs, list them,
 * and open one "as a user" — mint a session token with chosen rights and load the viewer in
 * this page. The token is held in memory only and handed to `Quire.load`; it never appears in
 * a URL.
 */
import type * as QuireApi from "../index";
import type { Instance } from "../viewer/instance";
import { activityPanel } from "./activity";
import { ApiError, BackendApi, saveKey, savedKey, type DocumentInfo } from "./api";

declare const Quire: typeof QuireApi;

const app = document.getElementById("app")!;
const signOut = document.getElementById("sign-out") as HTMLButtonElement;
const viewerPanel = document.getElementById("viewer-panel")!;
const viewerTitle = document.getElementById("viewer-title")!;
const viewerRevoke = document.getElementById("viewer-revoke") as HTMLButtonElement;
let viewer: Instance | null = null;
/** Revokes the token of the viewer open now (the session then ends in the viewer). */
let revokeOpen: (() => void) | null = null;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(node, rest);
  if (dataset) Object.assign(node.dataset, dataset);
  node.append(...children);
  return node;
}

function field(label: string, input: HTMLElement, hint?: string): HTMLLabelElement {
  return el("label", { className: "dash-field" }, el("span", {}, label), input, ...(hint ? [el("small", {}, hint)] : []));
}

function message(text: string, kind: "error" | "info" = "error"): HTMLElement {
  return el("p", { className: `dash-message dash-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

function describe(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

// ---- sign in -----------------------------------------------------------------------------

function showSignIn(error?: string): void {
  signOut.hidden = true;
  const key = el("input", { type: "password", name: "api-key", autocomplete: "off", required: true, placeholder: "API key" });
  const form = el(
    "form",
    { className: "dash-card dash-signin" },
    el("h2", {}, "Sign in"),
    el("p", {}, "Use an API key from ", el("code", {}, "quire keys create"), " or the server's ", el("code", {}, "--api-key"), ". It is kept in this tab only."),
    field("API key", key),
    el("button", { type: "submit", className: "dash-button dash-primary" }, "Sign in"),
  );
  if (error) form.append(message(error));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void signIn(key.value.trim());
  });
  app.replaceChildren(form);
  key.focus();
}

async function signIn(key: string): Promise<void> {
  const api = new BackendApi(key);
  try {
    const first = await api.listDocuments();
    saveKey(key);
    showDocuments(api, first.documents, first.next_cursor ?? null);
  } catch (error) {
    saveKey(null);
    showSignIn(describe(error));
  }
}

signOut.addEventListener("click", () => {
  closeViewer();
  saveKey(null);
  showSignIn();
});

// ---- documents ---------------------------------------------------------------------------

function showDocuments(api: BackendApi, documents: DocumentInfo[], cursor: string | null): void {
  signOut.hidden = false;
  const status = el("div", { className: "dash-status" });
  const rows = el("tbody");
  const table = el(
    "table",
    { className: "dash-table" },
    el("thead", {}, el("tr", {}, ...["Document", "Pages", "Size", "Uploaded", ""].map((t) => el("th", {}, t)))),
    rows,
  );
  const addRows = (docs: DocumentInfo[]) => {
    for (const doc of docs) rows.append(documentRow(api, doc, status));
  };
  addRows(documents);
  const more = el("button", { type: "button", className: "dash-button", hidden: !cursor }, "Load more");
  more.addEventListener("click", () => {
    if (!cursor) return;
    void api.listDocuments(cursor).then(
      (page) => {
        addRows(page.documents);
        cursor = page.next_cursor ?? null;
        more.hidden = !cursor;
      },
      (error) => status.replaceChildren(message(describe(error))),
    );
  });
  const empty = el("p", { className: "dash-muted", hidden: documents.length > 0 }, "No documents yet: upload a PDF.");
  app.replaceChildren(uploadForm(api, status), el("section", { className: "dash-card" }, el("h2", {}, "Documents"), status, table, empty, more));
  if (minted.children.length > 0) app.append(tokensCard);
}

function uploadForm(api: BackendApi, status: HTMLElement): HTMLElement {
  const file = el("input", { type: "file", name: "file", accept: "application/pdf,.pdf", required: true });
  const title = el("input", { type: "text", name: "title", placeholder: "Default: the file name", maxLength: 512 });
  const submit = el("button", { type: "submit", className: "dash-button dash-primary" }, "Upload");
  const form = el("form", { className: "dash-card dash-upload" }, el("h2", {}, "Upload a PDF"), field("File", file), field("Title", title), submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    submit.disabled = true;
    status.replaceChildren(message(`Uploading ${chosen.name}…`, "info"));
    api
      // No title given: the file's name (without .pdf) is the title.
      .upload(chosen, title.value.trim() || chosen.name.replace(/\.pdf$/i, ""))
      .then(async (doc) => {
        const page = await api.listDocuments();
        showDocuments(api, page.documents, page.next_cursor ?? null);
        document.querySelector(".dash-status")?.replaceChildren(message(`Uploaded “${doc.title ?? doc.id}” (${doc.page_count} pages).`, "info"));
      })
      .catch((error) => status.replaceChildren(message(describe(error))))
      .finally(() => (submit.disabled = false));
  });
  return form;
}

function documentRow(api: BackendApi, doc: DocumentInfo, status: HTMLElement): HTMLTableRowElement {
  const open = el("button", { type: "button", className: "dash-button", dataset: { action: "open-as" } }, "Open as user…");
  const activity = el("button", { type: "button", className: "dash-button", dataset: { action: "activity" } }, "Activity");
  const remove = el("button", { type: "button", className: "dash-button dash-danger", dataset: { action: "delete-document" } }, "Delete");
  remove.addEventListener("click", () => {
    if (!confirm(`Delete “${doc.title ?? doc.id}” and all its annotations and comments? This cannot be undone.`)) return;
    remove.disabled = true;
    api
      .deleteDocument(doc.id)
      .then(() => {
        if (row.nextElementSibling?.classList.contains("dash-open-row")) row.nextElementSibling.remove();
        row.remove();
        status.replaceChildren(message(`Deleted “${doc.title ?? doc.id}”.`, "info"));
      })
      .catch((error) => {
        remove.disabled = false;
        status.replaceChildren(message(describe(error)));
      });
  });
  const row = el(
    "tr",
    { dataset: { documentId: doc.id } },
    el("td", {}, el("strong", {}, doc.title ?? doc.id), el("div", { className: "dash-muted" }, doc.id)),
    el("td", {}, String(doc.page_count)),
    el("td", {}, formatBytes(doc.byte_size)),
    el("td", {}, new Date(doc.created_at).toLocaleString()),
    el("td", { className: "dash-actions" }, open, activity, remove),
  );
  // One row under the document at a time: the open-as form or the activity panel.
  const toggle = (kind: string, content: () => HTMLElement) => {
    const next = row.nextElementSibling;
    const openKind = next?.classList.contains("dash-open-row") ? (next as HTMLElement).dataset.kind : null;
    if (next && openKind) next.remove();
    if (openKind === kind) return;
    row.after(el("tr", { className: "dash-open-row", dataset: { kind } }, el("td", { colSpan: 5 }, content())));
  };
  activity.addEventListener("click", () => toggle("activity", () => activityPanel(api, doc.id, describe)));
  open.addEventListener("click", () => toggle("open-as", () => openAsForm(api, doc, status)));
  return row;
}

// ---- open as user ------------------------------------------------------------------------

const PERMISSIONS: [string, boolean][] = [
  ["read-document", true],
  ["write", true],
  ["download", false],
];

function openAsForm(api: BackendApi, doc: DocumentInfo, status: HTMLElement): HTMLFormElement {
  const userId = el("input", { type: "text", name: "user_id", required: true, value: "operator" });
  const userName = el("input", { type: "text", name: "user_name", value: "Operator" });
  const group = el("input", { type: "text", name: "default_group", placeholder: "optional" });
  const layer = el("input", { type: "text", name: "layer", placeholder: "default layer" });
  const perms = PERMISSIONS.map(([name, checked]) => el("input", { type: "checkbox", name: "permission", value: name, checked }));
  const collab = collaborationGrid();
  const form = el(
    "form",
    { className: "dash-open-as" },
    field("User id", userId),
    field("Name", userName),
    field("Group", group),
    field("Layer", layer),
    el("fieldset", {}, el("legend", {}, "Permissions"), ...perms.map((p) => el("label", { className: "dash-check" }, p, ` ${p.value}`))),
    collab.el,
    el("button", { type: "submit", className: "dash-button dash-primary" }, "Open viewer"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const collaboration = collab.selected();
    api
      .mintSession({
        document_id: doc.id,
        user_id: userId.value.trim(),
        user_name: userName.value.trim() || undefined,
        default_group: group.value.trim() || undefined,
        layer: layer.value.trim() || undefined,
        permissions: perms.filter((p) => p.checked).map((p) => p.value),
        collaboration_permissions: collaboration.length > 0 ? collaboration : undefined,
      })
      .then((grant) => {
        const who = userName.value.trim() || userId.value.trim();
        const revoke = rememberToken(api, grant.revocation_id, `${doc.title ?? doc.id} — ${who}`, grant.expires_at);
        return openViewer(grant.token, `${doc.title ?? doc.id} — as ${who}`, revoke);
      })
      .catch((error) => status.replaceChildren(message(describe(error))));
  });
  return form;
}

/** The collaboration permissions offered as checkboxes: content type × action × scope. */
const COLLAB_ROWS: [string, string[]][] = [
  ["annotations", ["view", "edit", "delete"]],
  ["comments", ["view", "reply", "edit", "delete"]],
  ["form-fields", ["view", "fill", "edit", "delete"]],
];
const SCOPES = ["all", "group", "self"];

function collaborationGrid(): { el: HTMLElement; selected(): string[] } {
  const boxes: HTMLInputElement[] = [];
  const body = el("tbody");
  for (const [type, actions] of COLLAB_ROWS) {
    for (const action of actions) {
      const cells = SCOPES.map((scope) => {
        const box = el("input", { type: "checkbox", value: `${type}:${action}:${scope}` });
        box.setAttribute("aria-label", `${type} ${action} ${scope}`);
        boxes.push(box);
        return el("td", {}, box);
      });
      body.append(el("tr", {}, el("th", { scope: "row" }, `${type}: ${action}`), ...cells));
    }
  }
  const table = el("table", { className: "dash-collab" }, el("thead", {}, el("tr", {}, el("th", {}, ""), ...SCOPES.map((s) => el("th", { scope: "col" }, s)))), body);
  const fieldset = el(
    "fieldset",
    { className: "dash-collab-set" },
    el("legend", {}, "Collaboration permissions"),
    el("small", {}, "None ticked: full access with write. Scopes: everyone's records, the user's group's, or their own."),
    table,
  );
  return { el: fieldset, selected: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

// ---- tokens minted here --------------------------------------------------------------------

const minted = el("ul", { className: "dash-tokens" });
const tokensCard = el("section", { className: "dash-card", hidden: true }, el("h2", {}, "Sessions opened here"), minted);

/** Lists a token minted from this tab, with a button to revoke it; returns the revoke action. */
function rememberToken(api: BackendApi, revocationId: string, label: string, expiresAt: string): () => void {
  if (!tokensCard.isConnected) app.append(tokensCard);
  tokensCard.hidden = false;
  const revoke = el("button", { type: "button", className: "dash-button dash-danger", dataset: { action: "revoke-token" } }, "Revoke");
  const state = el("span", { className: "dash-muted" }, `expires ${new Date(expiresAt).toLocaleString()}`);
  revoke.addEventListener("click", () => {
    revoke.disabled = true;
    api.revokeToken(revocationId).then(
      () => {
        state.textContent = "revoked";
        revoke.remove();
      },
      (error) => {
        revoke.disabled = false;
        state.textContent = describe(error);
      },
    );
  });
  minted.append(el("li", { dataset: { revocationId } }, el("span", {}, label), " ", state, " ", revoke));
  return () => revoke.click();
}

/** Loads the viewer in this page with a token held only in memory. */
async function openViewer(token: string, title: string, revoke: () => void): Promise<void> {
  closeViewer();
  viewerTitle.textContent = title;
  revokeOpen = revoke;
  viewerRevoke.hidden = false;
  viewerPanel.hidden = false;
  try {
    viewer = await Quire.load({ container: "#viewer", session: token, baseUrl: location.origin });
  } catch (error) {
    console.error(error);
  }
}

function closeViewer(): void {
  revokeOpen = null;
  viewerRevoke.hidden = true;
  viewer?.unload();
  viewer = null;
  viewerPanel.hidden = true;
}

document.getElementById("viewer-close")!.addEventListener("click", closeViewer);
viewerRevoke.addEventListener("click", () => {
  revokeOpen?.();
  viewerRevoke.hidden = true;
});

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// ---- start -------------------------------------------------------------------------------

const key = savedKey();
if (key) void signIn(key);
else showSignIn();
