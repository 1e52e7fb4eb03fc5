/**
 * `npm run bench:experiments`: the time to compute an A/B experiment's results (`GET
 * /api/feature-flags/ab-tests/:id/results`, the same code: the ClickHouse queries of query/experiments.ts and
 * the statistics) over a generated store. BENCH_EVENTS synthetic events (default 1M; the figure to record is at
 * 10M: BENCH_EVENTS=10000000) are generated inside ClickHouse for one tenant over 44 days: one
 * `$feature_flag_called` exposure per person (a tenth of the events; the experiment runs the last 30 days, two
 * variants), then purchases with an order value, page views, barge-ins and KB searches of those persons, some
 * before their exposure (the CUPED window). The results of an experiment with a conversion, a mean and a catalog
 * metric are then timed BENCH_RUNS times (default 20) and p50 / p95 printed, once the bulk load's merges have
 * settled. BENCH_DATA_DIR keeps the generated store for another run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Experiment } from '../experiments/ab-tests/definition.ts';
import { experimentResults } from '../experiments/ab-tests/results.ts';
import { migrate } from '../storage/migrate.ts';
import { openStore } from '../storage/store.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const DAY = 86_400_000;
const keptDir = process.env.BENCH_DATA_DIR;
const dir = keptDir ?? mkdtempSync(join(tmpdir(), 'sh-bench-experiments-'));
const store = await openStore({ dataDir: dir });
await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0 });

const count = async (sql: string) => Number((await (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<{ n: string }>())[0].n);
const stored = await count("SELECT count() AS n FROM signalhouse.otel_logs WHERE TenantId = 'bench'");
if (stored !== 0 && stored !== EVENTS) throw new Error(`BENCH_DATA_DIR holds ${stored} events, not BENCH_EVENTS=${EVENTS}`);
// A kept store is timed against the times it was generated with.
const end = stored > 0 ? await count("SELECT toUnixTimestamp64Milli(max(Timestamp)) + 1 AS n FROM signalhouse.otel_logs WHERE TenantId = 'bench'") : Date.now();
const start = end - 30 * DAY;
const PERSONS = Math.max(1000, Math.round(EVENTS / 10));
const OTHER = ['purchase', '$pageview', '$pageview', 'voice.barge_in', 'kb.search'];

const t0 = performance.now();
const CHUNK = 2_000_000;
for (let from = 0; stored === 0 && from < EVENTS; from += CHUNK) {
  const n = Math.min(CHUNK, EVENTS - from);
  await store.client.command({
    query: `INSERT INTO signalhouse.otel_logs (TenantId, EventId, EventName, Timestamp, UserId, LogAttributes)
      SELECT 'bench', toString(number),
        if(number < ${PERSONS}, '$feature_flag_called', [${OTHER.map((e) => `'${e}'`).join(',')}][cityHash64(number, 1) % ${OTHER.length} + 1]),
        fromUnixTimestamp64Milli(toInt64(if(number < ${PERSONS},
          ${start} + intDiv(number * ${30 * DAY}, ${PERSONS}),
          ${start - 14 * DAY} + cityHash64(number, 2) % ${44 * DAY}))),
        concat('u', toString(if(number < ${PERSONS}, number, cityHash64(number, 3) % ${PERSONS}))),
        if(number < ${PERSONS},
          map('$feature_flag', 'bench-experiment', '$feature_flag_response', if(cityHash64(number, 4) % 2 = 0, 'control', 'treatment')),
          map('order.value', toString(5 + cityHash64(number, 5) % 200), 'kb.results_count', toString(number % 4)))
      FROM numbers(${from}, ${n})`,
  });
}
if (stored === 0)
  console.log(
    `generated ${EVENTS.toLocaleString('en-US')} events (${PERSONS.toLocaleString('en-US')} exposed persons) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

const settleStart = performance.now();
for (let quiet = 0; quiet < 3 && performance.now() - settleStart < 20 * 60_000; ) {
  await new Promise((r) => setTimeout(r, 2000));
  quiet = (await count("SELECT count() AS n FROM system.merges WHERE database = 'signalhouse'")) === 0 ? quiet + 1 : 0;
}
console.log(`background merges settled after ${((performance.now() - settleStart) / 1000).toFixed(0)} s`);

const iso = (ms: number) => new Date(ms).toISOString();
const experiment: Experiment = {
  id: 'bench-experiment',
  name: 'Bench experiment',
  status: 'running',
  flagKey: 'bench-experiment',
  variants: [
    { id: 'control', name: 'Control', allocation: 50, config: {}, isControl: true },
    { id: 'treatment', name: 'Treatment', allocation: 50, config: {}, isControl: false },
  ],
  metrics: [
    { id: 'purchase', name: 'Purchase', type: 'conversion', event: 'purchase', aggregation: 'rate', isPrimary: true },
    { id: 'revenue', name: 'Revenue', type: 'mean', attribute: 'order.value', event: 'purchase', aggregation: 'sum', isPrimary: false },
    { id: 'kb', name: 'KB hit rate', type: 'catalog', metric: 'kb.hit_rate', aggregation: 'mean', isPrimary: false },
  ],
  createdBy: 'bench',
  startAt: iso(start),
  endAt: null,
  createdAt: iso(start),
  updatedAt: iso(start),
  version: 1,
};

const first = await experimentResults(store, 'bench', experiment, end);
console.log(`exposures ${first.exposures.toLocaleString('en-US')}, SRM p = ${first.srm.pValue.toFixed(3)}`);
const ms: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const t = performance.now();
  await experimentResults(store, 'bench', experiment, end);
  ms.push(performance.now() - t);
}
ms.sort((a, b) => a - b);
const p = (q: number) => ms[Math.min(RUNS - 1, Math.ceil(RUNS * q) - 1)].toFixed(0);
console.log(`experiment results (3 metrics, ${EVENTS.toLocaleString('en-US')} events): p50 ${p(0.5)} ms, p95 ${p(0.95)} ms over ${RUNS} runs`);

await store.close();
if (!keptDir) rmSync(dir, { recursive: true, force: true });
