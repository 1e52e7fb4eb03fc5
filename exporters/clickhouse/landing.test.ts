/**
 * The landing slots against the real embedded engine: small requests are acknowledged once their block is
 * committed there and reach otel_logs (and the rollup) when their generation moves; what a crash leaves is moved
 * at the next start exactly once, also when the crash fell between a move's INSERT and its TRUNCATE or cut a row
 * short, and so is what earlier versions' landing tables hold; rows the table refuses stay landed without
 * blocking later generations.
 */
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTempStore } from '../../test/helpers/store.ts';
import { type ClickHouseExporterConfig, clickhouseExporterSchema } from './config.ts';
import type { LogBatch, SpanBatch, SpanRecord } from '../../core/event.ts';
import { logBatch, NOW_NANOS, testResource, testScope } from '../../test/helpers/events.ts';
import { createTelemetry, type Telemetry } from '../../core/telemetry.ts';
import { createClickHouseExporter } from './exporter.ts';
import { cutTornRow } from './landing-recovery.ts';
import { appendLandingRow, landingRowBytes, MERGED_STAGE, moveToken } from './landing.ts';
import { encodeLogBlock, LOG_FORMAT } from './rows.ts';
import { LANDING_SLOTS, landingSlotTable } from '../../storage/schema.ts';
import { SignalhouseError } from '../../core/errors.ts';
import { propertyOptions } from '../../test/helpers/hostile.ts';
import type { Store } from '../../storage/store.ts';

const temp = useTempStore({ prefix: 'landing', migrated: true });
let store: Store;
beforeAll(() => {
  store = temp.store;
});

function exporterConfig(overrides: Record<string, unknown>): ClickHouseExporterConfig {
  return clickhouseExporterSchema.parse(overrides);
}

/**
 * A started exporter (start moves what is landed and frees the slots) whose generations move only when told
 * (settle, drain) unless `moveDelay` says otherwise.
 */
async function exporter(telemetry: Telemetry, landing: Record<string, unknown> = {}) {
  const exp = createClickHouseExporter({ store, config: exporterConfig({ landing: { max_rows: 100, move_delay: '1h', ...landing } }), telemetry });
  await exp.start();
  return exp;
}

const resource = testResource('landing');

/** `n` kb.search events (a rollup event, so the rollup's view runs on the move) named by `id`. */
function batch(id: string, n: number): LogBatch {
  return logBatch(id, n, (i) => ({ eventName: 'kb.search', body: id, attributes: { 'kb.search_latency_ms': String(10 + i) } }), resource);
}

function spanBatch(name: string): SpanBatch {
  const span: SpanRecord = {
    eventId: '',
    sessionId: '',
    userId: '',
    anonymousId: '',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    parentSpanId: '',
    traceState: '',
    name,
    kind: 1,
    startTimeUnixNano: NOW_NANOS,
    endTimeUnixNano: NOW_NANOS + 1_000_000n,
    attributes: {},
    events: [],
    links: [],
    statusCode: 0,
    statusMessage: '',
    resource,
    scope: testScope,
  };
  return { tenantId: 'acme', signal: 'traces', events: [span], rejections: [] };
}

async function one<T>(sql: string): Promise<T> {
  const rs = await store.client.query({ query: sql, format: 'JSONEachRow' });
  return (await rs.json<T>())[0];
}
const stored = async (id: string) => Number((await one<{ n: string }>(`SELECT count() AS n FROM signalhouse.otel_logs WHERE Body = '${id}'`)).n);
const uniqueIds = async (id: string) => Number((await one<{ n: string }>(`SELECT uniqExact(EventId) AS n FROM signalhouse.otel_logs WHERE Body = '${id}'`)).n);
/** Blocks in the landing slots and in the table of versions before them. */
const landedBlocks = async () =>
  Number((await one<{ n: string }>("SELECT count() AS n FROM merge('signalhouse', '^landing') SETTINGS engine_file_empty_if_not_exists = 1")).n);
