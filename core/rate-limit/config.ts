/**
 * The rate limits' options: `rate_limits` (defaults for every tenant and every key, the bucket table's bound,
 * Redis for limits shared between processes) and `tenants[].rate_limits` (a tenant's own limits, and per-key
 * overrides naming a key as the tenant lists it). Every rate is optional: a limit not set does not apply, and
 * with none set anywhere nothing is limited (the default).
 */
import { z } from 'zod';
import { durationMs, intLike } from '../units.ts';

const rate = z.number().positive('a rate is a number above 0 (leave it out for no limit)').max(1e9);

/** A bucket's two rates and its burst, each optional (merged over the defaults, field by field). */
const limitFields = {
  /** Requests a second (each HTTP request, gRPC call or WebSocket message is one). */
  requests_per_second: rate.optional(),
  /** Events (log records, spans) a second, counted per request as sent. */
  events_per_second: rate.optional(),
  /** The bucket holds this many seconds' worth of tokens: the burst after a pause. Default 1. */
  burst_seconds: z.number().positive('burst_seconds is a number above 0').max(3600).optional(),
};
export const limitSchema = z.strictObject(limitFields);
export type LimitConfig = z.infer<typeof limitSchema>;

const keyOverrideSchema = z.strictObject({
  /** A write key, read token or admin token exactly as the tenant lists it (a `sha256:` entry as written). */
  key: z.string().min(1),
  ...limitFields,
});

export const tenantRateLimitsSchema = z.strictObject({
  ...limitFields,
  /** Limits of single keys, over `rate_limits.key`. */
  keys: z.array(keyOverrideSchema).default([]),
});
export type TenantRateLimitsConfig = z.infer<typeof tenantRateLimitsSchema>;

export const rateLimitsSchema = z
  .strictObject({
    /** Every tenant's limits, unless it sets its own (`tenants[].rate_limits`, field by field). */
    tenant: limitSchema.optional(),
    /** Every key's own limits, unless the tenant overrides them (`tenants[].rate_limits.keys`). */
    key: limitSchema.optional(),
    /** Buckets kept in memory (local limits, and the fallback when Redis is down); the least recently used go first. */
    max_buckets: intLike(1, 10_000_000).default(100_000),
    /** Buckets in Redis, shared by every process pointing at it; without it, each process limits on its own. */
    redis: z
      .strictObject({
        url: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'a redis:// or rediss:// URL'),
        /** Prefix of the bucket keys. */
        key_prefix: z.string().min(1).max(128).default('signalhouse:ratelimit:'),
        /** How long a request waits for Redis before it is decided by the local buckets instead. */
        timeout: durationMs.default(100),
      })
      .optional(),
  })
  .prefault({});
export type RateLimitsConfig = z.infer<typeof rateLimitsSchema>;
