/**
 * `exporters.clickhouse.fsync: true` end to end: the service starts, sets fsync on the tables ingest writes, and
 * acknowledges a request once its rows are in otel_logs itself (no landing slot: a File table is not fsynced).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ACME_KEY, startTestService, type TestService } from './helpers/service.ts';
import { otlpJsonLogs } from './helpers/payloads.ts';

let sh: TestService;
beforeAll(async () => {
  sh = await startTestService({ exporters: { clickhouse: { fsync: true } } });
});
afterAll(() => sh.close());

it('stores a small request straight in fsynced tables', async () => {
  const res = await fetch(`${sh.url}/v1/logs`, {
    method: 'POST',
    body: otlpJsonLogs(3, { prefix: 'fsynced', eventName: 'fsync.test' }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
  });
  expect(res.status).toBe(200);
  // Read without settle(): with fsync on, nothing waits in a landing slot.
  const rs = await sh.service.store.client.query({
    query: "SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = 'fsync.test'",
    format: 'JSONEachRow',
  });
  expect(Number((await rs.json<{ n: string }>())[0].n)).toBe(3);
  const engines = await sh.rows<{ name: string; engine_full: string }>(
    "SELECT name, engine_full FROM system.tables WHERE database = 'signalhouse' AND name IN ('otel_logs', 'otel_traces', 'rollup_1m', 'otel_traces_trace_id_ts') ORDER BY name",
  );
  expect(engines.map((e) => [e.name, /fsync_after_insert = 1, fsync_part_directory = 1/.test(e.engine_full)])).toEqual([
    ['otel_logs', true],
    ['otel_traces', true],
    ['otel_traces_trace_id_ts', true],
    ['rollup_1m', true],
  ]);
});
