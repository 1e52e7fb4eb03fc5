/**
 * Token-bucket arithmetic, shared by every rate limit in the process (the per-tenant and per-key limits, the
 * analytics service's per-user limit) and mirrored by the Redis script (storage/rate-limit-redis.ts): a bucket
 * holds at most `capacity` tokens, gains `ratePerSecond` a second, and a request takes `n` tokens only when all
 * `n` are there. Refused takes cost nothing, so tokens never go below zero and over any interval of `t` seconds
 * at most `capacity + ratePerSecond × t` tokens are taken.
 */

export interface BucketLimit {
  /** Tokens gained a second (> 0). */
  readonly ratePerSecond: number;
  /** Most tokens held: the burst. */
  readonly capacity: number;
}

export interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, the caller's clock). */
  atMs: number;
}

/** A full bucket: a caller not seen before (or forgotten) may send a whole burst. */
export function fullBucket(limit: BucketLimit, nowMs: number): Bucket {
  return { tokens: limit.capacity, atMs: nowMs };
}

/** Brings `b` up to `nowMs`: the tokens gained since, up to the capacity. A clock going back gains nothing. */
export function refill(b: Bucket, limit: BucketLimit, nowMs: number): void {
  if (nowMs <= b.atMs) return;
  b.tokens = Math.min(limit.capacity, b.tokens + ((nowMs - b.atMs) * limit.ratePerSecond) / 1000);
  b.atMs = nowMs;
}

/** Seconds until `b` (refilled) holds `n` tokens: 0 when it does now. */
export function secondsUntil(b: Bucket, limit: BucketLimit, n: number): number {
  return b.tokens >= n ? 0 : (n - b.tokens) / limit.ratePerSecond;
}

/** Seconds until `b` (refilled) is full again. */
export function secondsUntilFull(b: Bucket, limit: BucketLimit): number {
  return (limit.capacity - b.tokens) / limit.ratePerSecond;
}

/**
 * Buckets by id, at most `maxBuckets` of them, the least recently used forgotten first (a Map in use order). A
 * forgotten caller starts again with a full bucket, so the bound can only make a limit laxer, and only for
 * callers seen less recently than `maxBuckets` others.
 */
export interface BucketTable {
  /** The bucket of `id`, refilled to `nowMs` (a full one when new), now the most recently used. */
  get(id: string, limit: BucketLimit, nowMs: number): Bucket;
  readonly size: number;
}

export function createBucketTable(maxBuckets: number): BucketTable {
  const buckets = new Map<string, Bucket>();
  return {
    get size() {
      return buckets.size;
    },
    get(id, limit, nowMs) {
      let b = buckets.get(id);
      if (b) {
        buckets.delete(id);
        refill(b, limit, nowMs);
      } else {
        if (buckets.size >= maxBuckets) buckets.delete(buckets.keys().next().value!);
        b = fullBucket(limit, nowMs);
      }
      buckets.set(id, b);
      return b;
    },
  };
}
