/**
 * The Redis bucket store against a real `redis-server` on a random loopback port: the script's refill-and-take,
 * all or nothing across a request's buckets, the TTL on each bucket key, and the local fallback (counted) when
 * Redis does not answer. Refill is one token a 100 s, so counts are exact whatever the timing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import pino from 'pino';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLocalBucketStore, type RateBucket } from '../core/rate-limit/limiter.ts';
import { createTelemetry } from '../core/telemetry.ts';
import { freePort } from '../test/helpers/process.ts';
import { createRedisBucketStore } from './rate-limit-redis.ts';

let server: ChildProcess;
let url: string;
beforeAll(async () => {
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  server = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve();
    });
    server.once('exit', () => reject(new Error(`redis-server exited:\n${out}`)));
  });
});
afterAll(() => {
  server?.kill('SIGKILL');
});

const bucket = (id: string, kind: 'requests' | 'events', capacity: number): RateBucket => ({ id, kind, scope: 'key', ratePerSecond: 0.01, capacity });
const logger = pino({ level: 'silent' });

it('refills and takes atomically across buckets, with a TTL on each bucket key', async () => {
  const telemetry = createTelemetry();
  const store = createRedisBucketStore({ url, keyPrefix: 'test:', timeoutMs: 2000, fallback: createLocalBucketStore(10), telemetry, logger });
  const requests = bucket('{acme}:requests', 'requests', 3);
  const events = bucket('{acme}:key:k1:events', 'events', 10);
  try {
    // Until the store's connection is up its commands fall back (they are not queued): warm it up on a bucket of
    // its own, until a take is answered by Redis.
    const fallbacks = async () => (await telemetry.rateLimitFallbacks.get()).values[0]?.value ?? 0;
    const warm = bucket('{warm}:requests', 'requests', 1000);
    for (let before = -1, tries = 0; before !== (await fallbacks()) && tries < 100; tries++) {
      before = await fallbacks();
      await new Promise((r) => setTimeout(r, 20));
      await store.take([warm], [0]);
    }
    const used = await fallbacks();
    const probe = new Redis(url);
    let r = await store.take([requests, events], [1, 6]);
    expect(r.refused).toBe(-1);
    expect(r.tokens.map(Math.floor)).toEqual([2, 4]);
    r = await store.take([requests, events], [1, 6]);
    expect(r.refused).toBe(1);
    expect(r.waitSeconds).toBeGreaterThan(100);
    // Refused: no request token taken either.
    expect(r.tokens.map(Math.floor)).toEqual([2, 4]);
    r = await store.take([requests, events], [1, 4]);
    expect(r.refused).toBe(-1);
    r = await store.take([requests, events], [1, 0]);
    expect(r.refused).toBe(-1);
    r = await store.take([requests, events], [1, 0]);
    expect(r.refused).toBe(0);
    const ttl = await probe.pttl('test:{acme}:requests');
    // Empty: full again in 300 s, plus a second.
    expect(ttl).toBeGreaterThan(290_000);
    expect(ttl).toBeLessThanOrEqual(301_000);
    const left = Number(await probe.hget('test:{acme}:key:k1:events', 'tokens'));
    expect(left).toBeGreaterThanOrEqual(0);
    expect(left).toBeLessThan(1);
    probe.disconnect();
    expect(await fallbacks()).toBe(used);
  } finally {
    await store.close!();
  }
});

it('decides on the local buckets, counted, when Redis does not answer', async () => {
  const telemetry = createTelemetry();
  const closedPort = await freePort();
  const store = createRedisBucketStore({
    url: `redis://127.0.0.1:${closedPort}`,
    keyPrefix: 'test:',
    timeoutMs: 100,
    fallback: createLocalBucketStore(10),
    telemetry,
    logger,
  });
  try {
    const b = bucket('{acme}:requests', 'requests', 2);
    expect((await store.take([b], [1])).refused).toBe(-1);
    expect((await store.take([b], [1])).refused).toBe(-1);
    expect((await store.take([b], [1])).refused).toBe(0);
    expect((await telemetry.rateLimitFallbacks.get()).values[0].value).toBe(3);
  } finally {
    await store.close!();
  }
});

it('after Redis fails to answer, decides the next requests locally without asking it', async () => {
  const telemetry = createTelemetry();
  const store = createRedisBucketStore({ url, keyPrefix: 'hung:', timeoutMs: 300, fallback: createLocalBucketStore(10), telemetry, logger });
  const probe = new Redis(url);
  const scriptCalls = async () => {
    const stats = await probe.info('commandstats');
    return [...stats.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };
  try {
    const b = bucket('{acme}:requests', 'requests', 100);
    // Connected and answered once.
    for (let tries = 0; tries < 100 && (await scriptCalls()) === 0; tries++) {
      await new Promise((r) => setTimeout(r, 20));
      await store.take([b], [1]);
    }
    const before = await scriptCalls();
    const fallbacksBefore = (await telemetry.rateLimitFallbacks.get()).values[0]?.value ?? 0;
    server.kill('SIGSTOP');
    try {
      for (let i = 0; i < 5; i++) expect((await store.take([b], [1])).refused).toBe(-1);
    } finally {
      server.kill('SIGCONT');
    }
    // The first request timed out (Redis runs it once it resumes); the four after it never reached Redis.
    await expect.poll(scriptCalls).toBe(before + 1);
    expect((await telemetry.rateLimitFallbacks.get()).values[0].value).toBe(fallbacksBefore + 5);
  } finally {
    probe.disconnect();
    await store.close!();
  }
});
