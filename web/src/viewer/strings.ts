/**
 * The viewer's messages in one table, so that a host application can translate them:
 * `Quire.load({ locale, strings: { sessionEnded: "…" } })` replaces any of them. Messages with
 * parameters are functions. English is the default; `locale` is kept for date formatting.
 */
import type { PendingChange } from "../client/sync-state";

export const EN = {
  loading: "Loading…",
  couldNotOpen: (detail: string) => `Could not open the document: ${detail}`,
  originNotAllowed: (origin: string, server: string) =>
    `This page (${origin}) is not allowed to open documents from the Quire server at ${server}. ` +
    `Ask its administrator to add ${origin} to the server's allowed origins (--cors-origins).`,
  serverUnreachable: (server: string) => `Could not reach the Quire server at ${server}. Check your connection and try again.`,
  sessionInvalid: "Your session has expired or is not valid. Reload the page to start a new one.",
  noAccess: "You do not have access to this document.",
  documentNotFound: "This document was not found on the server.",
  sessionEnded: (reason: string) => `This session has ended (${reason}). Reload with a new session to continue.`,
  changeUndone: (why: string) => `Your change was undone: ${why}`,
  printFailed: "The document could not be prepared for printing.",
  downloadFailed: "The document could not be downloaded.",
  changeRebased: "Someone edited this at the same time; your change was applied on top of theirs.",
  notPermitted: (op: PendingChange["op"], kind: PendingChange["kind"], own: boolean) => {
    const what = kind === "comment" ? "comments" : kind === "form_field" ? "form fields" : "annotations";
    const verb = op === "delete" ? "delete" : op === "create" ? "add" : "edit";
    return own ? `You are not allowed to ${verb} ${what}.` : `You can only ${verb} your own ${what}.`;
  },
  rejected: {
    invalid: "The change was not valid.",
    too_large: "The change is too large.",
    already_exists: "It already exists.",
    not_found: "It was deleted in the meantime.",
    limit_exceeded: "The document holds too many annotations.",
    busy: "The server is busy; try again in a moment.",
    unavailable: "The server could not save the change; try again in a moment.",
    stale_base: "Someone else changed it first.",
    not_permitted: "You are not allowed to do that.",
  } as Record<string, string>,
};

export type Strings = typeof EN;

/** The table with the host's replacements applied (unknown keys are ignored). */
export function withStrings(overrides: Partial<Strings> | undefined): Strings {
  if (!overrides) return EN;
  const out: Strings = { ...EN };
  for (const key of Object.keys(EN) as (keyof Strings)[]) {
    const value = overrides[key];
    if (value !== undefined && typeof value === typeof EN[key]) (out as Record<string, unknown>)[key] = value;
  }
  if (overrides.rejected) out.rejected = { ...EN.rejected, ...overrides.rejected };
  return out;
}