/** The slot (File table) holding the landed rows, and its file. */
async function landedSlot(): Promise<{ slot: string; path: string }> {
  const { slot } = await one<{ slot: string }>(
    "SELECT _table AS slot FROM merge('signalhouse', '^landing_file_') LIMIT 1 SETTINGS engine_file_empty_if_not_exists = 1",
  );
  const { path } = await one<{ path: string }>(`SELECT data_paths[1] AS path FROM system.tables WHERE database = 'signalhouse' AND name = '${slot}'`);
  return { slot, path };
}
/** A slot's file (by slot number). */
async function slotFile(slot: number): Promise<{ path: string }> {
  return one<{ path: string }>(`SELECT data_paths[1] AS path FROM system.tables WHERE database = 'signalhouse' AND name = '${landingSlotTable(slot)}'`);
}
/**
 * What an earlier version left landed: `n` events landed by a run that stops without moving them (as after kill
 * -9), their block then moved by `copy` (an INSERT from the slot) to where that version kept it.
 */
async function leftByEarlierVersion(id: string, n: number, copy: (slot: string) => string): Promise<void> {
  const crashed = await exporter(createTelemetry());
  await crashed.export(batch(id, n));
  const { slot } = await landedSlot();
  await store.client.command({ query: copy(slot) });
  await store.client.command({ query: `TRUNCATE TABLE signalhouse.${slot}` });
}
const rollupEvents = async () =>
  Number((await one<{ n: string }>("SELECT sum(Events) AS n FROM signalhouse.rollup_1m WHERE TenantId = 'acme' AND EventName = 'kb.search'")).n);
const metric = async (telemetry: Telemetry, name: 'landingMovedRows' | 'landingMoveFailures') =>
  (await telemetry[name].get()).values.reduce((s, v) => s + v.value, 0);

