/**
 * Retention per tenant (`tenants[].retention`): one TTL expression per table picks each row's retention by its
 * tenant. Acme keeps an hour, globex the default 90 days, archive forever. Events and spans two hours old and
 * fresh ones are sent for each; once ClickHouse merges (OPTIMIZE … FINAL stands in for the background TTL merge),
 * acme's old rows are gone from every table, the rest stay. A start with one retention for all brings back the
 * plain TTL that drops whole parts.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate } from '../storage/migrate.ts';
import { TTL_TABLES } from '../storage/schema.ts';
import { startTestService, type TestService } from './helpers/service.ts';

const TENANTS = [
  { id: 'acme', write_keys: ['wk_acme_retention'], read_tokens: ['rt_acme_retention'], retention: '1h' },
  { id: 'globex', write_keys: ['wk_globex_retention'], read_tokens: ['rt_globex_retention'] },
  { id: 'archive', write_keys: ['wk_archive_retention'], read_tokens: ['rt_archive_retention'], retention: 0 },
];
const HOUR = 3_600_000;
const NOW = Date.now();

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ tenants: TENANTS });
});
afterAll(() => svc?.close());

const engine = async (table: string) =>
  (
    await svc.rows<{ e: string }>('SELECT engine_full AS e FROM system.tables WHERE database = {db:String} AND name = {t:String}', {
      db: 'signalhouse',
      t: table,
    })
  )[0].e;

async function send(tenant: string, ageMs: number, label: string) {
  const nanos = String(BigInt(NOW - ageMs) * 1_000_000n);
  const key = `wk_${tenant}_retention`;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  const logs = {
    resourceLogs: [
      {
        scopeLogs: [
          {
            logRecords: [0, 1].map((i) => ({
              timeUnixNano: nanos,
              eventName: 'kb.search',
              attributes: [
                { key: 'log.record.uid', value: { stringValue: `${tenant}-${label}-${i}` } },
                { key: 'kb.search_latency_ms', value: { intValue: '120' } },
                { key: 'kb.results_count', value: { intValue: '3' } },
              ],
            })),
          },
        ],
      },
    ],
  };
  const sent = await fetch(`${svc.url}/v1/logs`, { method: 'POST', headers, body: JSON.stringify(logs) });
  expect([sent.status, await sent.json()]).toEqual([200, {}]);
  const traceId = Buffer.from(`${tenant}-${label}`.padEnd(16, '.')).toString('hex').slice(0, 32);
  const spans = {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              {
                traceId,
                spanId: '0000000000000001',
                name: 'lookup',
                startTimeUnixNano: nanos,
                endTimeUnixNano: nanos,
                attributes: [{ key: 'gen_ai.operation.name', value: { stringValue: 'execute_tool' } }],
              },
            ],
          },
        ],
      },
    ],
  };
  expect((await fetch(`${svc.url}/v1/traces`, { method: 'POST', headers, body: JSON.stringify(spans) })).status).toBe(200);
}

/** Rows per tenant in each table ingest writes, old (over an hour) and fresh. */
async function counts() {
  const out: Record<string, Array<[string, number, number]>> = {};
  for (const { table, timeColumn } of TTL_TABLES) {
    const rows = await svc.rows<{ t: string; old: number; fresh: number }>(
      `SELECT TenantId AS t, countIf(${timeColumn} < now() - 3600) AS old, countIf(${timeColumn} >= now() - 3600) AS fresh
       FROM signalhouse.${table} GROUP BY t ORDER BY t`,
    );
    out[table] = rows.map((r) => [r.t, Number(r.old), Number(r.fresh)]);
  }
  return out;
}

it("makes each table's TTL pick the tenant's retention, and TTL merges remove only acme's old rows", async () => {
  const logs = await engine('otel_logs');
  expect(logs).toContain(
    "TTL multiIf(TenantId = 'acme', TimestampTime + toIntervalSecond(3600), TenantId = 'archive', toDateTime(4102444800), TimestampTime + toIntervalDay(90))",
  );
  expect(logs).toContain('ttl_only_drop_parts = 0');
  expect(await engine('rollup_1m')).toContain(
    "multiIf(TenantId = 'acme', Minute + toIntervalSecond(3600), TenantId = 'archive', toDateTime(4102444800, 'UTC'), Minute + toIntervalDay(90))",
  );

  for (const tenant of ['acme', 'globex', 'archive']) {
    await send(tenant, 2 * HOUR, 'old');
    await send(tenant, 0, 'fresh');
  }
  const everything = { otel_logs: 2, otel_traces: 1, otel_traces_trace_id_ts: 1, rollup_1m: 2 };
  // Acme's old rows may go at once (a background TTL merge); after a merge of every part they are gone for sure.
  await svc.settle();
  for (const { table } of TTL_TABLES) await svc.service.store.client.command({ query: `OPTIMIZE TABLE signalhouse.${table} FINAL` });
  const kept = (t: string, n: number) => [t, t === 'acme' ? 0 : n, n];
  expect(await counts()).toEqual(
    Object.fromEntries(Object.entries(everything).map(([table, n]) => [table, ['acme', 'archive', 'globex'].map((t) => kept(t, n))])),
  );
});

it('goes back to whole-part drops when every tenant has the same retention', async () => {
  const client = svc.service.store.client;
  await migrate(client, { database: 'signalhouse', cluster: '', ttlMs: 30 * 86_400_000, tenantRetentionMs: new Map([['acme', 30 * 86_400_000]]) });
  const logs = await engine('otel_logs');
  expect(logs).toContain('TTL TimestampTime + toIntervalDay(30) SETTINGS');
  expect(logs).toContain('ttl_only_drop_parts = 1');
  expect(await engine('otel_traces_trace_id_ts')).toContain('TTL Start + toIntervalDay(30) SETTINGS');
});
