/**
 * `npm run bench:insert`: the cost of one INSERT into the embedded store by size and input format. Native is what
 * the exporter sends (encoded by rows.ts); RowBinary (read through `file()`, what earlier versions sent) and
 * JSONEachRow (sent inline) carry the same rows, written out by ClickHouse itself from the Native insert.
 * Prints wall and CPU time per INSERT (CPU of the whole process: chDB runs inside it). Then one landing-slot
 * INSERT, what a small request's reply waits for, in the Log slots of migration 9 and the File slots of migration 10;
 * then one landing row appended to a File slot's file by the process (what the exporter does), and 1,000 rows
 * as one block or as 1,000 blocks of one INSERT.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEvent } from '../core/event.ts';
import { migrate } from '../storage/migrate.ts';
import { encodeLogBlock, LOG_FORMAT } from '../exporters/clickhouse/rows.ts';
import { appendLandingRow, LANDING_COLUMNS, type LandingRow, landingRowBytes } from '../exporters/clickhouse/landing.ts';
import { AUDIT_IDENTITY_VIEW } from '../storage/governance.ts';
import { landingSlotTable, logLandingSlotTable } from '../storage/schema.ts';
import { openStore, sqlString } from '../storage/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'sh-bench-insert-'));
const store = await openStore({ dataDir: dir });
await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0, rollups: process.env.BENCH_ROLLUPS !== '0' });
// BENCH_AUDIT_VIEW=0: without the audit log's view of identify and alias calls, to measure what it adds to an INSERT.
if (process.env.BENCH_AUDIT_VIEW === '0') await store.client.command({ query: `DROP VIEW signalhouse.${AUDIT_IDENTITY_VIEW}` });
const resource = {
  attributes: { 'service.name': 'bench-app', 'service.version': '1.4.2', 'deployment.environment': 'prod' },
  schemaUrl: '',
  serviceName: 'bench-app',
};
const scope = { name: 'signalhouse.bench', version: '1.0.0', attributes: {}, schemaUrl: '' };
const now = BigInt(Date.now()) * 1_000_000n;
const event = (i: number): LogEvent => ({
  eventId: `evt-${i}`,
  sessionId: `sess-${i % 211}`,
  userId: `user-${i % 1009}`,
  anonymousId: '',
  timeUnixNano: now + BigInt(i),
  observedTimeUnixNano: now,
  traceId: '',
  spanId: '',
  traceFlags: 0,
  severityText: 'INFO',
  severityNumber: 9,
  body: 'tool call completed',
  eventName: 'ai.tool_call_completed',
  attributes: {
    'log.record.uid': `evt-${i}`,
    'gen_ai.tool.name': 'lookup_order',
    'ai.tool.category': 'navigation',
    'ai.tool.duration_ms': String(80 + (i % 200)),
    'ai.tool.success': 'true',
    'gen_ai.conversation.id': `conv-${i % 97}`,
    'session.id': `sess-${i % 211}`,
    'user.id': `user-${i % 1009}`,
    'site.id': 'site-main',
  },
  resource,
  scope,
});

async function measure(runs: number, fn: (k: number) => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  await fn(-1);
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  for (let k = 0; k < runs; k++) await fn(k);
  const cpu = process.cpuUsage(cpu0);
  return { wall: (performance.now() - t) / runs, cpu: (cpu.user + cpu.system) / 1000 / runs };
}

const table = 'signalhouse.otel_logs';
console.log(
  `rollup views ${process.env.BENCH_ROLLUPS === '0' ? 'off (BENCH_ROLLUPS=0)' : 'on'}, audit view ${process.env.BENCH_AUDIT_VIEW === '0' ? 'off (BENCH_AUDIT_VIEW=0)' : 'on'}\n`,
);
console.log('| rows per INSERT | format | ms per INSERT | CPU ms per INSERT | CPU µs per row | rows/s |');
console.log('|---:|---|---:|---:|---:|---:|');
let token = 0;
for (const n of [1, 100, 1_000, 10_000, 50_000]) {
  const events = Array.from({ length: n }, (_, i) => event(i));
  const runs = n >= 10_000 ? 5 : 20;
  const native = await measure(runs, () =>
    store.insertNative({
      table,
      columns: LOG_FORMAT.columns,
      structure: LOG_FORMAT.structure,
      payloads: [encodeLogBlock([{ tenantId: 'bench', events }])],
      settings: `insert_deduplication_token = 'nt-${token++}'`,
    }),
  );
  // The same rows in the other formats, written by ClickHouse.
  const rowBinaryPath = join(dir, `rows-${n}.rowbinary`);
  const select = `SELECT ${LOG_FORMAT.columns.slice(1, -1)} FROM ${table} WHERE TenantId = 'bench' LIMIT ${n}`;
  await store.client.command({ query: `INSERT INTO FUNCTION file(${sqlString(rowBinaryPath)}, 'RowBinary', ${sqlString(LOG_FORMAT.structure)}) ${select}` });
  const rb = await measure(runs, () =>
    store.client.command({
      query: `INSERT INTO ${table} ${LOG_FORMAT.columns} SETTINGS insert_deduplication_token = 'rb-${token++}' SELECT * FROM file(${sqlString(rowBinaryPath)}, 'RowBinary', ${sqlString(LOG_FORMAT.structure)})`,
    }),
  );
  const jsonPath = join(dir, `rows-${n}.json`);
  await store.client.command({ query: `INSERT INTO FUNCTION file(${sqlString(jsonPath)}, 'JSONEachRow') ${select}` });
  const json = await readFile(jsonPath, 'utf8');
  const js = await measure(runs, async () => {
    const r = await store.client.exec({
      query: `INSERT INTO ${table} SETTINGS insert_deduplication_token = 'js-${token++}' FORMAT JSONEachRow`,
      values: json as never,
    });
    r.stream.resume();
  });
  for (const [format, m] of [
    ['Native via file() (exporter)', native],
    ['RowBinary via file()', rb],
    ['JSONEachRow inline', js],
  ] as const) {
    console.log(
      `| ${n.toLocaleString('en-US')} | ${format} | ${m.wall.toFixed(1)} | ${m.cpu.toFixed(1)} | ${((m.cpu * 1000) / n).toFixed(2)} | ${Math.round((n / m.wall) * 1000).toLocaleString('en-US')} |`,
    );
  }
}

// The same 1,000 rows as one Native block or as 1,000 one-row blocks in one INSERT: what a landing generation
// of single-event commits costs its move unmerged and merged (landing.ts, MERGE_MAX_ROWS).
console.log('\n| 1,000 rows in one INSERT | ms per INSERT | CPU ms per INSERT |');
console.log('|---|---:|---:|');
const thousand = Array.from({ length: 1_000 }, (_, i) => event(i));
for (let round = 0; round < 2; round++) {
  for (const [name, payloads] of [
    ['1,000 one-row blocks', () => thousand.map((e) => encodeLogBlock([{ tenantId: 'bench', events: [e] }]))],
    ['one 1,000-row block', () => [encodeLogBlock([{ tenantId: 'bench', events: thousand }])]],
  ] as const) {
    const blocks = payloads();
    const m = await measure(5, () =>
      store.insertNative({
        table,
        columns: LOG_FORMAT.columns,
        structure: LOG_FORMAT.structure,
        payloads: blocks,
        settings: `insert_deduplication_token = 'blk-${token++}'`,
      }),
    );
    console.log(`| ${name}, round ${round + 1} | ${m.wall.toFixed(1)} | ${m.cpu.toFixed(1)} |`);
  }
}

// What a small request's reply waits for instead (landing.ts): one row holding a one-event Native block, in a
// landing slot: INSERTed into the Log slots of migration 9 and the File slots of migration 10, and appended to
// a File slot's file by this process (what the exporter does), alternating.
console.log('\n| landing slot row (one 1-event block) | µs per row | CPU µs per row |');
console.log('|---|---:|---:|');
const block = encodeLogBlock([{ tenantId: 'bench', events: [event(0)] }]);
const landingRow = (k: number): LandingRow => ({ generation: 'bench', stage: String(k), target: 'otel_logs', block });
const insertRow = (table: string) => (k: number) =>
  store.insertTsv({
    table,
    columns: LANDING_COLUMNS,
    body: landingRowBytes(landingRow(k)),
    settings: { input_format_parallel_parsing: '0', max_threads: '1' },
  });
const fileTable = `signalhouse.${landingSlotTable(0)}`;
const { path: slotFile } = (
  await (
    await store.client.query({
      query: 'SELECT data_paths[1] AS path FROM system.tables WHERE database = {db:String} AND name = {name:String}',
      query_params: { db: 'signalhouse', name: landingSlotTable(0) },
      format: 'JSONEachRow',
    })
  ).json<{ path: string }>()
)[0];
const slots = [
  ['Log (`landing_0`, migration 9), INSERT', `signalhouse.${logLandingSlotTable(0)}`, insertRow(`signalhouse.${logLandingSlotTable(0)}`)],
  ['File (`landing_file_0`, migration 10), INSERT', fileTable, insertRow(fileTable)],
  ['File (`landing_file_0`), appended to its file', fileTable, async (k: number) => appendLandingRow(slotFile, landingRow(k))],
] as const;
const slotRuns = 1_000;
for (let round = 0; round < 2; round++) {
  for (const [name, table, land] of slots) {
    const m = await measure(slotRuns, land);
    await store.client.command({ query: `TRUNCATE TABLE ${table}` });
    console.log(`| ${name}, round ${round + 1} | ${(m.wall * 1000).toFixed(0)} | ${(m.cpu * 1000).toFixed(0)} |`);
  }
}
await store.close();
rmSync(dir, { recursive: true, force: true });
