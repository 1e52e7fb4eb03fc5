/**
 * Every registered exporter factory against the real embedded engine: its defaults parse, a bad option is
 * refused by its config path (as is an unknown type), and a batch through an exporter it creates is committed
 * (found stored once settled) and counted; drain then refuses new batches.
 */
import { describe, expect, it } from 'vitest';
import { createTelemetry } from '../core/telemetry.ts';
import type { Store } from '../storage/store.ts';
import { logBatch } from '../test/helpers/events.ts';
import { useTempStore } from '../test/helpers/store.ts';
import { EXPORTER_FACTORIES, resolveExporters } from './registry.ts';

const temp = useTempStore({ prefix: 'exporters', migrated: true });

/** Per exporter type: how many events named `eventName` it has stored. A new exporter type adds its own. */
const STORED: Record<string, (store: Store, eventName: string) => Promise<number>> = {
  async clickhouse(store, eventName) {
    const rs = await store.client.query({
      query: 'SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {e:String}',
      query_params: { e: eventName },
      format: 'JSONEachRow',
    });
    return Number((await rs.json<{ n: string }>())[0].n);
  },
};

async function committedRows(telemetry: ReturnType<typeof createTelemetry>): Promise<number> {
  const metric = await telemetry.exportBatchRows.get();
  return metric.values.filter((v) => v.metricName === 'signalhouse_exporter_batch_rows_sum').reduce((n, v) => n + v.value, 0);
}

it('every registered exporter type has a way to read back what it stored', () => {
  expect(Object.keys(STORED).sort()).toEqual([...EXPORTER_FACTORIES.keys()].sort());
});

it('refuses an unknown exporter type by its config path', () => {
  const problems: string[] = [];
  expect(resolveExporters(EXPORTER_FACTORIES, { 'kafka/events': {} }, problems)).toEqual([]);
  expect(problems).toEqual([`exporters.kafka/events: unknown exporter type "kafka" (known: ${[...EXPORTER_FACTORIES.keys()].join(', ')})`]);
});

describe.each([...EXPORTER_FACTORIES.values()])('exporter $type', (factory) => {
  it('parses its defaults, also from a YAML null, under type and type/name keys', () => {
    expect(factory.configSchema.safeParse({}).success).toBe(true);
    const problems: string[] = [];
    const specs = resolveExporters(EXPORTER_FACTORIES, { [factory.type]: null, [`${factory.type}/second`]: {} }, problems);
    expect(problems).toEqual([]);
    expect(specs.map((s) => [s.key, s.factory.type])).toEqual([
      [factory.type, factory.type],
      [`${factory.type}/second`, factory.type],
    ]);
    expect(Object.isFrozen(specs[0].config)).toBe(true);
  });

  it('refuses a bad option with its path', () => {
    const problems: string[] = [];
    expect(resolveExporters(EXPORTER_FACTORIES, { [`${factory.type}/bad`]: { no_such_option: 1, retry: { max_interval: 'soon' } } }, problems)).toEqual([]);
    expect(problems).toEqual([
      `exporters.${factory.type}/bad.retry.max_interval: invalid duration "soon" (use e.g. "250ms", "5s", "2h", "90d")`,
      `exporters.${factory.type}/bad: Unrecognized key: "no_such_option"`,
    ]);
  });

  it('commits a batch and counts it, then drains', async () => {
    const telemetry = createTelemetry();
    const exporter = factory.create(factory.configSchema.parse({}), factory.type, { store: temp.store, telemetry });
    expect(exporter.name).toBe(factory.type);
    await exporter.start();
    const eventName = `conformance.${factory.type}`;
    await exporter.export(logBatch('conformance', 3, () => ({ eventName, body: '', attributes: {} })));
    expect(await committedRows(telemetry)).toBe(3);
    await exporter.settle();
    expect(await STORED[factory.type](temp.store, eventName)).toBe(3);
    await exporter.drain();
    await expect(exporter.export(logBatch('conformance-late', 1, () => ({ eventName, body: '', attributes: {} })))).rejects.toMatchObject({
      code: 'SHUTTING_DOWN',
    });
  });
});
