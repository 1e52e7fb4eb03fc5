/**
 * `npm run bench:insert`: the cost of one INSERT into the embedded store by size and format — JSONEachRow sent
 * inline vs RowBinary read through `file()` (what the exporter does). Prints wall and CPU time per INSERT.
 * The JSON payload is produced by ClickHouse itself from the same rows, so both formats carry identical data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../core/config.ts';
import type { LogEvent } from '../core/event.ts';
import { migrate } from '../exporters/clickhouse/migrate.ts';
import { LOG_FORMAT, writeLogRows } from '../exporters/clickhouse/rows.ts';
import { RowBinaryWriter } from '../exporters/clickhouse/rowbinary.ts';
import { openStore } from '../exporters/clickhouse/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'sh-bench-insert-'));
const store = await openStore(parseConfig({ exporters: { clickhouse: { data_dir: dir } } }, {}).exporters.clickhouse!);
await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0 });
const resource = { attributes: { 'service.name': 'bench-app', 'service.version': '1.4.2', 'deployment.environment': 'prod' }, schemaUrl: '', serviceName: 'bench-app' };
const scope = { name: 'signalhouse.bench', version: '1.0.0', attributes: {}, schemaUrl: '' };
const now = BigInt(Date.now()) * 1_000_000n;
const event = (i: number): LogEvent => ({
  eventId: `evt-${i}`, sessionId: `sess-${i % 211}`, userId: `user-${i % 1009}`, anonymousId: '', timeUnixNano: now + BigInt(i), observedTimeUnixNano: now,
  traceId: '', spanId: '', traceFlags: 0, severityText: 'INFO', severityNumber: 9, body: 'tool call completed', eventName: 'ai.tool_call_completed',
  attributes: { 'log.record.uid': `evt-${i}`, 'gen_ai.tool.name': 'lookup_order', 'ai.tool.category': 'navigation', 'ai.tool.duration_ms': String(80 + (i % 200)), 'ai.tool.success': 'true', 'gen_ai.conversation.id': `conv-${i % 97}`, 'session.id': `sess-${i % 211}`, 'user.id': `user-${i % 1009}`, 'site.id': 'site-main' },
  resource, scope,
});

async function measure(runs: number, fn: (k: number) => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  await fn(-1);
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  for (let k = 0; k < runs; k++) await fn(k);
  const cpu = process.cpuUsage(cpu0);
  return { wall: (performance.now() - t) / runs, cpu: (cpu.user + cpu.system) / 1000 / runs };
}

console.log('| rows per INSERT | format | ms per INSERT | CPU ms per INSERT | rows/s |');
console.log('|---:|---|---:|---:|---:|');
let token = 0;
for (const n of [100, 1_000, 10_000, 50_000]) {
  const w = new RowBinaryWriter();
  writeLogRows(w, 'bench', Array.from({ length: n }, (_, i) => event(i)));
  const rowBinary = Buffer.from(w.view());
  const runs = n >= 10_000 ? 5 : 20;
  const rb = await measure(runs, () =>
    store.insertRowBinary({ table: 'signalhouse.otel_logs', columns: LOG_FORMAT.columns, structure: LOG_FORMAT.structure, payloads: [rowBinary], settings: `insert_deduplication_token = 'rb-${token++}'` }),
  );
  const json = await (await store.client.query({ query: `SELECT * EXCEPT (SiteId, TimestampTime) FROM signalhouse.otel_logs WHERE TenantId = 'bench' LIMIT ${n}`, format: 'JSONEachRow' })).text();
  const js = await measure(runs, async () => {
    const r = await store.client.exec({ query: `INSERT INTO signalhouse.otel_logs SETTINGS insert_deduplication_token = 'js-${token++}' FORMAT JSONEachRow`, values: json as never });
    r.stream.resume();
  });
  for (const [format, m] of [['RowBinary via file()', rb], ['JSONEachRow inline', js]] as const) {
    console.log(`| ${n.toLocaleString('en-US')} | ${format} | ${m.wall.toFixed(1)} | ${m.cpu.toFixed(1)} | ${Math.round((n / m.wall) * 1000).toLocaleString('en-US')} |`);
  }
}
await store.close();
rmSync(dir, { recursive: true, force: true });
