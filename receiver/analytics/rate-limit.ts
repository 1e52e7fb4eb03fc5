/**
 * The analytics service's per-user rate limit: a token bucket per (tenant, user), holding `perMinute` tokens
 * and refilled at `perMinute` a minute, one token per event. Memory is bounded: at most `maxKeys` buckets, the
 * least recently used forgotten first (a Map in use order). A forgotten user starts again with a full bucket,
 * so the bound can only make the limit laxer, and only for users seen less recently than `maxKeys` others.
 */
interface Bucket {
  tokens: number;
  atMs: number;
}

export interface RateLimiter {
  /** Takes a token for `key`: 0 when there was one, else the seconds until there is. */
  take(key: string, nowMs?: number): number;
  readonly size: number;
}

export function createRateLimiter(perMinute: number, maxKeys: number): RateLimiter {
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, Bucket>();
  return {
    get size() {
      return buckets.size;
    },
    take(key, nowMs = Date.now()) {
      let b = buckets.get(key);
      if (b) {
        buckets.delete(key);
        b.tokens = Math.min(perMinute, b.tokens + Math.max(0, nowMs - b.atMs) * perMs);
        b.atMs = nowMs;
      } else {
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value!);
        b = { tokens: perMinute, atMs: nowMs };
      }
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return (1 - b.tokens) / perMs / 1000;
    },
  };
}
