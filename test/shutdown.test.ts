/**
 * SIGTERM drains: rows waiting for their group commit are flushed at once, every request that was answered 200
 * is in its table (none left in a landing slot), requests arriving during the drain get a retryable 503 with
 * `Retry-After`, and the process exits 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { otlpJsonLogs } from './helpers/payloads.ts';
import { startServerProcess } from './helpers/process.ts';
import { landedRows, withStore } from './helpers/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'sh-shutdown-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = 'wk_acme_shutdown';
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${KEY}` };

function serverFiles(name: string, exporter: string): { dataDir: string; configPath: string } {
  const configPath = join(dir, `${name}.yaml`);
  writeFileSync(configPath, `exporters:\n  clickhouse:\n${exporter}tenants:\n  - id: acme\n    write_keys: [${KEY}]\n`);
  return { dataDir: join(dir, name), configPath };
}

async function storedCount(dataDir: string, eventName: string): Promise<{ events: number; landed: number }> {
  let events = 0;
  let landed = 0;
  await withStore(dataDir, async (store) => {
    const rs = await store.client.query({
      query: 'SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {name:String}',
      query_params: { name: eventName },
      format: 'JSONEachRow',
    });
    events = Number((await rs.json<{ n: string }>())[0].n);
    landed = await landedRows(store);
  });
  return { events, landed };
}

it('flushes queued rows on SIGTERM and stores every acknowledged event', async () => {
  // A long group-commit delay: without the drain, these rows would still be waiting when the process exits.
  const { dataDir, configPath } = serverFiles('delay', '    batch: { max_delay: 20s }\n');
  const server = await startServerProcess({ dataDir, configPath });
  const send = (r: number) =>
    fetch(`${server.url}/v1/logs`, { method: 'POST', body: otlpJsonLogs(50, { prefix: `term-${r}`, eventName: 'shutdown.test' }), headers: HEADERS }).then(
      (res) => res.status,
      () => 0,
    );
  const inFlight = Array.from({ length: 10 }, (_, r) => send(r));
  // SIGTERM once all ten are accepted and their rows wait in the group commit (a request still arriving would
  // rightly be refused with 503 by the drain).
  const queuedRows = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return Number(/^signalhouse_exporter_queue_rows (\d+)$/m.exec(text)?.[1]);
  };
  await expect.poll(queuedRows, { timeout: 30_000 }).toBe(500);
  server.child.kill('SIGTERM');
  const statuses = await Promise.all(inFlight);
  expect(await server.exited).toBe(0);
  expect(statuses.every((s) => s === 200)).toBe(true);
  expect(await storedCount(dataDir, 'shutdown.test')).toEqual({ events: 500, landed: 0 });
});

it('after a load of landed requests, SIGTERM leaves nothing in the landing slots; requests during the drain get 503 + Retry-After', async () => {
  // Moves once a minute: at SIGTERM every acknowledged row of the load is still landed, and the drain moves it.
  // Started as users start it (`npm start`) and stopped by a SIGTERM to npm, as `kill` or a supervisor sends it.
  const { dataDir, configPath } = serverFiles('load', '    landing: { max_rows: 5000, move_delay: 1m, move_max_rows: 1000000 }\n');
  const server = await startServerProcess({ dataDir, configPath, viaNpmStart: true });
  // `npm start` says where the gRPC listener is (GRPC_PORT).
  await expect.poll(() => server.output()).toContain(`gRPC (OTLP, analytics.v1.AnalyticsService, grpc.health.v1) on ${server.grpcAddress}`);
  let acknowledged = 0;
  let stopping = false;
  const duringDrain: Array<{ status: number; retryAfter: string | null }> = [];
  let next = 0;
  const client = async () => {
    while (!stopping || duringDrain.length < 200) {
      const r = next++;
      const sentWhileStopping = stopping;
      const res = await fetch(`${server.url}/v1/logs`, {
        method: 'POST',
        body: otlpJsonLogs(500, { prefix: `load-${r}`, eventName: 'shutdown.load' }),
        headers: HEADERS,
      }).catch(() => undefined);
      if (res === undefined) return; // the listener has closed: the drain is over
      await res.arrayBuffer();
      if (res.status === 200) acknowledged += 500;
      if (sentWhileStopping && res.status !== 200) duringDrain.push({ status: res.status, retryAfter: res.headers.get('retry-after') });
    }
  };
  const clients = Array.from({ length: 16 }, client);
  // A request whose body is still arriving holds the drain open: whatever is sent meanwhile finds it draining.
  const slow = slowRequest(server.url, otlpJsonLogs(10, { prefix: 'slow', eventName: 'shutdown.slow' }));
  while (acknowledged < 20_000) await new Promise((r) => setTimeout(r, 20));
  server.child.kill('SIGTERM');
  stopping = true;
  await new Promise((r) => setTimeout(r, 300));
  const late = await fetch(`${server.url}/v1/logs`, {
    method: 'POST',
    body: otlpJsonLogs(1, { prefix: 'late', eventName: 'shutdown.late' }),
    headers: HEADERS,
  });
  expect(late.status).toBe(503);
  expect(late.headers.get('retry-after')).toMatch(/^\d+$/);
  // OTLP's error body: google.rpc.Status, UNAVAILABLE.
  expect(await late.json()).toMatchObject({ code: 14, message: expect.stringContaining('shutting down') });
  slow.finish();
  expect(await slow.status).toBe(200);
  await Promise.all(clients);
  expect(await server.exited).toBe(0);

  expect(duringDrain.length).toBeGreaterThan(0);
  for (const r of duringDrain) expect(r).toEqual({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });
  const stored = await storedCount(dataDir, 'shutdown.load');
  expect(stored).toEqual({ events: acknowledged, landed: 0 });
  expect((await storedCount(dataDir, 'shutdown.slow')).events).toBe(10);
  expect((await storedCount(dataDir, 'shutdown.late')).events).toBe(0);
}, 120_000);

/** A POST whose body is sent in two halves: the second only on `finish()`. */
function slowRequest(url: string, body: string): { finish(): void; status: Promise<number> } {
  const u = new URL(`${url}/v1/logs`);
  const bytes = Buffer.from(body);
  const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...HEADERS, 'content-length': bytes.length } });
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
  req.write(bytes.subarray(0, bytes.length >> 1));
  return { finish: () => req.end(bytes.subarray(bytes.length >> 1)), status };
}
