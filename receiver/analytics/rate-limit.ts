/**
 * The analytics service's per-user rate limit: a token bucket per (tenant, user), holding `perMinute` tokens
 * and refilled at `perMinute` a minute, one token per event, on the shared bucket arithmetic and its bounded
 * table (core/rate-limit/bucket.ts): at most `maxKeys` buckets, the least recently used forgotten first.
 */
import { type BucketLimit, createBucketTable, secondsUntil } from '../../core/rate-limit/bucket.ts';

export interface RateLimiter {
  /** Takes a token for `key`: 0 when there was one, else the seconds until there is. */
  take(key: string, nowMs?: number): number;
  readonly size: number;
}

export function createRateLimiter(perMinute: number, maxKeys: number): RateLimiter {
  const limit: BucketLimit = { ratePerSecond: perMinute / 60, capacity: perMinute };
  const buckets = createBucketTable(maxKeys);
  return {
    get size() {
      return buckets.size;
    },
    take(key, nowMs = Date.now()) {
      const b = buckets.get(key, limit, nowMs);
      const wait = secondsUntil(b, limit, 1);
      if (wait === 0) b.tokens -= 1;
      return wait;
    },
  };
}
