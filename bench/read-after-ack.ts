/**
 * `npm run bench:read-after-ack`: what reading one's own writes costs a query. Every query route first waits
 * until every acknowledged event is in its table (landed rows move on first). Runs a service in this process
 * (embedded store, defaults), loads BENCH_EVENTS events (default 20,000) through OTLP/HTTP, then prints:
 * - the barrier alone when nothing is pending (µs per call);
 * - a summary report (three tool-call metrics over the last hour) with nothing pending, p50 / p95;
 * - the same report sent right after a single-event request was acknowledged, so its event is still landed and
 *   the query waits for one move first, p50 / p95;
 * - the same report started every 50 ms while single events arrive at 200 req/s.
 * BENCH_RUNS (default 200) queries per case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../core/config.ts';
import { createService } from '../service/service.ts';
import { otlpJsonLogs } from '../test/helpers/payloads.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const KEY = 'wk_bench_raa';
const TOKEN = 'rt_bench_raa';
const dir = mkdtempSync(join(tmpdir(), 'sh-bench-raa-'));
const config = parseConfig(
  {
    exporters: { clickhouse: { data_dir: dir } },
    service: { http: { host: '127.0.0.1', port: 0 }, log_level: 'warn' },
    tenants: [{ id: 'bench', write_keys: [KEY], read_tokens: [TOKEN] }],
  },
  { GRPC_PORT: '0' },
  'bench',
);
const service = await createService(config, pino({ level: 'warn' }));
const url = await service.listen();

let sent = 0;
async function ingest(n: number): Promise<void> {
  const res = await fetch(`${url}/v1/logs`, {
    method: 'POST',
    body: otlpJsonLogs(n, { prefix: `raa-${++sent}` }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
  });
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

const summaryBody = () =>
  JSON.stringify({
    from: Date.now() - 3_600_000,
    to: Date.now() + 60_000,
    metrics: ['ai.tool_calls.count', 'ai.tool_calls.success_rate', 'ai.navigation_optimism_rate'],
  });
async function summary(): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${url}/api/v1/analytics/reports/summary`, {
    method: 'POST',
    body: summaryBody(),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
  });
  if (res.status !== 200) throw new Error(`summary answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
  return performance.now() - started;
}

const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1);
const report = (label: string, times: number[]) => {
  times.sort((a, b) => a - b);
  console.log(`${label}: p50 ${pct(times, 0.5)} ms, p95 ${pct(times, 0.95)} ms (${times.length} queries)`);
};

for (let i = 0; i < EVENTS; i += 500) await ingest(Math.min(500, EVENTS - i));
await service.settle();
for (let i = 0; i < 20; i++) await summary(); // warm-up

const BARRIER_CALLS = 10_000;
const b0 = performance.now();
for (let i = 0; i < BARRIER_CALLS; i++) await service.settle();
console.log(`barrier with nothing pending: ${(((performance.now() - b0) * 1000) / BARRIER_CALLS).toFixed(2)} µs per call`);

const idle: number[] = [];
for (let i = 0; i < RUNS; i++) idle.push(await summary());
report('summary, nothing pending', idle);

const afterAck: number[] = [];
for (let i = 0; i < RUNS; i++) {
  await ingest(1);
  afterAck.push(await summary());
}
report('summary right after a single-event ack (waits for one move)', afterAck);

// Single events at 200 req/s for the whole case, a query every 50 ms.
const underLoad: number[] = [];
let loading = true;
const load = (async () => {
  const inFlight = new Set<Promise<void>>();
  for (let next = performance.now(); loading; next += 5) {
    const p = ingest(1).finally(() => inFlight.delete(p));
    inFlight.add(p);
    await new Promise((r) => setTimeout(r, Math.max(0, next + 5 - performance.now())));
  }
  await Promise.all(inFlight);
})();
for (let i = 0; i < RUNS; i++) {
  const started = performance.now();
  underLoad.push(await summary());
  await new Promise((r) => setTimeout(r, Math.max(0, 50 - (performance.now() - started))));
}
loading = false;
await load;
report('summary every 50 ms while single events arrive at 200 req/s', underLoad);

await service.close();
rmSync(dir, { recursive: true, force: true });
