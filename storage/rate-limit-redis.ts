/**
 * Rate-limit buckets in Redis, so that every Signalhouse process pointing at one Redis shares one limit. A
 * request is one round trip: a Lua script refills and takes from all of the request's buckets atomically (the
 * arithmetic of core/rate-limit/bucket.ts, on Redis's own clock, so the processes' clocks need not agree), and
 * gives each bucket key a TTL of the time it takes to fill up again (a bucket gone is a full one).
 *
 * Redis never decides whether ingest works: commands are not queued while disconnected and each has a timeout
 * (`rate_limits.redis.timeout`), and a request Redis does not answer is decided by the local buckets instead
 * (`fallback`), counted in `signalhouse_rate_limit_redis_fallbacks_total`. After a failure the next second's
 * requests go straight to the local buckets (a hung Redis costs one timeout a second, not one a request); then
 * Redis is tried again. The client reconnects by itself; the first failure and the recovery are logged once
 * each, not per request.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BucketStore, RateBucket, TakeResult } from '../core/rate-limit/limiter.ts';
import type { Telemetry } from '../core/telemetry.ts';

/** KEYS: the buckets; ARGV: rate per second, capacity, amount for each. Returns {refused (0-based, -1), wait, tokens...}. */
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local tokens = {}
local stamps = {}
local refused = -1
local wait = 0
for i = 1, n do
  local rate = tonumber(ARGV[i * 3 - 2])
  local cap = tonumber(ARGV[i * 3 - 1])
  local want = tonumber(ARGV[i * 3])
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tok = tonumber(v[1])
  local at = tonumber(v[2])
  if tok == nil or at == nil then
    tok = cap
    at = now
  elseif now > at then
    tok = math.min(cap, tok + (now - at) * rate / 1000)
    at = now
  end
  tokens[i] = tok
  stamps[i] = at
  if tok < want then
    local w = (want - tok) / rate
    if w > wait then
      wait = w
      refused = i - 1
    end
  end
end
local out = {refused, tostring(wait)}
for i = 1, n do
  local rate = tonumber(ARGV[i * 3 - 2])
  local cap = tonumber(ARGV[i * 3 - 1])
  if refused < 0 then tokens[i] = tokens[i] - tonumber(ARGV[i * 3]) end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i]), 'at', tostring(stamps[i]))
  redis.call('PEXPIRE', KEYS[i], math.ceil((cap - tokens[i]) * 1000 / rate) + 1000)
  out[i + 2] = tostring(tokens[i])
end
return out
`;

export interface RedisBucketStoreOptions {
  url: string;
  keyPrefix: string;
  timeoutMs: number;
  /** Decides the requests Redis does not answer in time. */
  fallback: BucketStore;
  telemetry: Telemetry;
  logger: Logger;
}

/** After a failed command, how long requests skip Redis. */
const SKIP_AFTER_FAILURE_MS = 1000;

type TakeCommand = (numKeys: number, ...keysAndArgs: Array<string | number>) => Promise<[number, string, ...string[]]>;

export function createRedisBucketStore(opts: RedisBucketStoreOptions): BucketStore {
  const { fallback, telemetry, logger, keyPrefix } = opts;
  const redis = new Redis(opts.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.timeoutMs,
    connectTimeout: Math.max(1000, opts.timeoutMs),
    // Reconnect soon, then every 2 s at most, for as long as the service runs.
    retryStrategy: (times) => Math.min(times * 100, 2000),
  });
  redis.defineCommand('signalhouseTakeTokens', { lua: TAKE_SCRIPT });
  const take = (redis as unknown as { signalhouseTakeTokens: TakeCommand }).signalhouseTakeTokens.bind(redis);
  let healthy = true;
  /** Until then, requests are decided locally without asking Redis. */
  let skipUntilMs = 0;
  const unhealthy = (err: unknown) => {
    if (!healthy) return;
    healthy = false;
    logger.warn({ err }, 'rate limits: Redis unavailable, deciding on local buckets until it answers again');
  };
  redis.on('error', unhealthy);
  redis.on('ready', () => {
    if (healthy) return;
    healthy = true;
    logger.warn('rate limits: Redis answers again, limits are shared');
  });

  return {
    async take(buckets: readonly RateBucket[], amounts: readonly number[]): Promise<TakeResult> {
      if (skipUntilMs > 0 && Date.now() < skipUntilMs) {
        telemetry.rateLimitFallbacks.inc();
        return fallback.take(buckets, amounts);
      }
      const args: Array<string | number> = [];
      for (const b of buckets) args.push(keyPrefix + b.id);
      for (let i = 0; i < buckets.length; i++) args.push(buckets[i].ratePerSecond, buckets[i].capacity, amounts[i]);
      try {
        const [refused, wait, ...tokens] = await take(buckets.length, ...args);
        return { refused: Number(refused), waitSeconds: Number(wait), tokens: tokens.map(Number) };
      } catch (err) {
        unhealthy(err);
        skipUntilMs = Date.now() + SKIP_AFTER_FAILURE_MS;
        telemetry.rateLimitFallbacks.inc();
        return fallback.take(buckets, amounts);
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}
