/** Where batches go, what a reply means for them, and when to try again. */

/** The tracker API's path: no word an ad-block list matches (`track`, `collect`, `analytics`, `beacon`, …). */
export const INGEST_PATH = '/sh/v1/batch';

/** `ok`: stored (events refused one by one are refused for good too); `drop`: refused whole; `retry`: try later. */
export type Outcome = 'ok' | 'drop' | 'retry';

export function outcomeOf(status: number): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  return status === 408 || status === 429 || status >= 500 ? 'retry' : 'drop';
}

/** `Retry-After` in milliseconds from `now`: seconds or an HTTP date; 0 when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number {
  if (!header) return 0;
  const seconds = Number(header);
  if (seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return at > now ? at - now : 0;
}

/** Exponential backoff with jitter: 1 s doubling per failure up to 5 minutes, drawn from its upper half. */
export function backoffMs(attempt: number, random: number = Math.random()): number {
  const cap = Math.min(300_000, 1000 * 2 ** attempt);
  return cap / 2 + (random * cap) / 2;
}
