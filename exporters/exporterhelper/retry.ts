/**
 * The retry policy every exporter push uses, as in the Collector's exporterhelper (`retry_on_failure`): a failed
 * attempt whose error is retryable is tried again after an exponentially growing wait (doubling from
 * `initial_interval` up to `max_interval`, with jitter), for up to `max_elapsed_time`; a permanent error is not
 * retried. Acknowledged data that must not be given up (landed rows on their way to their table) runs the same
 * policy with `persistent`: past `max_elapsed_time` it keeps trying while that says so.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { durationMs } from '../../core/units.ts';

/** The `retry` options of an exporter's config. */
export const retryConfigSchema = z
  .strictObject({
    initial_interval: durationMs.default(100),
    max_interval: durationMs.default(5_000),
    max_elapsed_time: durationMs.default(30_000),
  })
  .prefault({});
export type RetryConfig = z.infer<typeof retryConfigSchema>;

export interface RetryPolicyOptions {
  /** The first wait, in ms; each further wait doubles, up to `maxInterval`. */
  initialInterval: number;
  maxInterval: number;
  /** No wait starts that could end past this, in ms since the first attempt (unless `persistent` says so). */
  maxElapsedTime: number;
  /**
   * Share of each wait taken off at random, 0–1: a wait of `d` lasts between `d * (1 - jitter)` and `d`, so
   * clients failing together do not retry together. 0.5 unless given.
   */
  jitter?: number;
}

export interface RetryHooks {
  isRetryable(err: unknown): boolean;
  /** After each failed attempt: `retrying` says whether another follows, after `delayMs`. */
  onFailure?(err: unknown, retryable: boolean, retrying: boolean, delayMs: number): void;
  /** While this returns true, retryable failures are retried past `maxElapsedTime`. */
  persistent?(): boolean;
}

/** How a run ended that did not succeed: its last error, and whether that one was retryable. */
export interface RetryFailure {
  readonly error: unknown;
  readonly retryable: boolean;
}

export interface RetryPolicy {
  readonly options: Readonly<Required<RetryPolicyOptions>>;
  /** Runs `attempt` until it succeeds (undefined) or the policy gives up (its last failure). */
  run(attempt: () => Promise<void>, hooks: RetryHooks): Promise<RetryFailure | undefined>;
}

/** The policy of an exporter's `retry` options. */
export function retryPolicyOf(config: RetryConfig): RetryPolicyOptions {
  return { initialInterval: config.initial_interval, maxInterval: config.max_interval, maxElapsedTime: config.max_elapsed_time };
}

export function createRetryPolicy(opts: RetryPolicyOptions): RetryPolicy {
  const options = { jitter: 0.5, ...opts };
  if (!(options.jitter >= 0 && options.jitter <= 1)) throw new RangeError(`jitter must be within 0–1, got ${options.jitter}`);
  return {
    options,
    async run(attempt, hooks) {
      const started = Date.now();
      let interval = options.initialInterval;
      for (;;) {
        try {
          await attempt();
          return undefined;
        } catch (err) {
          const retryable = hooks.isRetryable(err);
          // The budget is checked against the full interval, so jitter never stretches a run past it.
          const retrying = retryable && (Date.now() - started + interval <= options.maxElapsedTime || hooks.persistent?.() === true);
          const delay = interval * (1 - options.jitter * Math.random());
          hooks.onFailure?.(err, retryable, retrying, delay);
          if (!retrying) return { error: err, retryable };
          await sleep(delay);
          interval = Math.min(interval * 2, options.maxInterval);
        }
      }
    },
  };
}
