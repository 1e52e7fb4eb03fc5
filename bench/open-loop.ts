/**
 * An open-loop load generator: requests start at a constant rate, on schedule, whether or not earlier ones have
 * been answered (as wrk2 or vegeta do). autocannon's `overallRate` is not that: each connection sends its share
 * of a second back to back as soon as the second starts, so "1,000 req/s over 100 connections" arrives as a burst
 * of 100 concurrent requests at the top of every second. That measures bursts; a steady rate needs this.
 *
 * Latency is measured from each request's scheduled start, not from when it was sent, so a late generator or a
 * slow server cannot hide queueing (coordinated omission). The generator's own lateness is reported beside it.
 *
 * A warm-up (`WARMUP_SECONDS`, BENCH_WARMUP, default 2 s) runs first at the same rate on the same connections and
 * is left out of the figures: a fresh process's first second at 1,000 req/s is its JIT compiling the request path
 * (the event loop stalls for ~100 ms once, p99 of that second ~50–90 ms), which would otherwise be 10% of a 10 s
 * measurement. Its acknowledged requests are counted apart, for the stored-rows check.
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
  /** Called when the warm-up is over and the measured seconds begin (to take CPU readings). */
  onMeasureStart?: () => void;
}

/** Seconds at the scenario's rate before the measured ones (BENCH_WARMUP). */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 2);

export interface Schedule {
  seconds: number;
  /** The generator's lateness in sending, ms (p99). */
  sendLagP99: number;
  maxInFlight: number;
}

/**
 * Starts `fire(due)` `rate` times a second for `seconds`, each at its scheduled time whether or not earlier ones
 * have finished; resolves once all have.
 */
async function steadySchedule(rate: number, seconds: number, fire: (due: number) => Promise<void>): Promise<Schedule> {
  const lags: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const interval = 1000 / rate;
  const total = Math.round(rate * seconds);
  const start = performance.now() + 20;
  const pending: Array<Promise<void>> = [];
  const send = async (due: number) => {
    lags.push(performance.now() - due);
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    try {
      await fire(due);
    } finally {
      inFlight--;
    }
  };
  for (let i = 0; i < total; ) {
    // Timers fire late by a millisecond or so: send everything that is due, then sleep until the next one.
    for (const now = performance.now(); i < total && start + i * interval <= now; i++) pending.push(send(start + i * interval));
    if (i < total) await sleep(Math.max(0, start + i * interval - performance.now()));
  }
  await Promise.all(pending);
  lags.sort((a, b) => a - b);
  return { seconds: (performance.now() - start) / 1000, sendLagP99: lags[Math.floor(lags.length * 0.99)] ?? 0, maxInFlight };
}

/**
 * The warm-up (WARMUP_SECONDS at the same rate), then the measured `seconds`; `fire` is told which of the two a
 * request belongs to. Returns the measured seconds' schedule.
 */
export async function warmedSchedule(
  rate: number,
  seconds: number,
  fire: (due: number, measured: boolean) => Promise<void>,
  onMeasureStart?: () => void,
): Promise<Schedule> {
  if (WARMUP_SECONDS > 0) await steadySchedule(rate, WARMUP_SECONDS, (due) => fire(due, false));
  onMeasureStart?.();
  return steadySchedule(rate, seconds, (due) => fire(due, true));
}

export interface OpenLoopResult {
  ok: number;
  /** Requests answered 2xx during the warm-up (not in the other figures). */
  warmupOk: number;
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
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let warmupOk = 0;

  async function fire(due: number, measuring: boolean): Promise<void> {
    const body = opts.body();
    try {
      const res = await pool.request({ path: target.pathname, method: 'POST', headers: opts.headers, body });
      await res.body.dump();
      const is2xx = res.statusCode >= 200 && res.statusCode < 300;
      if (!measuring) warmupOk += is2xx ? 1 : 0;
      else if (is2xx) {
        ok++;
        latencies.push(performance.now() - due);
      } else non2xx++;
    } catch {
      if (measuring) errors++;
    }
  }

  const { seconds, sendLagP99, maxInFlight } = await warmedSchedule(opts.rate, opts.seconds, fire, opts.onMeasureStart);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { ok, warmupOk, non2xx, errors, seconds, latencies, maxInFlight, sendLagP99 };
}

/** One steady scenario, for its generator's own process (steady-client.ts). */
export interface SteadySpec {
  transport: 'http' | 'grpc';
  /** HTTP: the server's base URL; gRPC: `host:port`. */
  target: string;
  /** The request's protobuf template (fresh event ids are written into each copy). */
  templateFile: string;
  rate: number;
  seconds: number;
  /** Where the generator's request numbers start (payloads.ts `reserveRequests`). */
  firstRequest: number;
}

export interface SteadyResult extends Omit<OpenLoopResult, 'latencies'> {
  p50: number;
  p95: number;
  p99: number;
  /** This process's CPU over the measured seconds, µs. */
  cpuMicros: number;
}
