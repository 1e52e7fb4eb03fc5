/**
 * Acknowledgement means committed: N events acknowledged, the server killed with SIGKILL right after the last
 * reply, restarted on the same data directory: all N are there, exactly once — also when requests are
 * retried after the restart. Once with the landing table holding every acknowledged row at the kill (its
 * generations never move before it), once with rows going straight to otel_logs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseConfig } from '../core/config.ts';
import { openStore } from '../exporters/clickhouse/store.ts';
import { otlpJsonLogs } from './helpers/payloads.ts';
import { startServerProcess } from './helpers/process.ts';

const root = mkdtempSync(join(tmpdir(), 'sh-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const KEY = 'wk_demo_local_only';
const send = (url: string, body: string) =>
  fetch(`${url}/v1/logs`, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` } });

it.each([
  ['landed, not yet moved', '{ max_rows: 10000, move_delay: 1h }'],
  ['committed straight to otel_logs', '{ max_rows: 0 }'],
])('keeps every acknowledged event across kill -9 and restart, exactly once (%s)', async (name, landing) => {
  const dataDir = join(root, name.replace(/\W+/g, '-'));
  const configPath = join(root, `${name.replace(/\W+/g, '-')}.yaml`);
  writeFileSync(configPath, `tenants:\n  - id: demo\n    write_keys: [${KEY}]\nexporters:\n  clickhouse:\n    landing: ${landing}\n`);
  const first = await startServerProcess({ dataDir, configPath });
  const requests = 30;
  const perRequest = 100;
  // Concurrent requests so that group commit merges several of them into one INSERT.
  const statuses = await Promise.all(Array.from({ length: requests }, (_, r) => send(first.url, otlpJsonLogs(perRequest, { prefix: `crash-${r}`, eventName: 'crash.test' })).then((res) => res.status)));
  expect(statuses.every((s) => s === 200)).toBe(true);
  first.child.kill('SIGKILL');
  expect(await first.exited).toBe('SIGKILL');

  const second = await startServerProcess({ dataDir, configPath });
  const more = await send(second.url, otlpJsonLogs(10, { prefix: 'after-restart', eventName: 'crash.test' }));
  expect(more.status).toBe(200);
  // A client that never saw its replies retries after the restart: dedupe rebuilt its window from storage.
  for (const r of [0, 7, 29]) expect((await send(second.url, otlpJsonLogs(perRequest, { prefix: `crash-${r}`, eventName: 'crash.test' }))).status).toBe(200);
  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);

  const store = await openStore(parseConfig({ exporters: { clickhouse: { data_dir: dataDir } } }, {}).exporters.clickhouse!);
  try {
    const rs = await store.client.query({
      query: "SELECT count() AS n, uniqExact(EventId) AS ids FROM signalhouse.otel_logs WHERE EventName = 'crash.test' AND TenantId = 'demo'",
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ n: string; ids: string }>();
    expect(Number(row.n)).toBe(requests * perRequest + 10);
    expect(Number(row.ids)).toBe(requests * perRequest + 10);
    const landed = await store.client.query({ query: "SELECT count() AS n FROM merge('signalhouse', '^landing')", format: 'JSONEachRow' });
    expect(await landed.json()).toEqual([{ n: 0 }]);
  } finally {
    await store.close();
  }
});
