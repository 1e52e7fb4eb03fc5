/**
 * The token buckets on a given clock: the bound every bucket keeps (a property), and the limiter's rules — all
 * or nothing across a caller's buckets, per-tenant and per-key buckets, overrides over defaults, the headers, a
 * batch larger than the burst refused as too large, and no work for callers without a limit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config.ts';
import type { SignalhouseError } from '../errors.ts';
import { createTelemetry } from '../telemetry.ts';
import { createTenantRegistry, type Principal } from '../tenants.ts';
import { createLocalBucketStore, createRateLimiter, type RateBucket } from './limiter.ts';

describe('a token bucket', () => {
  it('never allows more than rate × t + burst over any interval, and never holds fewer than 0 tokens', () => {
    const step = fc.record({ dtMs: fc.integer({ min: 0, max: 400 }), n: fc.integer({ min: 1, max: 8 }) });
    fc.assert(
      fc.property(
        fc.double({ min: 0.5, max: 200, noNaN: true }),
        fc.double({ min: 0.1, max: 5, noNaN: true }),
        fc.array(step, { minLength: 1, maxLength: 300 }),
        (rate, burstSeconds, steps) => {
          let nowMs = 1_000_000;
          const store = createLocalBucketStore(10, () => nowMs);
          const bucket: RateBucket = { id: 'b', kind: 'events', scope: 'tenant', ratePerSecond: rate, capacity: Math.max(1, rate * burstSeconds) };
          const allowed: Array<{ atMs: number; n: number }> = [];
          for (const { dtMs, n } of steps) {
            nowMs += dtMs;
            const r = store.take([bucket], [n]);
            if (r instanceof Promise) throw new Error('the local store answers at once');
            expect(r.tokens[0]).toBeGreaterThanOrEqual(-1e-9);
            if (r.refused < 0) allowed.push({ atMs: nowMs, n });
            else expect(r.waitSeconds).toBeGreaterThan(0);
          }
          // Every window [first take, last take]: the tokens taken fit the burst plus what the window refilled.
          for (let i = 0; i < allowed.length; i++) {
            let sum = 0;
            for (let j = i; j < allowed.length; j++) {
              sum += allowed[j].n;
              const seconds = (allowed[j].atMs - allowed[i].atMs) / 1000;
              expect(sum).toBeLessThanOrEqual(bucket.capacity + rate * seconds + 1e-6);
            }
          }
        },
      ),
      { seed: 42, numRuns: 300, interruptAfterTimeLimit: 4000 },
    );
  });
});

const config = parseConfig(
  {
    rate_limits: { tenant: { requests_per_second: 100 }, key: { events_per_second: 50, burst_seconds: 2 } },
    tenants: [
      {
        id: 'acme',
        write_keys: ['wk_acme_browser', 'wk_acme_server'],
        read_tokens: ['rt_acme_reader'],
        rate_limits: {
          requests_per_second: 3,
          keys: [
            { key: 'wk_acme_server', events_per_second: 1000 },
            { key: 'rt_acme_reader', requests_per_second: 1 },
          ],
        },
      },
      { id: 'globex', write_keys: ['wk_globex_key'] },
    ],
  },
  {},
  'test',
);

function limiterAt(clock: { nowMs: number }) {
  const telemetry = createTelemetry();
  const limiter = createRateLimiter({ config: config.rate_limits, tenants: config.tenants, telemetry, store: createLocalBucketStore(100, () => clock.nowMs) });
  return { limiter, telemetry };
}
const registry = createTenantRegistry(config.tenants);
const who = (key: string): Principal => registry.principal(key)!;
const admit = (limiter: ReturnType<typeof limiterAt>['limiter'], key: string, events: number) => {
  const r = limiter.admit(who(key), events);
  if (r instanceof Promise) throw new Error('the local store answers at once');
  return r;
};
const refusal = (fn: () => unknown): SignalhouseError => {
  try {
    fn();
  } catch (err) {
    return err as SignalhouseError;
  }
  throw new Error('not refused');
};

describe('the rate limiter', () => {
  it("limits a tenant's requests across its keys, and other tenants not at all", () => {
    const clock = { nowMs: 0 };
    const { limiter } = limiterAt(clock);
    // The headers name the bucket closest to refusing: the tenant's 3 requests, 2 left.
    expect(admit(limiter, 'wk_acme_browser', 1)).toEqual({ 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': '1' });
    admit(limiter, 'wk_acme_server', 1);
    admit(limiter, 'rt_acme_reader', 0);
    const err = refusal(() => admit(limiter, 'wk_acme_server', 1));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.statusCode).toBe(429);
    expect(err.retryAfterSeconds).toBe(1);
    expect(err.headers).toEqual({ 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' });
    expect(err.message).toMatch(/the tenant's 3 requests per second/);
    // globex has the default tenant limit (100 a second) and the default key limit (50 events a second, 2 s).
    for (let i = 0; i < 50; i++) admit(limiter, 'wk_globex_key', 2);
    expect(refusal(() => admit(limiter, 'wk_globex_key', 1)).message).toMatch(/this key's 50 events per second \(burst 100\)/);
    clock.nowMs += 1000;
    expect(admit(limiter, 'wk_acme_server', 1)).toBeDefined();
  });

  it('takes from every bucket or from none: a refused batch costs no request token', () => {
    const clock = { nowMs: 0 };
    const { limiter, telemetry } = limiterAt(clock);
    admit(limiter, 'wk_acme_browser', 100); // the browser key's 100-event burst, one request
    expect(refusal(() => admit(limiter, 'wk_acme_browser', 1)).message).toMatch(/this key's 50 events/);
    expect(refusal(() => admit(limiter, 'wk_acme_browser', 1)).retryAfterSeconds).toBe(1);
    // Two requests refused took no request tokens: the tenant still has two of three.
    admit(limiter, 'wk_acme_server', 500);
    admit(limiter, 'wk_acme_server', 500);
    expect(refusal(() => admit(limiter, 'wk_acme_server', 1)).message).toMatch(/the tenant's/);
    return telemetry.rateLimited.get().then((m) => {
      const counts = Object.fromEntries(m.values.map((v) => [`${v.labels.tenant}/${v.labels.kind}/${v.labels.reason}`, v.value]));
      expect(counts).toEqual({ 'acme/events/key': 2, 'acme/requests/tenant': 1 });
    });
  });

  it("applies a key's override over the key default, and the read token's own request limit", () => {
    const clock = { nowMs: 0 };
    const { limiter } = limiterAt(clock);
    // 1 request a second with the key default's burst of 2 seconds.
    admit(limiter, 'rt_acme_reader', 0);
    admit(limiter, 'rt_acme_reader', 0);
    expect(refusal(() => admit(limiter, 'rt_acme_reader', 0)).message).toMatch(/this key's 1 requests per second \(burst 2\)/);
    // The server key's override (1000 events a second, burst 2 s) replaces the key default's 50.
    // (The key default's burst of 100 would refuse it as too large.) It takes the tenant's third request.
    expect(admit(limiter, 'wk_acme_server', 2000)).toEqual({ 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' });
    expect(refusal(() => admit(limiter, 'wk_acme_browser', 101)).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses a batch larger than an event bucket can ever hold as too large, not as a retry', () => {
    const { limiter } = limiterAt({ nowMs: 0 });
    const err = refusal(() => admit(limiter, 'wk_acme_browser', 101));
    expect(err.code).toBe('PAYLOAD_TOO_LARGE');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/101 events is more than this key's event burst of 100/);
  });

  it("gives each bearer-JWT subject the key default's own buckets, inside its tenant's", () => {
    const { limiter } = limiterAt({ nowMs: 0 });
    const tenant = registry.byId('globex')!;
    const jwt = (sub: string): Principal => ({ tenant, role: 'read', keyId: `jwt:https://idp.example#${sub}` });
    const take = (p: Principal, events: number) => {
      const r = limiter.admit(p, events);
      if (r instanceof Promise) throw new Error('the local store answers at once');
      return r;
    };
    take(jwt('alice'), 100);
    expect(refusal(() => take(jwt('alice'), 1)).message).toMatch(/this key's 50 events per second/);
    expect(take(jwt('bob'), 100)).toBeDefined();
  });

  it('does nothing for callers without a limit', () => {
    const plain = parseConfig({ tenants: [{ id: 'acme', write_keys: ['wk_acme_browser'] }] }, {}, 'test');
    const limiter = createRateLimiter({ config: plain.rate_limits, tenants: plain.tenants, telemetry: createTelemetry() });
    expect(limiter.active).toBe(false);
    const p = createTenantRegistry(plain.tenants).principal('wk_acme_browser')!;
    for (let i = 0; i < 10_000; i++) expect(limiter.admit(p, 1000)).toBeUndefined();
  });
});
