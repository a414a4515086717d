/**
 * The backend API calls the dashboard makes with the operator's API key. The key stays in
 * sessionStorage (gone when the tab closes) and only ever travels in `Authorization`.
 */
import type { components } from "../client/generated/openapi";

/** REST bodies, generated from the server's OpenAPI description (client/generated/openapi.ts). */
type Schemas = components["schemas"];

export type DocumentInfo = Schemas["DocumentInfo"];

/** `POST /api/sessions`: what a minted token grants. */
export type SessionGrant = Schemas["MintRequest"];

/** One live session of a document (`GET /api/documents/{id}/sessions`). */
export type LiveSession = Schemas["LiveSession"];

/** One audit event (docs/audit.md). */
export type HistoryEvent = Schemas["EntryView"];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const KEY = "quire.apiKey";

export function savedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export class BackendApi {
  constructor(private readonly key: string) {}

  async listDocuments(cursor?: string): Promise<Schemas["DocumentList"]> {
    const query = new URLSearchParams({ limit: "50" });
    if (cursor) query.set("cursor", cursor);
    return this.call(`/api/documents?${query.toString()}`);
  }

  async upload(file: File, title: string): Promise<DocumentInfo> {
    const form = new FormData();
    form.append("file", file, file.name);
    if (title) form.append("title", title);
    return this.call("/api/documents", { method: "POST", body: form });
  }

  /** `DELETE /api/documents/{id}`: the document, its records, and its blob if unshared. */
  async deleteDocument(id: string): Promise<void> {
    await this.call(`/api/documents/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  /** `GET /api/documents/{id}/sessions`: who is on the document now. */
  async liveSessions(id: string): Promise<Schemas["SessionsResponse"]> {
    return this.call(`/api/documents/${encodeURIComponent(id)}/sessions`);
  }

  /** `GET /api/documents/{id}/history`: the audit log, oldest first, one page. */
  async history(id: string, after?: number): Promise<Schemas["HistoryResponse"]> {
    const query = new URLSearchParams({ limit: "50" });
    if (after !== undefined) query.set("after", String(after));
    return this.call(`/api/documents/${encodeURIComponent(id)}/history?${query.toString()}`);
  }

  /** `POST /api/tokens/revoke`: the token and everything attenuated from it. */
  async revokeToken(revocationId: string): Promise<void> {
    await this.call("/api/tokens/revoke", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ revocation_id: revocationId }),
    });
  }

  async mintSession(grant: SessionGrant): Promise<Schemas["MintResponse"]> {
    return this.call("/api/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(grant),
    });
  }

  private async call<T>(path: string, init: RequestInit = {}): Promise<T> {
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${this.key}`);
    const res = await fetch(path, { ...init, headers });
    if (!res.ok) {
      let code = `http_${res.status}`;
      let message = res.statusText;
      try {
        const body = (await res.json()) as { code?: string; message?: string };
        code = body.code ?? code;
        message = body.message ?? message;
      } catch {
        // Not JSON.
      }
      throw new ApiError(res.status, code, message);
    }
    // 204 No Content (a delete) has no body.
    const text = await res.text();
    return (text ? JSON.parse(text) : null) as T;
  }
}
