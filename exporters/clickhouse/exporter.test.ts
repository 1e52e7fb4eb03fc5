/**
 * The ClickHouse exporter against the real embedded engine: group commit, isolation of a bad request inside a
 * merged INSERT, bounded queue, retries against an unreachable server, idempotent retries, and drain.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useTempStore } from '../../test/helpers/store.ts';
import { type ClickHouseExporterConfig, clickhouseExporterSchema, storeOptions } from './config.ts';
import type { SignalhouseError } from '../../core/errors.ts';
import type { LogBatch, LogEvent } from '../../core/event.ts';
import { logBatch, testResource } from '../../test/helpers/events.ts';
import { createTelemetry, type Telemetry } from '../../core/telemetry.ts';
import { createClickHouseExporter } from './exporter.ts';
import { openStore, type Store } from '../../storage/store.ts';

const temp = useTempStore({ prefix: 'exporter', migrated: true });
let store: Store;
beforeAll(() => {
  store = temp.store;
});

/** Landing off unless asked for: most tests here are about INSERTs straight into otel_logs. */
function exporterConfig(overrides: Record<string, unknown>): ClickHouseExporterConfig {
  return clickhouseExporterSchema.parse({ landing: { max_rows: 0 }, ...overrides });
}

function batch(eventName: string, n: number): LogBatch {
  return logBatch(eventName, n, (i) => ({ eventName, body: '', attributes: { i: String(i) } }), testResource('exp'));
}

async function count(eventName: string): Promise<number> {
  const rs = await store.client.query({
    query: 'SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {e:String}',
    query_params: { e: eventName },
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ n: string }>())[0].n);
}

async function insertCount(telemetry: Telemetry): Promise<number> {
  const metric = await telemetry.exportBatchRows.get();
  return metric.values.find((v) => v.metricName === 'signalhouse_exporter_batch_rows_count')?.value ?? 0;
}

