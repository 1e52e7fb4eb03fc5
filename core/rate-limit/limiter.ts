/**
 * Rate limits per tenant and per key: each caller's request takes one token from each of its request buckets
 * and one token per event from each of its event buckets (its tenant's, its key's), all or none. A request that
 * would take more than a bucket holds is refused whole, 429 RATE_LIMITED with `Retry-After` and `X-RateLimit-*`:
 * an ingest batch is never stored in part, so what a client resends is exactly what was refused. A batch larger
 * than an event bucket's burst could never pass, and is refused as PAYLOAD_TOO_LARGE (413, split it) instead.
 *
 * Which buckets a caller has is worked out once at start for every configured key (`plans`), so a request with
 * no limit configured costs one Map lookup and nothing else. The buckets live in a BucketStore: local memory, or
 * Redis shared by several processes (storage/rate-limit-redis.ts), one round trip per request.
 */
import type { TenantConfig } from '../config.ts';
import { SignalhouseError } from '../errors.ts';
import type { Telemetry } from '../telemetry.ts';
import { configuredKeyId, type Principal } from '../tenants.ts';
import { type Bucket, type BucketLimit, createBucketTable, secondsUntil, secondsUntilFull } from './bucket.ts';
import type { LimitConfig, RateLimitsConfig } from './config.ts';

export type TokenKind = 'requests' | 'events';
export type BucketScope = 'tenant' | 'key';

export interface RateBucket extends BucketLimit {
  /** `{<tenant>}:requests`, `{<tenant>}:key:<key id>:events`, …: the braces keep a tenant's buckets in one Redis Cluster slot. */
  readonly id: string;
  readonly kind: TokenKind;
  readonly scope: BucketScope;
}

export interface TakeResult {
  /** The bucket that refused (the one with the longest wait), or -1 when every take was made. */
  readonly refused: number;
  /** Seconds until the refusing bucket holds what was asked; 0 when allowed. */
  readonly waitSeconds: number;
  /** Each bucket's tokens after the take (as they were, when refused). */
  readonly tokens: readonly number[];
}

/** Where buckets live. A take is atomic: `amounts[i]` from `buckets[i]` for every i, or nothing. */
export interface BucketStore {
  take(buckets: readonly RateBucket[], amounts: readonly number[]): TakeResult | Promise<TakeResult>;
  close?(): Promise<void>;
}

/** The buckets in this process's memory, bounded (core/rate-limit/bucket.ts), on `now`'s clock. */
export function createLocalBucketStore(maxBuckets: number, now: () => number = Date.now): BucketStore {
  const table = createBucketTable(maxBuckets);
  return {
    take(buckets, amounts) {
      const nowMs = now();
      const states: Bucket[] = buckets.map((b) => table.get(b.id, b, nowMs));
      let refused = -1;
      let waitSeconds = 0;
      for (let i = 0; i < buckets.length; i++) {
        const wait = secondsUntil(states[i], buckets[i], amounts[i]);
        if (wait > waitSeconds) {
          waitSeconds = wait;
          refused = i;
        }
      }
      if (refused < 0) for (let i = 0; i < buckets.length; i++) states[i].tokens -= amounts[i];
      return { refused, waitSeconds, tokens: states.map((s) => s.tokens) };
    },
  };
}

/** The `X-RateLimit-*` headers of the bucket closest to refusing: its size, tokens left, seconds until full. */
export type RateLimitHeaders = Readonly<Record<'x-ratelimit-limit' | 'x-ratelimit-remaining' | 'x-ratelimit-reset', string>>;

export interface RateLimiter {
  /** Some caller has a limit. */
  readonly active: boolean;
  /**
   * Admits one request of `caller` carrying `events` events (0 for a query): the headers describing its tightest
   * bucket, or undefined when no limit applies to it; throws RATE_LIMITED or PAYLOAD_TOO_LARGE as above.
   */
  admit(caller: Principal, events: number): RateLimitHeaders | undefined | Promise<RateLimitHeaders | undefined>;
  close(): Promise<void>;
}

/** Limits nothing (for components made outside a service, e.g. in tests). */
export const NO_RATE_LIMITS: RateLimiter = { active: false, admit: () => undefined, close: async () => {} };

const DEFAULT_BURST_SECONDS = 1;
const NO_BUCKETS: readonly RateBucket[] = [];

/** A limit's buckets under `base` (`{tenant}` or `{tenant}:key:<id>`). A bucket holds at least one token. */
function bucketsOf(limit: LimitConfig, base: string, scope: BucketScope): RateBucket[] {
  const burst = limit.burst_seconds ?? DEFAULT_BURST_SECONDS;
  const out: RateBucket[] = [];
  for (const [kind, rate] of [
    ['requests', limit.requests_per_second],
    ['events', limit.events_per_second],
  ] as const) {
    if (rate !== undefined) out.push({ id: `${base}:${kind}`, kind, scope, ratePerSecond: rate, capacity: Math.max(1, rate * burst) });
  }
  return out;
}

