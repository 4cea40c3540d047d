// Reconnect delays: full-jitter exponential back-off, delay = random(0, min(cap, base * 2^attempt)).

export interface BackoffSettings {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { baseMs: 500, capMs: 30_000 };

/** Delay before retry number `attempt` (0 for the first retry). */
export function fullJitterDelay(attempt: number, settings: BackoffSettings, random: () => number = Math.random): number {
  // 2^attempt overflows to Infinity long after it passed the cap; Math.min handles it.
  const ceiling = Math.min(settings.capMs, settings.baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}
