/** The per-user token bucket, on a given clock: its burst, its refill, and its memory bound. */
import { expect, it } from 'vitest';
import { createRateLimiter } from './rate-limit.ts';

it('allows a burst of the per-minute count, then one event per refilled token, and says how long to wait', () => {
  const limiter = createRateLimiter(60, 10);
  for (let i = 0; i < 60; i++) expect(limiter.take('u', 1000)).toBe(0);
  expect(limiter.take('u', 1000)).toBeCloseTo(1, 6); // one token a second
  expect(limiter.take('u', 1500)).toBeCloseTo(0.5, 6);
  expect(limiter.take('u', 2000)).toBe(0);
  expect(limiter.take('u', 2000)).toBeCloseTo(1, 6);
  // A long pause refills the bucket up to its size, not beyond.
  for (let i = 0; i < 60; i++) expect(limiter.take('u', 10_000_000)).toBe(0);
  expect(limiter.take('u', 10_000_000)).toBeGreaterThan(0);
  expect(limiter.take('other', 10_000_000)).toBe(0);
});

it('keeps at most max_users buckets, forgetting the least recently used first', () => {
  const limiter = createRateLimiter(1, 3);
  for (const u of ['a', 'b', 'c']) expect(limiter.take(u, 0)).toBe(0);
  expect(limiter.take('a', 0)).toBeGreaterThan(0); // a is now the most recent
  expect(limiter.take('d', 0)).toBe(0); // b, the least recent, is forgotten
  expect(limiter.size).toBe(3);
  expect(limiter.take('c', 0)).toBeGreaterThan(0);
  expect(limiter.take('a', 0)).toBeGreaterThan(0);
  expect(limiter.take('b', 0)).toBe(0); // a fresh bucket
  for (let i = 0; i < 1000; i++) limiter.take(`u${i}`, 0);
  expect(limiter.size).toBe(3);
});