describe('landing table', () => {
  it('acknowledges small requests once landed and moves them on, rollup included', async () => {
    const telemetry = createTelemetry();
    const exp = await exporter(telemetry);
    const before = await rollupEvents();
    await Promise.all([exp.export(batch('land.a', 3)), exp.export(batch('land.b', 4))]);
    // Acknowledged, committed in the landing table, not yet in otel_logs.
    expect(await landedBlocks()).toBeGreaterThan(0);
    expect([await stored('land.a'), await stored('land.b')]).toEqual([0, 0]);
    expect((await telemetry.landingRows.get()).values[0].value).toBe(7);
    await exp.settle();
    expect([await stored('land.a'), await stored('land.b')]).toEqual([3, 4]);
    expect(await landedBlocks()).toBe(0);
    expect(await rollupEvents()).toBe(before + 7);
    expect(await metric(telemetry, 'landingMovedRows')).toBe(7);
    await exp.drain();
  });

  it("merges a generation's small blocks into one block for its move", async () => {
    const telemetry = createTelemetry();
    const exp = await exporter(telemetry);
    const before = await rollupEvents();
    // One request at a time: a block each.
    for (let k = 0; k < 6; k++) await exp.export(batch(`merge.${k}`, 1 + (k % 3)));
    expect(await landedBlocks()).toBe(6);
    await exp.settle();
    expect(await Promise.all(Array.from({ length: 6 }, (_, k) => stored(`merge.${k}`)))).toEqual([1, 2, 3, 1, 2, 3]);
    expect(await rollupEvents()).toBe(before + 12);
    expect((await telemetry.landingMergedBlocks.get()).values[0].value).toBe(6);
    expect(await landedBlocks()).toBe(0);
    await exp.drain();
  });

  it("merges a generation's small span blocks too", async () => {
    const telemetry = createTelemetry();
    const exp = await exporter(telemetry);
    for (const name of ['merge.span.a', 'merge.span.b', 'merge.span.c']) await exp.export(spanBatch(name));
    await exp.settle();
    expect((await telemetry.landingMergedBlocks.get()).values[0].value).toBe(3);
    const spans = await (
      await store.client.query({
        query: "SELECT SpanName FROM signalhouse.otel_traces WHERE SpanName LIKE 'merge.span.%' ORDER BY SpanName",
        format: 'JSONEachRow',
      })
    ).json<{ SpanName: string }>();
    expect(spans.map((s) => s.SpanName)).toEqual(['merge.span.a', 'merge.span.b', 'merge.span.c']);
    await exp.drain();
  });

  for (const [crash, inserted] of [
    ['after the merged block was appended, before its INSERT', false],
    ["after the merged block's INSERT, before the slot was emptied", true],
  ] as const) {
    it(`moves a generation exactly once at the next start when a crash came ${crash}`, async () => {
      const crashed = await exporter(createTelemetry());
      const id = inserted ? 'crash.inserted' : 'crash.appended';
      const batches = [batch(`${id}.a`, 2), batch(`${id}.b`, 3)];
      for (const b of batches) await crashed.export(b);
      const { slot, path } = await landedSlot();
      const { generation } = await one<{ generation: string }>(`SELECT any(Generation) AS generation FROM signalhouse.${slot}`);
      // What the move does before the crash: the merged block appended to the slot (and inserted).
      const merged = encodeLogBlock(batches);
      appendLandingRow(path, { generation, stage: MERGED_STAGE, target: 'otel_logs', block: merged });
      if (inserted) {
        await store.insertNative({
          table: 'signalhouse.otel_logs',
          columns: LOG_FORMAT.columns,
          structure: LOG_FORMAT.structure,
          payloads: [merged],
          settings: `insert_deduplication_token = '${moveToken(generation)}'`,
        });
      }
      const next = await exporter(createTelemetry());
      expect([await stored(`${id}.a`), await stored(`${id}.b`)]).toEqual([2, 3]);
      expect(await uniqueIds(`${id}.b`)).toBe(3);
      expect(await landedBlocks()).toBe(0);
      await next.drain();
    });
  }

  it('moves the blocks as landed when a crash cut the merged block short', async () => {
    const crashed = await exporter(createTelemetry());
    const batches = [batch('torn.merge.a', 2), batch('torn.merge.b', 1)];
    for (const b of batches) await crashed.export(b);
    const { slot, path } = await landedSlot();
    const { generation } = await one<{ generation: string }>(`SELECT any(Generation) AS generation FROM signalhouse.${slot}`);
    const whole = landingRowBytes({ generation, stage: MERGED_STAGE, target: 'otel_logs', block: encodeLogBlock(batches) });
    await appendFile(path, whole.subarray(0, whole.length - 10));
    const next = await exporter(createTelemetry());
    expect([await stored('torn.merge.a'), await stored('torn.merge.b')]).toEqual([2, 1]);
    expect(await uniqueIds('torn.merge.a')).toBe(2);
    expect(await landedBlocks()).toBe(0);
    await next.drain();
  });

  it('sends a group of max_rows or more straight to its table', async () => {
    const exp = await exporter(createTelemetry());
    await exp.export(batch('direct', 100));
    expect(await stored('direct')).toBe(100);
    expect(await landedBlocks()).toBe(0);
    await exp.drain();
  });

  it('is off with fsync: a File table does not fsync what it appends', async () => {
    const exp = createClickHouseExporter({
      store,
      config: exporterConfig({ fsync: true, landing: { max_rows: 100, move_delay: '1h' } }),
      telemetry: createTelemetry(),
    });
    await exp.start();
    await exp.export(batch('fsynced', 2));
    expect(await stored('fsynced')).toBe(2);
    expect(await landedBlocks()).toBe(0);
    await exp.drain();
  });

  it('moves a generation on its own after move_delay', async () => {
    const exp = await exporter(createTelemetry(), { move_delay: '20ms' });
    await exp.export(batch('timer', 2));
    for (let i = 0; i < 200 && (await stored('timer')) < 2; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await stored('timer')).toBe(2);
    await exp.drain();
  });

  it('moves what a previous run left landed at the next start, exactly once', async () => {
    // A run that stops without moving: its generation stays landed, as after kill -9.
    const crashed = await exporter(createTelemetry());
    await crashed.export(batch('crash.left', 5));
    expect(await stored('crash.left')).toBe(0);
    const before = await rollupEvents();

    const next = await exporter(createTelemetry());
    expect(await stored('crash.left')).toBe(5);
    expect(await landedBlocks()).toBe(0);
    expect(await rollupEvents()).toBe(before + 5);
    // The stopped run's own move, had it come, finds nothing left to move.
    await crashed.settle();
    expect(await stored('crash.left')).toBe(5);
    await next.drain();
  });

  it('does not apply a move twice when it committed but its slot was not emptied', async () => {
    const telemetry = createTelemetry();
    const exp = await exporter(telemetry);
    // One generation with a block for each table; otel_traces refuses its span, for real (a constraint), so the
    // move's otel_logs INSERT commits and its slot is not emptied: the state a crash between the two leaves.
    await store.client.command({ query: "ALTER TABLE signalhouse.otel_traces ADD CONSTRAINT no_refused_span CHECK SpanName != 'refused'" });
    const before = await rollupEvents();
    try {
      await Promise.all([exp.export(batch('half.moved', 6)), exp.export(spanBatch('refused'))]);
      await exp.settle();
      expect(await metric(telemetry, 'landingMoveFailures')).toBe(1);
      expect(await stored('half.moved')).toBe(6);
      expect(await landedBlocks()).toBe(2);
    } finally {
      await store.client.command({ query: 'ALTER TABLE signalhouse.otel_traces DROP CONSTRAINT no_refused_span' });
    }
    const next = await exporter(createTelemetry());
    expect(await stored('half.moved')).toBe(6);
    expect(await uniqueIds('half.moved')).toBe(6);
    expect(await rollupEvents()).toBe(before + 6);
    expect(Number((await one<{ n: string }>("SELECT count() AS n FROM signalhouse.otel_traces WHERE SpanName = 'refused'")).n)).toBe(1);
    expect(await landedBlocks()).toBe(0);
    await Promise.all([exp.drain(), next.drain()]);
  });

  it('keeps rows the table refuses landed, moves later generations, and moves them once the table takes them', async () => {
    await store.client.command({ query: "ALTER TABLE signalhouse.otel_logs ADD CONSTRAINT no_refused CHECK Body != 'refused'" });
    const telemetry = createTelemetry();
    const exp = await exporter(telemetry);
    try {
      await exp.export(batch('refused', 2));
      await exp.settle();
      expect(await metric(telemetry, 'landingMoveFailures')).toBe(1);
      expect(await stored('refused')).toBe(0);
      expect(await landedBlocks()).toBe(1);
      // The stuck generation does not hold the next ones back.
      await exp.export(batch('after.refused', 3));
      await exp.settle();
      expect(await stored('after.refused')).toBe(3);
    } finally {
      await store.client.command({ query: 'ALTER TABLE signalhouse.otel_logs DROP CONSTRAINT no_refused' });
    }
    const next = await exporter(createTelemetry());
    expect(await stored('refused')).toBe(2);
    expect(await landedBlocks()).toBe(0);
    await Promise.all([exp.drain(), next.drain()]);
  });

  it('moves a block a slot holds twice (a retried INSERT of an earlier version: slots do not deduplicate) once, at the next start', async () => {
    const crashed = await exporter(createTelemetry());
    await crashed.export(batch('twice', 3));
    const { slot } = await landedSlot();
    // Through a Log table: a File table cannot be read and appended to in one statement.
    await store.client.command({ query: `INSERT INTO signalhouse.landing_0 SELECT * FROM signalhouse.${slot}` });
    await store.client.command({ query: `INSERT INTO signalhouse.${slot} SELECT * FROM signalhouse.landing_0` });
    await store.client.command({ query: 'TRUNCATE TABLE signalhouse.landing_0' });
    expect(await landedBlocks()).toBe(2);
    const next = await exporter(createTelemetry());
    expect(await stored('twice')).toBe(3);
    expect(await landedBlocks()).toBe(0);
    await next.drain();
  });

  it('moves what a version before the landing slots left in its MergeTree table, exactly once', async () => {
    // The old format: a generation's Native blocks in the partitioned `landing` table.
    await leftByEarlierVersion('legacy', 4, (slot) => `INSERT INTO signalhouse.landing SELECT Generation, TargetTable, Block FROM signalhouse.${slot}`);
    const before = await rollupEvents();
    const next = await exporter(createTelemetry());
    expect(await stored('legacy')).toBe(4);
    expect(await rollupEvents()).toBe(before + 4);
    expect(await landedBlocks()).toBe(0);
    await next.drain();
  });

  it('moves what a version with Log slots (migration 9) left in them, exactly once', async () => {
    await leftByEarlierVersion('log.slot', 3, (slot) => `INSERT INTO signalhouse.landing_5 SELECT * FROM signalhouse.${slot}`);
    const before = await rollupEvents();
    const next = await exporter(createTelemetry());
    expect(await stored('log.slot')).toBe(3);
    expect(await uniqueIds('log.slot')).toBe(3);
    expect(await rollupEvents()).toBe(before + 3);
    expect(await landedBlocks()).toBe(0);
    await next.drain();
  });

  it('cuts off a row a crash left half-written and moves every acknowledged one', async () => {
    const crashed = await exporter(createTelemetry());
    await crashed.export(batch('torn.kept', 3));
    const { slot, path } = await landedSlot();
    const whole = await readFile(path);
    expect(whole.at(-1)).toBe(0x0a);
    // A kill -9 during the next INSERT into the slot: part of its row, no line end.
    await appendFile(path, whole.subarray(0, Math.floor(whole.length / 2)));
    // Cut inside the block, it still reads as a row (the last line end is optional): one a move must not take.
    expect(Number((await one<{ n: string }>(`SELECT count() AS n FROM signalhouse.${slot}`)).n)).toBe(2);
    const next = await exporter(createTelemetry());
    expect(await stored('torn.kept')).toBe(3);
    expect(await uniqueIds('torn.kept')).toBe(3);
    expect(await landedBlocks()).toBe(0);
    // The slot takes and moves blocks again.
    await next.export(batch('torn.after', 2));
    await next.settle();
    expect(await stored('torn.after')).toBe(2);
    await next.drain();
  });

  it('cutTornRow keeps whole rows and cuts what follows the last line end', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'torn-'));
    const file = join(dir, 'slot.tsv');
    expect(await cutTornRow(file)).toBe(0);
    await writeFile(file, 'a\tb\n');
    expect(await cutTornRow(file)).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('a\tb\n');
    // A torn row longer than the 64 KB the search reads at a time.
    await appendFile(file, 'c'.repeat(200_000));
    expect(await cutTornRow(file)).toBe(200_000);
    expect(await readFile(file, 'utf8')).toBe('a\tb\n');
    await writeFile(file, 'no line end');
    expect(await cutTornRow(file)).toBe(11);
    expect(await readFile(file, 'utf8')).toBe('');
    await rm(dir, { recursive: true });
  });

  it('appends rows the engine reads back byte for byte, whatever bytes the block holds', async () => {
    const { path } = await slotFile(LANDING_SLOTS - 1);
    const table = `signalhouse.${landingSlotTable(LANDING_SLOTS - 1)}`;
    // Blocks of any bytes (tab, line feed, carriage return and backslash are what TabSeparated escapes).
    const special = fc.constantFrom(0x09, 0x0a, 0x0d, 0x5c, 0x00, 0xff);
    const blockBytes = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), special), { maxLength: 300 });
    await fc.assert(
      fc.asyncProperty(fc.array(blockBytes, { minLength: 1, maxLength: 5 }), async (blocks) => {
        await store.client.command({ query: `TRUNCATE TABLE ${table}` });
        for (const [k, b] of blocks.entries()) appendLandingRow(path, { generation: 'prop', stage: String(k), target: 'otel_logs', block: Buffer.from(b) });
        const rows = await (
          await store.client.query({ query: `SELECT Stage, hex(Block) AS hex FROM ${table} ORDER BY toUInt32(Stage)`, format: 'JSONEachRow' })
        ).json<{ Stage: string; hex: string }>();
        expect(rows).toEqual(blocks.map((b, k) => ({ Stage: String(k), hex: Buffer.from(b).toString('hex').toUpperCase() })));
      }),
      propertyOptions(60),
    );
    await store.client.command({ query: `TRUNCATE TABLE ${table}` });
  });

  it('answers a slot that cannot take a row with a retryable 503 error', () => {
    // /dev/full refuses every write with ENOSPC, as a full disk does.
    const append = () => appendLandingRow('/dev/full', { generation: 'g', stage: '1', target: 'otel_logs', block: Buffer.from('block') });
    const failure = (() => {
      try {
        append();
      } catch (err) {
        return err;
      }
    })();
    expect(failure).toBeInstanceOf(SignalhouseError);
    expect(failure).toMatchObject({ code: 'STORAGE_UNAVAILABLE', statusCode: 503, retryable: true, message: expect.stringMatching(/ENOSPC/) });
  });

  it('lands a large block (~180 KB) and moves it', async () => {
    const exp = await exporter(createTelemetry());
    const big = batch('big.block', 90);
    // ~2 KB of attributes per event: a ~180 KB block.
    for (const e of big.events) e.attributes = { ...e.attributes, 'kb.query': 'q'.repeat(2000) };
    await exp.export(big);
    expect(await landedBlocks()).toBe(1);
    expect(
      Number(
        (await one<{ n: string }>("SELECT max(length(Block)) AS n FROM merge('signalhouse', '^landing_file_') SETTINGS engine_file_empty_if_not_exists = 1")).n,
      ),
    ).toBeGreaterThan(64 * 1024);
    await exp.settle();
    expect(await stored('big.block')).toBe(90);
    expect(await landedBlocks()).toBe(0);
    await exp.drain();
  });

  it('sends small groups straight to their table while every slot holds rows that cannot move, and moves them later', async () => {
    await store.client.command({ query: "ALTER TABLE signalhouse.otel_traces ADD CONSTRAINT no_stuck_span CHECK SpanName != 'stuck'" });
    const exp = await exporter(createTelemetry(), { move_max_rows: 1 });
    try {
      // Each span lands in a generation of its own (move_max_rows 1) that cannot move: every slot ends up taken.
      for (let i = 0; i < LANDING_SLOTS; i++) {
        await exp.export(spanBatch('stuck'));
        await exp.settle();
      }
      expect(await landedBlocks()).toBe(LANDING_SLOTS);
      await exp.export(batch('no.slot', 3));
      // Acknowledged and already in otel_logs, without a settle: it went straight there.
      expect(await stored('no.slot')).toBe(3);
      expect(await landedBlocks()).toBe(LANDING_SLOTS);
    } finally {
      await store.client.command({ query: 'ALTER TABLE signalhouse.otel_traces DROP CONSTRAINT no_stuck_span' });
    }
    const next = await exporter(createTelemetry());
    expect(await landedBlocks()).toBe(0);
    expect(Number((await one<{ n: string }>("SELECT count() AS n FROM signalhouse.otel_traces WHERE SpanName = 'stuck'")).n)).toBe(LANDING_SLOTS);
    await Promise.all([exp.drain(), next.drain()]);
  });

  it('drain moves everything landed before it returns', async () => {
    const exp = await exporter(createTelemetry());
    await exp.export(batch('drained', 4));
    await exp.drain();
    expect(await stored('drained')).toBe(4);
    expect(await landedBlocks()).toBe(0);
  });
});
