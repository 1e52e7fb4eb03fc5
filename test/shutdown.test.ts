/**
 * SIGTERM drains: rows waiting for their group commit are flushed at once, every request that was answered 200
 * is stored, requests arriving during shutdown get a retryable 503, and the process exits 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseConfig } from '../core/config.ts';
import { openStore } from '../exporters/clickhouse/store.ts';
import { otlpJsonLogs } from './helpers/payloads.ts';
import { startServerProcess } from './helpers/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'sh-shutdown-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('flushes queued rows on SIGTERM and stores every acknowledged event', async () => {
  const configPath = join(dir, 'signalhouse.yaml');
  // A long group-commit delay: without the drain, these rows would still be waiting when the process exits.
  writeFileSync(configPath, 'exporters:\n  clickhouse:\n    batch: { max_delay: 20s }\ntenants:\n  - id: acme\n    write_keys: [wk_acme_shutdown]\n');
  const dataDir = join(dir, 'data');
  const server = await startServerProcess({ dataDir, configPath });
  const send = (r: number) =>
    fetch(`${server.url}/v1/logs`, {
      method: 'POST',
      body: otlpJsonLogs(50, { prefix: `term-${r}`, eventName: 'shutdown.test' }),
      headers: { 'content-type': 'application/json', authorization: 'Bearer wk_acme_shutdown' },
    }).then((res) => res.status, () => 0);
  const inFlight = Array.from({ length: 10 }, (_, r) => send(r));
  await new Promise((r) => setTimeout(r, 500));
  server.child.kill('SIGTERM');
  const statuses = await Promise.all(inFlight);
  expect(await server.exited).toBe(0);
  expect(statuses.every((s) => s === 200)).toBe(true);

  const store = await openStore(parseConfig({ exporters: { clickhouse: { data_dir: dataDir } } }, {}).exporters.clickhouse!);
  try {
    const rs = await store.client.query({ query: "SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = 'shutdown.test'", format: 'JSONEachRow' });
    expect(Number((await rs.json<{ n: string }>())[0].n)).toBe(500);
  } finally {
    await store.close();
  }
});
