/**
 * Finding text: the pure part. A page's text is the list of its pieces (a text item's string,
 * one text-layer span each, with a line break where PDF.js marks an end of line); the pieces
 * are searched as one text, so a match may start in one piece and end in another (a word set
 * in two runs, a phrase across a line break). Comparison is case-insensitive with runs of
 * whitespace treated as one space.
 */

export interface Match {
  page: number;
  /** Which occurrence on its page (0-based), in reading order. */
  nth: number;
}

/** A match inside a page's pieces: the first and last piece it touches (inclusive). */
export interface PieceRange {
  first: number;
  last: number;
}

/** The form text is compared in. */
export function normalize(text: string): string {
  return text.replace(/\s+/g, " ").toLocaleLowerCase();
}

/**
 * The pieces joined and normalized, with the piece each character came from. Lower-casing is
 * done per character so the owner stays exact when a character's lower case is longer.
 */
function joined(pieces: readonly string[]): { text: string; owner: number[] } {
  let text = "";
  const owner: number[] = [];
  pieces.forEach((piece, index) => {
    for (const ch of piece) {
      if (/\s/.test(ch)) {
        if (text.endsWith(" ")) continue;
        text += " ";
        owner.push(index);
      } else {
        for (const low of ch.toLocaleLowerCase()) {
          text += low;
          owner.push(index);
        }
      }
    }
  });
  return { text, owner };
}

/** Every non-overlapping occurrence of `query` across `pieces`, as the pieces it touches. */
export function findInPieces(pieces: readonly string[], query: string): PieceRange[] {
  const q = normalize(query).trim();
  if (!q) return [];
  const { text, owner } = joined(pieces);
  const out: PieceRange[] = [];
  for (let at = text.indexOf(q); at !== -1; at = text.indexOf(q, at + q.length)) {
    out.push({ first: owner[at], last: owner[at + q.length - 1] });
  }
  return out;
}

/** How many times `query` occurs in `text`, without overlaps. */
export function countIn(text: string, query: string): number {
  return findInPieces([text], query).length;
}

/** Every match of `query` on one page, given its pieces. */
export function pageMatches(page: number, pieces: readonly string[], query: string): Match[] {
  return findInPieces(pieces, query).map((_, nth) => ({ page, nth }));
}

/** The next match index going forward or back from `current`, wrapping around. */
export function step(current: number, count: number, forward: boolean): number {
  if (count === 0) return -1;
  if (current < 0) return forward ? 0 : count - 1;
  return (current + (forward ? 1 : -1) + count) % count;
}
