/**
 * Structural JSON helpers for reconciliation: equality (the server re-serialises content with
 * its keys sorted, so key order must not matter) and a three-way merge of record contents.
 */
import type { JsonObject, JsonValue } from "./types";

/** True for a plain JSON object (not an array, not null). */
export function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep equality of two JSON values, ignoring object key order. */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * Re-applies the user's edit (`base` → `mine`) on top of content someone else changed
 * (`theirs`). The merge is per key, recursing into nested objects (so a colour change and a
 * `customData.resolved` flag merge cleanly); arrays and scalars are replaced whole, because
 * geometry such as `bbox` and `lines` only makes sense as a unit. On a conflicting key the
 * user's value wins: that is the intent being re-applied.
 */
export function rebaseContent(base: JsonObject | null, mine: JsonObject, theirs: JsonObject): JsonObject {
  if (base === null || jsonEqual(base, theirs)) return mine;
  const result: JsonObject = { ...theirs };
  const keys = new Set([...Object.keys(base), ...Object.keys(mine)]);
  for (const key of keys) {
    const before = base[key];
    const after = mine[key];
    if (jsonEqual(before, after)) continue; // the user did not touch this key
    if (!Object.hasOwn(mine, key)) {
      delete result[key];
    } else if (isObject(before) && isObject(after) && isObject(theirs[key])) {
      result[key] = rebaseContent(before, after, theirs[key]);
    } else {
      result[key] = after;
    }
  }
  return result;
}

/** A deep copy of JSON content, so callers can't mutate the client's state through it. */
export function cloneJson<T extends JsonValue>(value: T): T {
  return structuredClone(value);
}
