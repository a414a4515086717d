import { afterEach, describe, expect, it, vi } from "vitest";
import { annotatedPdfUrl, exportInstantJson, exportPdf, exportXfdf, QuireApiError } from "../src/client/api";

const base = "https://quire.example";

function stubFetch(response: Response): ReturnType<typeof vi.fn> {
  const fetch = vi.fn(() => Promise.resolve(response));
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

function requested(fetch: ReturnType<typeof vi.fn>): { url: string; auth: string } {
  const [url, init] = fetch.mock.calls[0] as [URL, RequestInit];
  return { url: url.toString(), auth: (init.headers as Record<string, string>).Authorization };
}

describe("exports", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("fetches the layer as Instant JSON with the token in the header, not the URL", async () => {
    const doc = { format: "https://pspdfkit.com/instant-json/v1", annotations: [], comments: [], formFieldValues: [], bookmarks: [] };
    const fetch = stubFetch(new Response(JSON.stringify(doc), { status: 200 }));
    await expect(exportInstantJson(base, "tok")).resolves.toEqual(doc);
    expect(requested(fetch)).toEqual({ url: `${base}/api/client/document.json`, auth: "Bearer tok" });
  });

  it("fetches XFDF as text and the PDF as a blob, flattened on request", async () => {
    const fetch = stubFetch(new Response("<xfdf/>", { status: 200 }));
    await expect(exportXfdf(base, "tok")).resolves.toBe("<xfdf/>");
    expect(requested(fetch).url).toBe(`${base}/api/client/document.xfdf`);

    const pdf = stubFetch(new Response(new Uint8Array([37, 80, 68, 70]), { status: 200 }));
    const blob = await exportPdf(base, "tok", { flatten: true });
    expect(blob.size).toBe(4);
    expect(requested(pdf).url).toBe(`${base}/api/client/pdf?flatten=true`);
    expect(annotatedPdfUrl(base)).toBe(`${base}/api/client/pdf`);
  });

  it("turns a refusal into a QuireApiError with the server's code", async () => {
    stubFetch(new Response(JSON.stringify({ code: "right_missing", message: "`download` is required" }), { status: 403 }));
    const err = await exportPdf(base, "tok").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuireApiError);
    expect((err as QuireApiError).code).toBe("right_missing");
    expect((err as QuireApiError).status).toBe(403);
  });
});
