/**
 * The exporters' retry policy with real timers and intervals of a few ms: backoff doubles up to its cap, jitter
 * stays within its share, the time budget ends a run, `persistent` carries it past the budget, and a permanent
 * error is not retried.
 */
import { describe, expect, it } from 'vitest';
import { createRetryPolicy, retryConfigSchema, retryPolicyOf } from './retry.ts';

class Transient extends Error {}
const isRetryable = (err: unknown) => err instanceof Transient;

/** An attempt that fails retryably `failures` times (or forever), then succeeds; counts its calls. */
function flaky(failures = Number.POSITIVE_INFINITY) {
  const state = { calls: 0 };
  const attempt = async () => {
    state.calls++;
    if (state.calls <= failures) throw new Transient(`failure ${state.calls}`);
  };
  return { state, attempt };
}

/** Records each failure as the policy reports it. */
function recorder() {
  const failures: Array<{ retryable: boolean; retrying: boolean; delay: number }> = [];
  return { failures, onFailure: (_err: unknown, retryable: boolean, retrying: boolean, delay: number) => failures.push({ retryable, retrying, delay }) };
}

describe('retry policy', () => {
  it('doubles the wait from initial_interval up to max_interval, and succeeds once the attempt does', async () => {
    const policy = createRetryPolicy({ initialInterval: 2, maxInterval: 8, maxElapsedTime: 10_000, jitter: 0 });
    const { state, attempt } = flaky(5);
    const { failures, onFailure } = recorder();
    expect(await policy.run(attempt, { isRetryable, onFailure })).toBeUndefined();
    expect(state.calls).toBe(6);
    expect(failures.map((f) => f.delay)).toEqual([2, 4, 8, 8, 8]);
    expect(failures.every((f) => f.retrying && f.retryable)).toBe(true);
  });

  it('takes at most the jitter share off each wait', async () => {
    const policy = createRetryPolicy({ initialInterval: 4, maxInterval: 16, maxElapsedTime: 10_000, jitter: 0.5 });
    const { attempt } = flaky(12);
    const { failures, onFailure } = recorder();
    expect(await policy.run(attempt, { isRetryable, onFailure })).toBeUndefined();
    const nominal = [4, 8, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16];
    failures.forEach((f, i) => {
      expect(f.delay).toBeLessThanOrEqual(nominal[i]);
      expect(f.delay).toBeGreaterThanOrEqual(nominal[i] * 0.5);
    });
    // Twelve draws of Math.random() all exactly 0 would be needed for no wait to be shortened.
    expect(failures.some((f, i) => f.delay < nominal[i])).toBe(true);
  });

  it('gives up once a further wait would pass max_elapsed_time, with the last error', async () => {
    const policy = createRetryPolicy({ initialInterval: 2, maxInterval: 4, maxElapsedTime: 40, jitter: 0 });
    const { state, attempt } = flaky();
    const { failures, onFailure } = recorder();
    const failure = await policy.run(attempt, { isRetryable, onFailure });
    expect(failure).toMatchObject({ retryable: true, error: expect.any(Transient) });
    expect((failure!.error as Error).message).toBe(`failure ${state.calls}`);
    expect(state.calls).toBeGreaterThan(1);
    expect(failures.at(-1)!.retrying).toBe(false);
    // The waits it took fit in the budget.
    const waited = failures.filter((f) => f.retrying).reduce((sum, f) => sum + f.delay, 0);
    expect(waited).toBeLessThanOrEqual(40);
  });

  it('keeps retrying past max_elapsed_time while persistent says so', async () => {
    const policy = createRetryPolicy({ initialInterval: 1, maxInterval: 2, maxElapsedTime: 0, jitter: 0 });
    const { state, attempt } = flaky();
    const failure = await policy.run(attempt, { isRetryable, persistent: () => state.calls < 6 });
    expect(failure).toMatchObject({ retryable: true });
    expect(state.calls).toBe(6);
  });

  it('does not retry a permanent error, even when persistent', async () => {
    const policy = createRetryPolicy({ initialInterval: 1, maxInterval: 2, maxElapsedTime: 10_000 });
    let calls = 0;
    const permanent = new Error('refused');
    const { failures, onFailure } = recorder();
    const failure = await policy.run(
      async () => {
        calls++;
        throw permanent;
      },
      { isRetryable, onFailure, persistent: () => true },
    );
    expect(failure).toEqual({ error: permanent, retryable: false });
    expect(calls).toBe(1);
    expect(failures).toEqual([{ retryable: false, retrying: false, delay: expect.any(Number) }]);
  });

  it('reads its intervals from an exporter config and refuses a jitter outside 0–1', () => {
    const config = retryConfigSchema.parse({ initial_interval: '20ms', max_interval: '1s' });
    expect(createRetryPolicy(retryPolicyOf(config)).options).toEqual({ initialInterval: 20, maxInterval: 1000, maxElapsedTime: 30_000, jitter: 0.5 });
    expect(() => createRetryPolicy({ initialInterval: 1, maxInterval: 1, maxElapsedTime: 1, jitter: 2 })).toThrow(RangeError);
  });
});