describe('clickhouse exporter', () => {
  it('commits concurrent requests in one INSERT and answers each after the commit', async () => {
    const telemetry = createTelemetry();
    const exporter = createClickHouseExporter({ store, config: exporterConfig({ batch: { max_delay: '50ms' } }), telemetry });
    await Promise.all(Array.from({ length: 20 }, () => exporter.export(batch('group.commit', 10))));
    expect(await count('group.commit')).toBe(200);
    expect(await insertCount(telemetry)).toBe(1);
  });

  it('group-commits without a timer: rows arriving during an INSERT go together in the next one', async () => {
    const telemetry = createTelemetry();
    const exporter = createClickHouseExporter({ store, config: exporterConfig({ batch: { max_delay: 0 } }), telemetry });
    // The first request finds the table idle and goes at once; the other 19 arrive while it runs.
    await Promise.all(Array.from({ length: 20 }, () => exporter.export(batch('pure.group', 10))));
    expect(await count('pure.group')).toBe(200);
    expect(await insertCount(telemetry)).toBe(2);
  });

  it('starts an INSERT as soon as max_rows are waiting', async () => {
    const telemetry = createTelemetry();
    const exporter = createClickHouseExporter({ store, config: exporterConfig({ batch: { max_rows: 25, max_delay: '10s' } }), telemetry });
    // Without the size trigger this would wait 10 s for the timer.
    await Promise.all([exporter.export(batch('size.trigger', 10)), exporter.export(batch('size.trigger', 10)), exporter.export(batch('size.trigger', 10))]);
    expect(await count('size.trigger')).toBe(30);
    await exporter.drain();
  });

  it('fails only the bad request when a merged INSERT is refused', async () => {
    await store.client.command({ query: "ALTER TABLE signalhouse.otel_logs ADD CONSTRAINT no_poison CHECK EventName != 'poison'" });
    try {
      const telemetry = createTelemetry();
      const exporter = createClickHouseExporter({ store, config: exporterConfig({ batch: { max_delay: '30ms' } }), telemetry });
      const results = await Promise.allSettled([
        exporter.export(batch('neighbour.a', 5)),
        exporter.export(batch('poison', 3)),
        exporter.export(batch('neighbour.b', 4)),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const err = (results[1] as PromiseRejectedResult).reason as SignalhouseError;
      expect(err).toMatchObject({ code: 'STORAGE_REJECTED', statusCode: 500, retryable: false });
      expect(err.message).toMatch(/VIOLATED_CONSTRAINT|no_poison/);
      expect([await count('neighbour.a'), await count('poison'), await count('neighbour.b')]).toEqual([5, 0, 4]);
    } finally {
      await store.client.command({ query: 'ALTER TABLE signalhouse.otel_logs DROP CONSTRAINT no_poison' });
    }
  });

  it('writes the requests of one INSERT as one block, and fails only a request whose events cannot be encoded', async () => {
    const telemetry = createTelemetry();
    const exporter = createClickHouseExporter({ store, config: exporterConfig({ batch: { max_delay: '30ms' } }), telemetry });
    const bad = batch('unencodable', 2);
    // Decoders only produce strings; a value of another type is an internal fault, kept to its own request.
    (bad.events[1] as LogEvent).attributes.i = 7 as unknown as string;
    const results = await Promise.allSettled([exporter.export(batch('block.a', 3)), exporter.export(bad), exporter.export(batch('block.b', 2))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'INTERNAL', statusCode: 500, retryable: false });
    expect([await count('block.a'), await count('unencodable'), await count('block.b')]).toEqual([3, 0, 2]);
  });

  it('refuses at once with a retryable 503 when the queue is full, and recovers', async () => {
    const telemetry = createTelemetry();
    const exporter = createClickHouseExporter({ store, config: exporterConfig({ queue: { max_rows: 50 }, batch: { max_delay: '300ms' } }), telemetry });
    const first = exporter.export(batch('queue.full', 40));
    await expect(exporter.export(batch('queue.full', 20))).rejects.toMatchObject({
      code: 'OVERLOADED',
      statusCode: 503,
      retryable: true,
      retryAfterSeconds: 1,
    });
    await first;
    await exporter.export(batch('queue.full', 20));
    expect(await count('queue.full')).toBe(60);
  });

  it('retries an unreachable server with backoff, then answers retryable 503', async () => {
    const telemetry = createTelemetry();
    const unreachable = await openStore(storeOptions(exporterConfig({ endpoint: 'http://127.0.0.1:9', timeout: '1s' })));
    const config = exporterConfig({ batch: { max_delay: '1ms' }, retry: { initial_interval: '20ms', max_interval: '50ms', max_elapsed_time: '400ms' } });
    const exporter = createClickHouseExporter({ store: unreachable, config, telemetry });
    await expect(exporter.export(batch('unreachable', 2))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', statusCode: 503, retryable: true });
    const retries = await telemetry.exportRetries.get();
    expect(retries.values[0].value).toBeGreaterThanOrEqual(3);
    await unreachable.close();
  });

  it('stores a retried INSERT once: the deduplication token makes retries idempotent', async () => {
    const line = `{"TenantId":"acme","EventName":"dedup.token","Timestamp":"${Math.floor(Date.now() / 1000)}.000000001"}\n`;
    for (const token of ['tok-a', 'tok-a', 'tok-b']) {
      await store.client.command({ query: `INSERT INTO signalhouse.otel_logs SETTINGS insert_deduplication_token = '${token}' FORMAT JSONEachRow\n${line}` });
    }
    expect(await count('dedup.token')).toBe(2);
  });

  it('counts a retried INSERT once in the rollup too', async () => {
    const rollup = async () => {
      const rs = await store.client.query({ query: "SELECT sum(Events) AS n FROM signalhouse.rollup_1m WHERE TenantId = 'retry'", format: 'JSONEachRow' });
      return Number((await rs.json<{ n: string }>())[0].n);
    };
    const line = `{"TenantId":"retry","EventName":"kb.search","Timestamp":"${Math.floor(Date.now() / 1000)}.000000001"}\n`;
    for (const token of ['retry-a', 'retry-a', 'retry-b']) {
      await store.client.command({ query: `INSERT INTO signalhouse.otel_logs SETTINGS insert_deduplication_token = '${token}' FORMAT JSONEachRow\n${line}` });
    }
    expect(await rollup()).toBe(2);
  });

  it('drains: flushes what is queued at once, then refuses new batches', async () => {
    const telemetry = createTelemetry();
    const exporter = createClickHouseExporter({ store, config: exporterConfig({ batch: { max_delay: '1h' } }), telemetry });
    const pending = exporter.export(batch('drain', 7));
    await exporter.drain();
    await pending;
    expect(await count('drain')).toBe(7);
    await expect(exporter.export(batch('drain', 1))).rejects.toMatchObject({ code: 'SHUTTING_DOWN', statusCode: 503 });
  });
});
