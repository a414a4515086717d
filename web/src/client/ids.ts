/**
 * Identifiers made in the browser. `crypto.getRandomValues` rather than `randomUUID`: the
 * latter exists only in secure contexts, and Quire may be served over plain HTTP on a LAN.
 */

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A record id: `<prefix>-<random>`, within the protocol's `A-Z a-z 0-9 . _ - :`. */
export function newRecordId(prefix: string): string {
  return `${prefix}-${randomHex(8)}`;
}
