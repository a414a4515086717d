import { describe, expect, it } from "vitest";
import { checkImageFile, downscaleToBudget, fitWithin, imageContent, imageDataUrlOf, IMAGE_BUDGET, MAX_IMAGE_FILE_BYTES, type Encode } from "../src/viewer/image-stamp";

/** A fake encoder: the data URL's length grows with pixels and quality, like a JPEG's. */
function fakeEncoder(bytesPerPixel: number): { encode: Encode; calls: [number, number, number][] } {
  const calls: [number, number, number][] = [];
  const encode: Encode = (w, h, q) => {
    calls.push([w, h, q]);
    return Promise.resolve("data:image/jpeg;base64," + "A".repeat(Math.round(w * h * bytesPerPixel * q)));
  };
  return { encode, calls };
}

describe("image stamps", () => {
  it("fits a picture in a square without enlarging it", () => {
    expect(fitWithin(2000, 1000, 1024)).toEqual([1024, 512]);
    expect(fitWithin(100, 300, 200)).toEqual([67, 200]);
    expect(fitWithin(50, 20, 200)).toEqual([50, 20]);
    expect(fitWithin(0, 0, 200)).toEqual([1, 1]);
  });

  it("keeps a small picture as it is, at the best quality", async () => {
    const { encode, calls } = fakeEncoder(0.5);
    const out = await downscaleToBudget(encode, 100, 80, IMAGE_BUDGET);
    expect(out).toMatchObject({ width: 100, height: 80 });
    expect(calls).toEqual([[100, 80, 0.85]]);
  });

  it("lowers quality, then size, until the data URL fits the budget", async () => {
    const { encode, calls } = fakeEncoder(1);
    const out = await downscaleToBudget(encode, 3000, 2000, IMAGE_BUDGET);
    expect(out).not.toBeNull();
    expect(out!.dataUrl.length).toBeLessThanOrEqual(IMAGE_BUDGET);
    // started at 1024 px on the long side (never larger), tried every quality there first
    expect(calls.slice(0, 3)).toEqual([[1024, 683, 0.85], [1024, 683, 0.7], [1024, 683, 0.5]]);
    // each step smaller than the one before; the aspect ratio kept
    expect(out!.width / out!.height).toBeCloseTo(1.5, 1);
    expect(out!.width).toBeLessThan(1024);
  });

  it("gives up when even a tiny picture does not fit", async () => {
    const { encode } = fakeEncoder(1);
    expect(await downscaleToBudget(encode, 500, 500, 10)).toBeNull();
  });

  it("accepts PNG and JPEG files up to 1 MiB only", () => {
    expect(checkImageFile({ type: "image/png", size: 1000 })).toBeNull();
    expect(checkImageFile({ type: "image/jpeg", size: MAX_IMAGE_FILE_BYTES })).toBeNull();
    expect(checkImageFile({ type: "image/jpeg", size: MAX_IMAGE_FILE_BYTES + 1 })).toBe("size");
    expect(checkImageFile({ type: "image/svg+xml", size: 10 })).toBe("type");
    expect(checkImageFile({ type: "", size: 10 })).toBe("type");
  });

  it("draws only a base64 PNG or JPEG data URL from a record", () => {
    const ok = "data:image/jpeg;base64,/9j/4AAQ==";
    expect(imageDataUrlOf({ customData: { imageDataUrl: ok } })).toBe(ok);
    for (const bad of ["javascript:alert(1)", "data:image/svg+xml;base64,PHN2Zz4=", "https://example.com/a.png", "data:image/png;base64,a b", 3]) {
      expect(imageDataUrlOf({ customData: { imageDataUrl: bad } })).toBeNull();
    }
    expect(imageDataUrlOf({})).toBeNull();
  });

  it("makes a pspdfkit/image record within the server's 64 KiB content limit", () => {
    const image = { dataUrl: "data:image/jpeg;base64," + "A".repeat(IMAGE_BUDGET - 30), width: 800, height: 400 };
    const content = imageContent(0, [300, 400], image, { user_id: "ada", user_name: "Ada", group: null }, 1);
    expect(content).toMatchObject({ type: "pspdfkit/image", pageIndex: 0, bbox: [200, 350, 200, 100], contentType: "image/jpeg" });
    expect(imageDataUrlOf(content)).toBe(image.dataUrl);
    expect(JSON.stringify(content).length).toBeLessThan(64 * 1024);
  });
});