/** `own` over `base`, field by field (its per-key list left out). */
function merged(base: LimitConfig | undefined, own: LimitConfig | undefined): LimitConfig {
  const { requests_per_second, events_per_second, burst_seconds } = { ...base, ...own };
  const out: { -readonly [K in keyof LimitConfig]: LimitConfig[K] } = {};
  if (requests_per_second !== undefined) out.requests_per_second = requests_per_second;
  if (events_per_second !== undefined) out.events_per_second = events_per_second;
  if (burst_seconds !== undefined) out.burst_seconds = burst_seconds;
  return out;
}

export interface RateLimiterOptions {
  config: RateLimitsConfig;
  tenants: readonly TenantConfig[];
  telemetry: Telemetry;
  /** Where the buckets live; default: local memory. */
  store?: BucketStore;
}

export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  const { config, telemetry } = opts;
  const store = opts.store ?? createLocalBucketStore(config.max_buckets);
  /** Buckets by key id, for every configured key. */
  const plans = new Map<string, readonly RateBucket[]>();
  /** By tenant: its own buckets, for callers without a plan (bearer JWTs), who get `rate_limits.key` besides. */
  const tenantBuckets = new Map<string, readonly RateBucket[]>();
  for (const t of opts.tenants) {
    const own = t.rate_limits;
    const tenantLevel = bucketsOf(merged(config.tenant, own), `{${t.id}}`, 'tenant');
    tenantBuckets.set(t.id, tenantLevel);
    for (const [role, entries] of [
      ['write', t.write_keys],
      ['read', t.read_tokens],
      ['admin', t.admin_tokens ?? []],
    ] as const) {
      for (const entry of entries) {
        const keyId = configuredKeyId(role, entry);
        const override = own?.keys.find((k) => k.key === entry);
        const keyLevel = bucketsOf(merged(config.key, override), `{${t.id}}:key:${keyId}`, 'key');
        const buckets = [...tenantLevel, ...keyLevel];
        if (buckets.length > 0) plans.set(keyId, buckets);
      }
    }
  }
  const active = plans.size > 0 || [...tenantBuckets.values()].some((b) => b.length > 0);

  /** A configured key's plan; a bearer JWT (not configured: its subject is its key) gets its tenant's and the key default's. */
  const planOf = (caller: Principal): readonly RateBucket[] => {
    const plan = plans.get(caller.keyId);
    if (plan !== undefined) return plan;
    if (!caller.keyId.startsWith('jwt:')) return NO_BUCKETS;
    const tenantLevel = tenantBuckets.get(caller.tenant.id) ?? NO_BUCKETS;
    return config.key ? [...tenantLevel, ...bucketsOf(config.key, `{${caller.tenant.id}}:key:${caller.keyId}`, 'key')] : tenantLevel;
  };

  const decide = (caller: Principal, buckets: readonly RateBucket[], result: TakeResult): RateLimitHeaders => {
    if (result.refused >= 0) {
      const b = buckets[result.refused];
      const headers = headersOf(b, result.tokens[result.refused]);
      telemetry.rateLimited.inc({ tenant: caller.tenant.id, kind: b.kind, reason: b.scope });
      const whose = b.scope === 'tenant' ? "the tenant's" : "this key's";
      throw new SignalhouseError('RATE_LIMITED', `rate limit exceeded: ${whose} ${b.ratePerSecond} ${b.kind} per second (burst ${Math.floor(b.capacity)})`, {
        retryAfterSeconds: Math.max(1, Math.ceil(result.waitSeconds)),
        headers,
      });
    }
    let tightest = 0;
    for (let i = 1; i < buckets.length; i++) {
      if (result.tokens[i] / buckets[i].capacity < result.tokens[tightest] / buckets[tightest].capacity) tightest = i;
    }
    return headersOf(buckets[tightest], result.tokens[tightest]);
  };

  return {
    active,
    admit(caller, events) {
      const buckets = planOf(caller);
      if (buckets.length === 0) return undefined;
      const amounts = buckets.map((b) => (b.kind === 'requests' ? 1 : events));
      for (const b of buckets) {
        if (b.kind === 'events' && events > b.capacity) {
          const whose = b.scope === 'tenant' ? "the tenant's" : "this key's";
          throw new SignalhouseError(
            'PAYLOAD_TOO_LARGE',
            `a batch of ${events} events is more than ${whose} event burst of ${Math.floor(b.capacity)} (events_per_second × burst_seconds): send smaller batches`,
          );
        }
      }
      const result = store.take(buckets, amounts);
      return result instanceof Promise ? result.then((r) => decide(caller, buckets, r)) : decide(caller, buckets, result);
    },
    async close() {
      await store.close?.();
    },
  };
}

function headersOf(b: RateBucket, tokens: number): RateLimitHeaders {
  return {
    'x-ratelimit-limit': String(Math.floor(b.capacity)),
    'x-ratelimit-remaining': String(Math.max(0, Math.floor(tokens))),
    'x-ratelimit-reset': String(Math.ceil(secondsUntilFull({ tokens, atMs: 0 }, b))),
  };
}
