/**
 * `npm run bench:query`: report latency on the raw tables. Generates BENCH_EVENTS synthetic product events
 * (default 10M; set 100000000 for the 100M figure) inside ClickHouse — spread over 90 days, one tenant, three
 * sites, the catalog's events with plausible attributes — then times each report 20 times over one day, 30 days
 * and 90 days, on the raw tables and on the per-minute rollup, and prints p50 / p95. Uses the same SQL builders
 * as the API. (The rollup is filled by its materialized views as the events are generated.) Reports are timed once
 * the bulk load's background merges have settled and each idle day partition has been merged into one part, as
 * ClickHouse does an hour after a day's last write (BENCH_FORCE_MERGE=0: as generated). Then the dashboard's
 * screens, each timed as one page load (bench/dashboard.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../storage/migrate.ts';
import { FORCE_MERGE_SETTINGS } from '../storage/schema.ts';
import { openStore } from '../storage/store.ts';
import { METRICS_BY_NAME } from '../query/catalog.ts';
import { runFunnel } from '../query/funnel.ts';
import { grafanaSeriesSql, grafanaStatSql } from '../query/grafana.ts';
import { params, rollupSummarySql, rollupTimeseriesSql, summarySql, timeseriesSql } from '../query/sql.ts';
import { expandLikeGrafana } from '../test/helpers/grafana.ts';
import { dashboardRows, generateWebEvents } from './dashboard.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const DAY = 86_400_000;
// BENCH_DATA_DIR keeps the generated store for another run (generation is skipped when it already holds the events).
const keptDir = process.env.BENCH_DATA_DIR;
const dir = keptDir ?? mkdtempSync(join(tmpdir(), 'sh-bench-query-'));
const store = await openStore({ dataDir: dir });
const migrateStart = performance.now();
const applied = await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0 });
// On a kept store a new migration may rebuild the rollup from its events: worth seeing how long that takes.
if (keptDir && applied.length > 0) console.log(`migrations ${applied.join(', ')} applied in ${((performance.now() - migrateStart) / 1000).toFixed(1)} s`);
const stored = Number(
  (
    await (
      await store.client.query({ query: "SELECT count() AS n FROM signalhouse.otel_logs WHERE TenantId = 'bench'", format: 'JSONEachRow' })
    ).json<{ n: string }>()
  )[0].n,
);

// A kept store is timed from the newest generated event, so its ranges cover the same events.
const now =
  stored > 0
    ? Number(
        (
          await (
            await store.client.query({
              query: "SELECT toUnixTimestamp64Milli(max(Timestamp)) + 1 AS t FROM signalhouse.otel_logs WHERE TenantId = 'bench'",
              format: 'JSONEachRow',
            })
          ).json<{ t: string }>()
        )[0].t,
      )
    : Date.now();
const EVENT_NAMES = [
  'voice.turn_started',
  'voice.first_response',
  'voice.barge_in',
  'ai.tool_call_completed',
  'kb.search',
  'commerce.view',
  'commerce.add_to_cart',
  'commerce.checkout',
  'booking.slot_hold',
  'booking.confirmed',
];
const t0 = performance.now();
const CHUNK = 2_000_000;
if (stored !== 0 && stored !== EVENTS) throw new Error(`BENCH_DATA_DIR holds ${stored} events, not BENCH_EVENTS=${EVENTS}`);
for (let start = 0; stored === 0 && start < EVENTS; start += CHUNK) {
  const n = Math.min(CHUNK, EVENTS - start);
  await store.client.command({
    query: `INSERT INTO signalhouse.otel_logs (TenantId, EventId, EventName, Timestamp, SessionId, UserId, LogAttributes)
      SELECT 'bench', toString(number), [${EVENT_NAMES.map((e) => `'${e}'`).join(',')}][number % ${EVENT_NAMES.length} + 1],
        fromUnixTimestamp64Milli(toInt64(${now} - (cityHash64(number) % ${90 * DAY}))),
        concat('s', toString(intDiv(number, 7) % 2000000)), concat('u', toString(cityHash64(number, 1) % 500000)),
        map('site.id', concat('site-', toString(number % 3)),
            'voice.first_response_ms', toString(200 + cityHash64(number, 2) % 1800),
            'ai.tool.success', if(number % 5 = 0, 'false', 'true'),
            'kb.results_count', toString(number % 4), 'kb.search_latency_ms', toString(20 + cityHash64(number, 3) % 400),
            'booking.id', concat('b', toString(intDiv(number, 10))))
      FROM numbers(${start}, ${n})`,
  });
}
if (stored === 0) console.log(`generated ${EVENTS.toLocaleString('en-US')} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
// The dashboard's web tenant (page views, identify calls), BENCH_WEB_EVENTS of them (default a tenth of BENCH_EVENTS).
await generateWebEvents(store, Number(process.env.BENCH_WEB_EVENTS ?? Math.round(EVENTS / 10)), now);

// Time the reports on a settled store, not while the bulk load's merges still take the CPU (up to 20 minutes).
const settleStart = performance.now();
for (let quiet = 0; quiet < 3 && performance.now() - settleStart < 20 * 60_000; ) {
  await new Promise((r) => setTimeout(r, 2000));
  // Mutations too: a migration's background rewrite of the stored parts (e.g. migration 17's columns).
  const rs = await store.client.query({
    query:
      "SELECT (SELECT count() FROM system.merges WHERE database = 'signalhouse') + (SELECT count() FROM system.mutations WHERE database = 'signalhouse' AND NOT is_done) AS n",
    format: 'JSONEachRow',
  });
  quiet = Number((await rs.json<{ n: string }>())[0].n) === 0 ? quiet + 1 : 0;
}
console.log(`background merges settled after ${((performance.now() - settleStart) / 1000).toFixed(0)} s`);

// The steady state: a day partition is merged into one part an hour after its last write (migration 8). Every
// generated day is idle already, so the bench lets ClickHouse do that now rather than in an hour, with the same
// setting at 1 s, then puts the product's value back. BENCH_FORCE_MERGE=0 times the store as generated.
const partCount = async () =>
  (
    await (
      await store.client.query({
        query:
          "SELECT count() AS parts, uniqExact(partition) AS partitions FROM system.parts WHERE active AND database = 'signalhouse' AND table = 'otel_logs'",
        format: 'JSONEachRow',
      })
    ).json<{ parts: string; partitions: string }>()
  )[0];
if (process.env.BENCH_FORCE_MERGE !== '0') {
  const mergeStart = performance.now();
  const before = await partCount();
  await store.client.command({ query: 'ALTER TABLE signalhouse.otel_logs MODIFY SETTING min_age_to_force_merge_seconds = 1' });
  for (let p = before; Number(p.parts) > Number(p.partitions) && performance.now() - mergeStart < 60 * 60_000; p = await partCount())
    await new Promise((r) => setTimeout(r, 2000));
  await store.client.command({ query: `ALTER TABLE signalhouse.otel_logs MODIFY SETTING ${FORCE_MERGE_SETTINGS}` });
  const after = await partCount();
  console.log(
    `idle day partitions merged: otel_logs ${before.parts} → ${after.parts} parts (${after.partitions} partitions) in ${((performance.now() - mergeStart) / 1000).toFixed(0)} s`,
  );
} else console.log(`otel_logs as generated: ${(await partCount()).parts} parts`);
console.log('');

async function time(fn: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(RUNS * 0.5)], p95: ms[Math.min(RUNS - 1, Math.ceil(RUNS * 0.95) - 1)] };
}

async function metric(name: string, days: number, rollup: boolean, grain?: number) {
  const m = METRICS_BY_NAME.get(name)!;
  const q = { tenantId: 'bench', fromMs: now - days * DAY, toMs: now, grainSeconds: grain };
  const sql = grain
    ? (rollup ? rollupTimeseriesSql : timeseriesSql)('signalhouse', m, false)
    : (rollup ? rollupSummarySql : summarySql)('signalhouse', m, false);
  return time(async () => (await store.client.query({ query: sql, query_params: params(q), format: 'JSONEachRow' })).json());
}

const rows: Array<[string, string, { p50: number; p95: number }]> = [];
// BENCH_ONLY=dashboard: the dashboard's screens only (on a kept store, after a change to one of them).
const reportsToo = process.env.BENCH_ONLY !== 'dashboard';
for (const rollup of reportsToo ? [false, true] : []) {
  const path = rollup ? 'rollup' : 'raw';
  for (const [days, grain, label] of [
    [1, 3600, '1 day, 1h'],
    [30, 86_400, '30 days, 1d'],
    [90, 86_400, '90 days, 1d'],
  ] as const) {
    rows.push([`timeseries voice.first_response_ms.p95 (${path})`, label, await metric('voice.first_response_ms.p95', days, rollup, grain)]);
    rows.push([`timeseries ai.tool_calls.success_rate (${path})`, label, await metric('ai.tool_calls.success_rate', days, rollup, grain)]);
  }
  for (const days of [1, 30, 90])
    rows.push([`summary commerce.conversion_rate (${path})`, `${days} days`, await metric('commerce.conversion_rate', days, rollup)]);
}
// The Grafana dashboard's panels, expanded as Grafana expands them, at the intervals Grafana picks for ~1,000 px.
for (const [days, intervalMs, label] of reportsToo
  ? ([
      [1, 60_000, '1 day, 1m'],
      [30, 3_600_000, '30 days, 1h'],
      [90, 10_800_000, '90 days, 3h'],
    ] as const)
  : []) {
  const view = { tenant: 'bench', fromMs: now - days * DAY, toMs: now, intervalMs };
  const sql = expandLikeGrafana(grafanaSeriesSql('signalhouse', METRICS_BY_NAME.get('voice.first_response_ms.p95')!), view);
  rows.push([
    'Grafana time series voice.first_response_ms.p95',
    label,
    await time(async () => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json()),
  ]);
}
for (const days of reportsToo ? [1, 90] : []) {
  const sql = expandLikeGrafana(grafanaStatSql('signalhouse', METRICS_BY_NAME.get('ai.tool_calls.success_rate')!), {
    tenant: 'bench',
    fromMs: now - days * DAY,
    toMs: now,
  });
  rows.push([
    'Grafana stat ai.tool_calls.success_rate',
    `${days} days`,
    await time(async () => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json()),
  ]);
}
for (const days of reportsToo ? [1, 30] : []) {
  rows.push([
    'funnel view → cart → checkout',
    `${days} days`,
    await time(() =>
      runFunnel(store, {
        tenantId: 'bench',
        steps: ['commerce.view', 'commerce.add_to_cart', 'commerce.checkout'],
        fromMs: now - days * DAY,
        toMs: now,
        windowSeconds: 86_400,
        mode: 'ordered',
      }),
    ),
  ]);
}

rows.push(...(await dashboardRows(store, now, time)));

console.log(`| report | range | p50 ms | p95 ms |  (${EVENTS.toLocaleString('en-US')} events over 90 days, ${RUNS} runs)`);
console.log('|---|---|---:|---:|');
for (const [name, range, t] of rows) console.log(`| ${name} | ${range} | ${t.p50.toFixed(0)} | ${t.p95.toFixed(0)} |`);
await store.close();
if (!keptDir) rmSync(dir, { recursive: true, force: true });
