/**
 * Everything follows `exporters.clickhouse.database`: migrations, the landing slots, the dedupe window rebuilt at
 * start, and the query API. A second start on the same data directory rebuilds the window from that database, so
 * a retry of an event stored before the restart is recognized and stored once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, expect, it } from 'vitest';
import { parseConfig } from '../core/config.ts';
import { createService, type Service } from '../service/service.ts';
import { otlpJsonLogs } from './helpers/payloads.ts';
import { ACME_KEY, TENANTS } from './helpers/service.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'sh-dbname-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function start(): Promise<Service> {
  const config = parseConfig(
    {
      receivers: { otlp: {} },
      exporters: { clickhouse: { data_dir: dataDir, database: 'analytics_other' } },
      service: { http: { host: '127.0.0.1', port: 0 }, log_level: 'warn' },
      tenants: TENANTS,
    },
    { GRPC_PORT: '0' },
    'test',
  );
  const service = await createService(config, pino({ level: 'warn' }));
  await service.listen();
  return service;
}

const send = (service: Service, body: string) =>
  fetch(`${service.url}/v1/logs`, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` } });
const countEvents = async (service: Service) => {
  const res = await fetch(`${service.url}/api/v1/analytics/counts/events`, {
    method: 'POST',
    body: JSON.stringify({ from: Date.now() - 3_600_000, to: Date.now() + 3_600_000, event_name: 'dbname.test' }),
    headers: { 'content-type': 'application/json', authorization: 'Bearer rt_acme_test_token' },
  });
  expect(res.status).toBe(200);
  return (await res.json()).count;
};

it('runs, restarts and deduplicates in a database of another name', async () => {
  const body = otlpJsonLogs(20, { prefix: 'dbname', eventName: 'dbname.test' });
  const first = await start();
  try {
    expect((await send(first, body)).status).toBe(200);
    expect(await countEvents(first)).toBe(20);
  } finally {
    await first.close();
  }
  const second = await start();
  try {
    // The same 20 ids again: recognized from the window rebuilt out of analytics_other, not stored twice.
    expect((await send(second, body)).status).toBe(200);
    expect(await countEvents(second)).toBe(20);
    const rs = await second.store.client.query({ query: "SELECT count() AS n FROM system.tables WHERE database = 'signalhouse'", format: 'JSONEachRow' });
    expect(Number((await rs.json<{ n: string }>())[0].n)).toBe(0);
  } finally {
    await second.close();
  }
});
