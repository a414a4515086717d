/**
 * Finding text: the pure part. A page's text is the list of its text items (the strings the
 * text layer shows, one span each); a match is an occurrence of the query inside one item,
 * compared case-insensitively with runs of whitespace treated as one space. Matches that
 * straddle two items are not found (a limit shared with a plain text-layer search).
 */

export interface Match {
  page: number;
  /** Which occurrence on its page (0-based), in item order. */
  nth: number;
}

/** The form text is compared in. */
export function normalize(text: string): string {
  return text.replace(/\s+/g, " ").toLocaleLowerCase();
}

/** How many times `query` (normalized) occurs in `text`, without overlaps. */
export function countIn(text: string, query: string): number {
  if (!query) return 0;
  const hay = normalize(text);
  let count = 0;
  for (let at = hay.indexOf(query); at !== -1; at = hay.indexOf(query, at + query.length)) count++;
  return count;
}

/** Every match of `query` on one page, given its items. */
export function pageMatches(page: number, items: string[], query: string): Match[] {
  const q = normalize(query).trim();
  if (!q) return [];
  let total = 0;
  for (const item of items) total += countIn(item, q);
  return Array.from({ length: total }, (_, nth) => ({ page, nth }));
}

/** The next match index going forward or back from `current`, wrapping around. */
export function step(current: number, count: number, forward: boolean): number {
  if (count === 0) return -1;
  if (current < 0) return forward ? 0 : count - 1;
  return (current + (forward ? 1 : -1) + count) % count;
}
