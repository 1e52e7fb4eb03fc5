/** Replies and retries: which statuses are retried, `Retry-After` in both its forms, and the jittered backoff. */
import { describe, expect, it } from 'vitest';
import { backoffMs, outcomeOf, retryAfterMs } from '../src/transport.ts';

describe('replies', () => {
  it('are stored on 2xx, retried on 408, 429 and 5xx, dropped on other statuses', () => {
    expect([200, 202, 204].map(outcomeOf)).toEqual(['ok', 'ok', 'ok']);
    expect([408, 429, 500, 502, 503, 504].map(outcomeOf)).toEqual(['retry', 'retry', 'retry', 'retry', 'retry', 'retry']);
    expect([400, 401, 403, 404, 413, 415].map(outcomeOf)).toEqual(['drop', 'drop', 'drop', 'drop', 'drop', 'drop']);
  });

  it('read Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs('30', now)).toBe(30_000);
    expect(retryAfterMs('0', now)).toBe(0);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:01:00 GMT', now)).toBe(60_000);
    expect(retryAfterMs('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
    expect([null, '', 'soon', '-5'].map((h) => retryAfterMs(h, now))).toEqual([0, 0, 0, 0]);
  });
});

describe('backoff', () => {
  it('doubles from 1 s up to 5 minutes, drawn from the upper half of each step', () => {
    expect([0, 1, 2, 3].map((a) => [backoffMs(a, 0), backoffMs(a, 1)])).toEqual([
      [500, 1000],
      [1000, 2000],
      [2000, 4000],
      [4000, 8000],
    ]);
    expect([backoffMs(20, 0), backoffMs(20, 1)]).toEqual([150_000, 300_000]);
  });
});
