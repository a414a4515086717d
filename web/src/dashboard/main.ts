/**
 * The operator dashboard (dist/index.html): sign in with an API key, upload PDFs, list them,
 * and open one "as a user" — mint a session token with chosen rights and load the viewer in
 * this page. The token is held in memory only and handed to `Quire.load`; it never appears in
 * a URL.
 */
import type * as QuireApi from "../index";
import type { Instance } from "../viewer/instance";
import { ApiError, BackendApi, saveKey, savedKey, type DocumentInfo } from "./api";

declare const Quire: typeof QuireApi;

const app = document.getElementById("app")!;
const signOut = document.getElementById("sign-out") as HTMLButtonElement;
const viewerPanel = document.getElementById("viewer-panel")!;
const viewerTitle = document.getElementById("viewer-title")!;
let viewer: Instance | null = null;

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
}

function uploadForm(api: BackendApi, status: HTMLElement): HTMLElement {
  const file = el("input", { type: "file", name: "file", accept: "application/pdf,.pdf", required: true });
  const title = el("input", { type: "text", name: "title", placeholder: "Optional title", maxLength: 512 });
  const submit = el("button", { type: "submit", className: "dash-button dash-primary" }, "Upload");
  const form = el("form", { className: "dash-card dash-upload" }, el("h2", {}, "Upload a PDF"), field("File", file), field("Title", title), submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    submit.disabled = true;
    status.replaceChildren(message(`Uploading ${chosen.name}…`, "info"));
    api
      .upload(chosen, title.value.trim())
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
  const row = el(
    "tr",
    { dataset: { documentId: doc.id } },
    el("td", {}, el("strong", {}, doc.title ?? doc.id), el("div", { className: "dash-muted" }, doc.id)),
    el("td", {}, String(doc.page_count)),
    el("td", {}, formatBytes(doc.byte_size)),
    el("td", {}, new Date(doc.created_at).toLocaleString()),
    el("td", {}, open),
  );
  open.addEventListener("click", () => {
    const next = row.nextElementSibling;
    if (next?.classList.contains("dash-open-row")) {
      next.remove();
      return;
    }
    const cell = el("td", { colSpan: 5 }, openAsForm(api, doc, status));
    row.after(el("tr", { className: "dash-open-row" }, cell));
  });
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
  const collab = el("textarea", {
    name: "collaboration_permissions",
    rows: 2,
    placeholder: "optional, e.g. annotations:view:all, annotations:edit:self, comments:reply:all",
  });
  const form = el(
    "form",
    { className: "dash-open-as" },
    field("User id", userId),
    field("Name", userName),
    field("Group", group),
    field("Layer", layer),
    el("fieldset", {}, el("legend", {}, "Permissions"), ...perms.map((p) => el("label", { className: "dash-check" }, p, ` ${p.value}`))),
    field("Collaboration permissions", collab, "Comma or newline separated. Empty: full access with write."),
    el("button", { type: "submit", className: "dash-button dash-primary" }, "Open viewer"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const collaboration = collab.value
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
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
      .then((grant) => openViewer(grant.token, `${doc.title ?? doc.id} — as ${userName.value.trim() || userId.value.trim()}`))
      .catch((error) => status.replaceChildren(message(describe(error))));
  });
  return form;
}

/** Loads the viewer in this page with a token held only in memory. */
async function openViewer(token: string, title: string): Promise<void> {
  closeViewer();
  viewerTitle.textContent = title;
  viewerPanel.hidden = false;
  try {
    viewer = await Quire.load({ container: "#viewer", session: token, baseUrl: location.origin });
  } catch (error) {
    console.error(error);
  }
}

function closeViewer(): void {
  viewer?.unload();
  viewer = null;
  viewerPanel.hidden = true;
}

document.getElementById("viewer-close")!.addEventListener("click", closeViewer);

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// ---- start -------------------------------------------------------------------------------

const key = savedKey();
if (key) void signIn(key);
else showSignIn();
