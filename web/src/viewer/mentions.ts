/**
 * `@mentions` in comments: `@Name` (or `@user_id`) of a user known in the document — one who
 * is present or has written a record — is recorded in the comment's `customData.mentions`
 * (their user ids, for a webhook to notify later) and shown highlighted. Longer names are
 * matched first, so "@Ada Lovelace" wins over "@Ada".
 */

export interface KnownUser {
  user_id: string;
  name: string;
}

/** The mention keys of the users, longest first: each user's name and id. */
function keys(users: KnownUser[]): { key: string; user_id: string }[] {
  const out = users.flatMap((u) => [
    { key: u.name, user_id: u.user_id },
    { key: u.user_id, user_id: u.user_id },
  ]);
  return out.filter((k) => k.key.length > 0).sort((a, b) => b.key.length - a.key.length);
}

/** A run of the text: plain, or a mention of a user. */
export type Segment = { text: string; user_id?: string };

/** Splits text into plain runs and mentions of known users. */
export function splitMentions(text: string, users: KnownUser[]): Segment[] {
  const ks = keys(users);
  const out: Segment[] = [];
  let plain = "";
  let i = 0;
  while (i < text.length) {
    const atWordStart = text[i] === "@" && (i === 0 || /\s|[([{"']/.test(text[i - 1]));
    const hit = atWordStart
      ? ks.find((k) => {
          const end = i + 1 + k.key.length;
          return text.slice(i + 1, end).toLowerCase() === k.key.toLowerCase() && (end === text.length || !/[\p{L}\p{N}_]/u.test(text[end]));
        })
      : undefined;
    if (!hit) {
      plain += text[i++];
      continue;
    }
    if (plain) out.push({ text: plain });
    plain = "";
    const len = 1 + hit.key.length;
    out.push({ text: text.slice(i, i + len), user_id: hit.user_id });
    i += len;
  }
  if (plain) out.push({ text: plain });
  return out;
}

/** The ids of the users a text mentions, once each, in order. */
export function mentionedIds(text: string, users: KnownUser[]): string[] {
  return [...new Set(splitMentions(text, users).flatMap((s) => (s.user_id ? [s.user_id] : [])))];
}
