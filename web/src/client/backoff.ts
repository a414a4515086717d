/**
 * Reconnect delays: exponential, capped, with jitter so that the clients of a restarted
 * server don't all come back in the same instant.
 */
export interface BackoffOptions {
  /** The first retry's nominal delay. */
  initialMs: number;
  /** The cap on the nominal delay. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/**
 * The delay before retry number `attempt` (0-based): the nominal delay `initial * 2^attempt`
 * (capped), of which the upper half is random ("equal jitter": never shorter than half the
 * nominal delay, so a flapping server still gets the backoff it needs).
 */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const nominal = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(nominal / 2 + random() * (nominal / 2));
}
