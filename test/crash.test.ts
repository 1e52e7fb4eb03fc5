/**
 * Acknowledgement means committed: N events acknowledged, the server killed with SIGKILL right after the last
 * reply, restarted on the same data directory: all N are there, exactly once — also when requests are
 * retried after the restart. Once with the landing slots holding every acknowledged row at the kill (its
 * generations never move before it), once with rows going straight to otel_logs, and once killed while INSERTs
 * into the slots are running (a row may be cut short: recovery cuts it off, its request was never acknowledged).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { otlpJsonLogs } from './helpers/payloads.ts';
import { startServerProcess } from './helpers/process.ts';
import { landedRows, withStore } from './helpers/store.ts';

const root = mkdtempSync(join(tmpdir(), 'sh-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const KEY = 'wk_demo_local_only';
const send = (url: string, body: string) =>
  fetch(`${url}/v1/logs`, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` } });

it.each([
  ['landed, not yet moved', '{ max_rows: 10000, move_delay: 1h }'],
  ['committed straight to otel_logs', '{ max_rows: 0 }'],
])('keeps every acknowledged event across kill -9 and restart, exactly once (%s)', async (name, landing) => {
  const { dataDir, configPath } = serverFiles(name.replace(/\W+/g, '-'), landing);
  const first = await startServerProcess({ dataDir, configPath });
  const requests = 30;
  const perRequest = 100;
  // Concurrent requests so that group commit merges several of them into one INSERT.
  const statuses = await Promise.all(
    Array.from({ length: requests }, (_, r) =>
      send(first.url, otlpJsonLogs(perRequest, { prefix: `crash-${r}`, eventName: 'crash.test' })).then((res) => res.status),
    ),
  );
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

  await withStore(dataDir, async (store) => {
    const rs = await store.client.query({
      query: "SELECT count() AS n, uniqExact(EventId) AS ids FROM signalhouse.otel_logs WHERE EventName = 'crash.test' AND TenantId = 'demo'",
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ n: string; ids: string }>();
    expect(Number(row.n)).toBe(requests * perRequest + 10);
    expect(Number(row.ids)).toBe(requests * perRequest + 10);
    expect(await landedRows(store)).toBe(0);
  });
});

it('keeps every acknowledged event, exactly once, when killed while landing INSERTs are running', async () => {
  const { dataDir, configPath } = serverFiles('in-flight', '{ max_rows: 100000, move_delay: 1h }');
  const server = await startServerProcess({ dataDir, configPath });
  const perRequest = 200;
  const acknowledged = new Set<string>();
  let next = 0;
  let killed = false;
  // Sixteen clients sending back to back: group commits of several requests, blocks of hundreds of KB that
  // land as many pages each, so the kill is likely to fall inside a write.
  const client = async () => {
    while (!killed) {
      const req = `f${next++}x`;
      const status = await send(server.url, otlpJsonLogs(perRequest, { prefix: req, eventName: 'crash.inflight' })).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 200 && !killed) acknowledged.add(req);
    }
  };
  const clients = Array.from({ length: 16 }, client);
  while (acknowledged.size < 200) await new Promise((r) => setTimeout(r, 5));
  server.child.kill('SIGKILL');
  killed = true;
  expect(await server.exited).toBe('SIGKILL');
  await Promise.all(clients);

  const restarted = await startServerProcess({ dataDir, configPath });
  restarted.child.kill('SIGTERM');
  expect(await restarted.exited).toBe(0);
  await withStore(dataDir, async (store) => {
    const rs = await store.client.query({
      query:
        "SELECT splitByChar('-', EventId)[1] AS req, count() AS n, uniqExact(EventId) AS ids FROM signalhouse.otel_logs WHERE EventName = 'crash.inflight' GROUP BY req",
      format: 'JSONEachRow',
    });
    const stored = new Map((await rs.json<{ req: string; n: string; ids: string }>()).map((r) => [r.req, [Number(r.n), Number(r.ids)]]));
    // Every acknowledged request whole and once; requests cut off by the kill whole and once, or not at all.
    for (const req of acknowledged) expect([req, stored.get(req)]).toEqual([req, [perRequest, perRequest]]);
    for (const [req, counts] of stored) expect([req, counts]).toEqual([req, [perRequest, perRequest]]);
    expect(await landedRows(store)).toBe(0);
  });
});

/** A data directory and a config with the demo tenant and these landing options, named after the test. */
function serverFiles(name: string, landing: string): { dataDir: string; configPath: string } {
  const configPath = join(root, `${name}.yaml`);
  writeFileSync(configPath, `tenants:\n  - id: demo\n    write_keys: [${KEY}]\nexporters:\n  clickhouse:\n    landing: ${landing}\n`);
  return { dataDir: join(root, name), configPath };
}
