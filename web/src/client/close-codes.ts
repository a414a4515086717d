/**
 * What the client does for each WebSocket close code (docs/protocol.md, "Close codes").
 */

/** Codes after which the client reconnects with `since`. */
const RECONNECT = new Set([
  1001, // shutting_down: another node, or the same one after its restart
  1006, // abnormal closure: the network dropped (or the server was unreachable)
  4005, // too_slow
  4006, // rate_limited
  4007, // hello_timeout: our hello was delayed on a slow network; a fresh socket may do
  4008, // reconnect: the document was reset on the server
  4009, // heartbeat_timeout
]);

/** Codes that end the session for good: retrying with the same token can't help. */
const TERMINAL = new Map<number, string>([
  [4000, "protocol_error"],
  [4001, "unauthorized"],
  [4002, "token_expired"],
  [4003, "token_revoked"],
  [4004, "document_deleted"],
]);

/** Whether to reconnect after `code`. Unknown codes reconnect: being cautious costs a retry. */
export function shouldReconnect(code: number): boolean {
  return RECONNECT.has(code) || !TERMINAL.has(code);
}

/** The stable name of a close, from its reason (`<name>: <message>`) or its code. */
export function closeName(code: number, reason: string): string {
  const fromReason = /^([a-z_]+):/.exec(reason)?.[1];
  return fromReason ?? TERMINAL.get(code) ?? (code === 1006 ? "connection_lost" : `close_${code}`);
}
