/**
 * An open-loop load generator: requests start at a constant rate, on schedule, whether or not earlier ones have
 * been answered (as wrk2 or vegeta do). autocannon's `overallRate` is not that: each connection sends its share
 * of a second back to back as soon as the second starts, so "1,000 req/s over 100 connections" arrives as a burst
 * of 100 concurrent requests at the top of every second. That measures bursts; a steady rate needs this.
 *
 * Latency is measured from each request's scheduled start, not from when it was sent, so a late generator or a
 * slow server cannot hide queueing (coordinated omission). The generator's own lateness is reported beside it.
 */
import { Pool } from 'undici';
import { setTimeout as sleep } from 'node:timers/promises';

export interface OpenLoopOptions {
  url: string;
  headers: Record<string, string>;
  /** A fresh body per request. */
  body: () => Buffer;
  /** Requests per second. */
  rate: number;
  seconds: number;
  /** Connections the generator may open; enough that it never waits for one (default 1,024). */
  maxSockets?: number;
}

export interface OpenLoopResult {
  ok: number;
  non2xx: number;
  errors: number;
  seconds: number;
  /** Milliseconds from each 2xx request's scheduled start to its reply, sorted. */
  latencies: number[];
  maxInFlight: number;
  /** The generator's lateness in sending, ms (p99): what of the latencies is the generator's own doing. */
  sendLagP99: number;
}

export async function openLoop(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const target = new URL(opts.url);
  // undici: a fraction of node:http's CPU per request, so the generator takes less of the two cores it shares.
  const pool = new Pool(target.origin, { connections: opts.maxSockets ?? 1024, pipelining: 1 });
  const latencies: number[] = [];
  const lags: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let inFlight = 0;
  let maxInFlight = 0;

  async function fire(due: number): Promise<void> {
    const body = opts.body();
    lags.push(performance.now() - due);
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    try {
      const res = await pool.request({ path: target.pathname, method: 'POST', headers: opts.headers, body });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        ok++;
        latencies.push(performance.now() - due);
      } else non2xx++;
    } catch {
      errors++;
    } finally {
      inFlight--;
    }
  }

  const interval = 1000 / opts.rate;
  const total = Math.round(opts.rate * opts.seconds);
  const start = performance.now() + 20;
  const replies: Array<Promise<void>> = [];
  for (let i = 0; i < total; ) {
    // Timers fire late by a millisecond or so: send everything that is due, then sleep until the next one.
    for (const now = performance.now(); i < total && start + i * interval <= now; i++) replies.push(fire(start + i * interval));
    if (i < total) await sleep(Math.max(0, start + i * interval - performance.now()));
  }
  await Promise.all(replies);
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  return { ok, non2xx, errors, seconds, latencies, maxInFlight, sendLagP99: lags[Math.floor(lags.length * 0.99)] ?? 0 };
}
