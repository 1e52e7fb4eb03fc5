/**
 * `npm run bench:erasure -- <events>` (default 1,000,000): how long erasing one person takes in a store of that
 * many events. Runs a service in this process (embedded store, defaults), fills otel_logs over 30 days with
 * `<events>` events of 10,000 people (the catalog's events, so the rollup's views fill `rollup_1m` as ingest
 * would; written with INSERT … SELECT in blocks of 1M rows, not through the API, to build a large store fast),
 * then gives one of them, stitched through an identify, 200 events spread over the 30 days, and erases that
 * person through the API. Prints the store's size, the time until the job is done, and how long each step took
 * (seen by polling the job every 20 ms), then how long a summary report took before and after.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../core/config.ts';
import { createService } from '../service/service.ts';

const EVENTS = Number(process.argv[2] ?? process.env.BENCH_EVENTS ?? 1_000_000);
const PEOPLE = 10_000;
const DAYS = 30;
const ADMIN = 'at_bench_erasure';
const READ = 'rt_bench_erasure';
const dir = mkdtempSync(join(tmpdir(), 'sh-bench-erasure-'));
const config = parseConfig(
  {
    exporters: { clickhouse: { data_dir: dir } },
    service: { http: { host: '127.0.0.1', port: 0 }, log_level: 'warn' },
    tenants: [{ id: 'bench', write_keys: ['wk_bench_erasure'], read_tokens: [READ], admin_tokens: [ADMIN] }],
  },
  {},
  'bench',
);
const service = await createService(config, pino({ level: 'warn' }));
const url = await service.listen();
const client = service.store.client;
const now = Math.floor(Date.now() / 1000);

const fill = (n: number, offset: number) => `
  INSERT INTO signalhouse.otel_logs (Timestamp, TenantId, EventName, EventId, UserId, AnonymousId, SessionId, LogAttributes)
  SELECT fromUnixTimestamp64Nano(toInt64((${now} - (number * 7919) % ${DAYS * 86_400}) * 1e9) + number % 1000000000), 'bench',
    ['kb.search', 'ai.tool_call_completed', 'commerce.view', 'commerce.checkout', 'voice.first_response'][number % 5 + 1],
    concat('e', toString(number)), if(number % 3 = 0, '', concat('u', toString(number % ${PEOPLE}))), concat('a', toString(number % ${PEOPLE})),
    concat('s', toString(intDiv(number, 20))),
    map('kb.search_latency_ms', toString(number % 900), 'kb.results_count', toString(number % 4), 'ai.tool.success', if(number % 9 = 0, 'false', 'true'),
      'voice.first_response_ms', toString(300 + number % 700))
  FROM numbers(${offset}, ${n})`;

let t = performance.now();
for (let offset = 0; offset < EVENTS; offset += 1_000_000) {
  await client.command({ query: fill(Math.min(1_000_000, EVENTS - offset), offset), clickhouse_settings: { throw_on_max_partitions_per_insert_block: 0 } });
}
// The person: an identify linking anonymous a-bench to u-bench, and 200 events over the 30 days.
await client.command({
  query: `INSERT INTO signalhouse.otel_logs (Timestamp, TenantId, EventName, EventId, UserId, AnonymousId, SessionId, LogAttributes)
    SELECT fromUnixTimestamp64Nano(toInt64((${now} - number * ${Math.floor((DAYS * 86_400) / 200)}) * 1e9)), 'bench',
      if(number = 0, 'identify', ['kb.search', 'commerce.view'][number % 2 + 1]), concat('p', toString(number)),
      if(number % 4 = 1, '', 'u-bench'), 'a-bench', 's-bench', map('kb.search_latency_ms', '120', 'kb.results_count', '2')
    FROM numbers(200)`,
  clickhouse_settings: { throw_on_max_partitions_per_insert_block: 0 },
});
const fillMs = performance.now() - t;
const [size] = await (
  await client.query({
    query: "SELECT sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = 'signalhouse' AND table = 'otel_logs' AND active",
    format: 'JSONEachRow',
  })
).json<{ rows: string; bytes: string }>();

const summary = async () => {
  const s = performance.now();
  const res = await fetch(`${url}/api/v1/analytics/reports/summary`, {
    method: 'POST',
    headers: { authorization: `Bearer ${READ}`, 'content-type': 'application/json' },
    body: JSON.stringify({ from: (now - DAYS * 86_400) * 1000, to: (now + 60) * 1000 }),
  });
  await res.text();
  return performance.now() - s;
};
const before = await summary();

t = performance.now();
const created = await fetch(`${url}/api/v1/privacy/erasures`, {
  method: 'POST',
  headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
  body: JSON.stringify({ user_id: 'u-bench' }),
});
const { id } = (await created.json()) as { id: string };
const steps: Array<[string, number]> = [];
let job: { status: string; step: string; erased: { events: number } };
for (;;) {
  job = (await (await fetch(`${url}/api/v1/privacy/erasures/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as typeof job;
  if (steps.at(-1)?.[0] !== job.step) steps.push([job.step, performance.now() - t]);
  if (job.status !== 'running') break;
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const totalMs = performance.now() - t;
const after = await summary();

console.log(
  `| store | ${Number(size.rows).toLocaleString('en-US')} events, ${(Number(size.bytes) / 1e6).toFixed(0)} MB on disk (filled in ${(fillMs / 1000).toFixed(1)} s) |`,
);
console.log(`| erasure of one person (${job.erased.events} events) | ${job.status} in ${totalMs.toFixed(0)} ms |`);
for (let i = 0; i < steps.length; i++) {
  const [step, at] = steps[i];
  const next = steps[i + 1]?.[1] ?? totalMs;
  console.log(`| step ${step} | from ${at.toFixed(0)} ms, ~${(next - at).toFixed(0)} ms |`);
}
console.log(`| summary report, 30 days | before ${before.toFixed(0)} ms, after ${after.toFixed(0)} ms |`);
await service.close();
rmSync(dir, { recursive: true, force: true });
