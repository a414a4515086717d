/**
 * Image stamps: a picture the user picks (PNG or JPEG, at most 1 MiB), stored in the
 * annotation record itself as a `data:` URL, because records are the only thing the server
 * shares live (attachments do not exist yet) and a record's content is limited to 64 KiB
 * (`MAX_RECORD_BYTES` in src/records.rs). So the picture is re-encoded as JPEG and scaled down
 * until its data URL fits `IMAGE_BUDGET` characters, leaving room for the other fields. The
 * record is Instant JSON `pspdfkit/image` with the data URL in `customData.imageDataUrl`
 * (`contentType` says JPEG); the renderer draws it as an SVG `<image>` (the CSP allows
 * `img-src data:`), and only a base64 PNG/JPEG data URL, nothing else.
 */
import type { JsonObject, SessionUser } from "../client/types";
import { roundRect, type Point, type Rect } from "./geometry";

/** Largest file a user may pick. */
export const MAX_IMAGE_FILE_BYTES = 1024 * 1024;
/** Largest data URL stored in a record (characters, one byte each): 48 KiB of the 64 KiB. */
export const IMAGE_BUDGET = 48 * 1024;
/** Largest side of the re-encoded picture, in pixels (a stamp needs no more). */
export const MAX_IMAGE_SIDE = 1024;
/** Largest side of the stamp on the page, in PDF points. */
export const MAX_STAMP_SIDE = 200;

const ACCEPTED = ["image/png", "image/jpeg"];
const DATA_URL = /^data:image\/(?:png|jpeg);base64,[A-Za-z0-9+/]+={0,2}$/;

/** Why a picked file cannot become a stamp. */
export type ImageRefusal = "type" | "size" | "decode" | "budget";

export class ImageStampError extends Error {
  constructor(readonly reason: ImageRefusal) {
    super(`image stamp: ${reason}`);
  }
}

/** `width` × `height` scaled down (never up) to fit a `max` × `max` square, at least 1 × 1. */
export function fitWithin(width: number, height: number, max: number): [number, number] {
  const scale = Math.min(1, max / Math.max(width, height, 1));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/** Encodes a picture at a size and JPEG quality; returns a data URL. */
export type Encode = (width: number, height: number, quality: number) => Promise<string>;

/**
 * The largest-looking encoding that fits `budget` characters: first lower JPEG quality at the
 * starting size, then smaller sizes (three quarters each step), down to 16 px on the long side.
 * Returns null when even that does not fit. Pure apart from `encode`, so it is unit-tested.
 */
export async function downscaleToBudget(encode: Encode, width: number, height: number, budget: number): Promise<{ dataUrl: string; width: number; height: number } | null> {
  let [w, h] = fitWithin(width, height, MAX_IMAGE_SIDE);
  for (;;) {
    for (const quality of [0.85, 0.7, 0.5]) {
      const dataUrl = await encode(w, h, quality);
      if (dataUrl.length <= budget) return { dataUrl, width: w, height: h };
    }
    if (Math.max(w, h) <= 16) return null;
    [w, h] = fitWithin(w, h, Math.floor(Math.max(w, h) * 0.75));
  }
}

/** Checks the file the user picked (before reading it). */
export function checkImageFile(file: { type: string; size: number }): ImageRefusal | null {
  if (!ACCEPTED.includes(file.type)) return "type";
  if (file.size > MAX_IMAGE_FILE_BYTES) return "size";
  return null;
}

/** Reads, decodes and re-encodes a picked file within the budget (browser only). */
export async function imageStampFromFile(file: File): Promise<{ dataUrl: string; width: number; height: number }> {
  const refusal = checkImageFile(file);
  if (refusal) throw new ImageStampError(refusal);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new ImageStampError("decode");
  }
  try {
    const canvas = document.createElement("canvas");
    const encode: Encode = (w, h, quality) => {
      canvas.width = w;
      canvas.height = h;
      const ctx = canvas.getContext("2d");
      if (!ctx) throw new ImageStampError("decode");
      // JPEG has no transparency: a transparent PNG lands on white, as on paper.
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, w, h);
      ctx.drawImage(bitmap, 0, 0, w, h);
      return Promise.resolve(canvas.toDataURL("image/jpeg", quality));
    };
    const fitted = await downscaleToBudget(encode, bitmap.width, bitmap.height, IMAGE_BUDGET);
    if (!fitted) throw new ImageStampError("budget");
    return fitted;
  } finally {
    bitmap.close();
  }
}

/** The picture's data URL if the record carries a usable one (a base64 PNG or JPEG), else null. */
export function imageDataUrlOf(content: JsonObject): string | null {
  const custom = content.customData;
  if (!custom || typeof custom !== "object" || Array.isArray(custom)) return null;
  const url = custom.imageDataUrl;
  return typeof url === "string" && url.length <= IMAGE_BUDGET * 1.3 && DATA_URL.test(url) ? url : null;
}

/** An image stamp (`pspdfkit/image`) centred on `at`, its picture's shape within 200 pt. */
export function imageContent(pageIndex: number, at: Point, image: { dataUrl: string; width: number; height: number }, user: SessionUser, opacity: number): JsonObject {
  const [w, h] = fitWithin(image.width, image.height, MAX_STAMP_SIDE);
  const now = new Date().toISOString();
  const bbox: Rect = [at[0] - w / 2, at[1] - h / 2, w, h];
  return {
    v: 2,
    type: "pspdfkit/image",
    pageIndex,
    bbox: roundRect(bbox),
    opacity,
    createdAt: now,
    updatedAt: now,
    creatorName: user.user_name ?? user.user_id,
    contentType: "image/jpeg",
    customData: { imageDataUrl: image.dataUrl },
  };
}
