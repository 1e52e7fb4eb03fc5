/**
 * The Native block encoder against the real embedded engine: every column kind the tables use, read back by
 * ClickHouse itself — UTF-8 and long strings, LowCardinality dictionaries with 8-, 16- and 32-bit indexes,
 * empty and nested maps and arrays, several blocks in one INSERT — and builders left clean after a failed encode.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent, Resource, Scope } from '../../core/event.ts';
import { testLogEvent } from '../../test/helpers/events.ts';
import { BinaryReader } from './binary-reader.ts';
import { BinaryWriter } from './binary-writer.ts';
import { ArrayColumn, AttributesColumn, insertFormat, Int64Column, LowCardinalityStringColumn, StringColumn, takeBlock, UInt8Column } from './native.ts';
import { migrate } from '../../storage/migrate.ts';
import { encodeLogBlock, LOG_FORMAT } from './rows.ts';
import { openStore, type Store } from '../../storage/store.ts';

let dir: string;
let store: Store;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sh-native-'));
  store = await openStore({ dataDir: dir });
  await store.client.command({ query: 'CREATE DATABASE IF NOT EXISTS t' });
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

function columns() {
  return {
    id: new Int64Column('UInt64'),
    s: new StringColumn(),
    lc: new LowCardinalityStringColumn(),
    u8: new UInt8Column(),
    ts: new Int64Column('DateTime64(9)'),
    attrs: new AttributesColumn(),
    names: new ArrayColumn(new LowCardinalityStringColumn()),
    nested: new ArrayColumn(new AttributesColumn()),
  };
}
type Columns = ReturnType<typeof columns>;

interface Row {
  id: number;
  s: string;
  lc: string;
  u8: number;
  ts: bigint;
  attrs: Record<string, string>;
  names: string[];
  nested: Array<Record<string, string>>;
}

function push(c: Columns, r: Row): void {
  c.id.push(BigInt(r.id));
  c.s.push(r.s);
  c.lc.push(r.lc);
  c.u8.push(r.u8);
  c.ts.push(r.ts);
  c.attrs.push(r.attrs);
  for (const n of r.names) c.names.inner.push(n);
  c.names.endRow(r.names.length);
  for (const m of r.nested) c.nested.inner.push(m);
  c.nested.endRow(r.nested.length);
}

async function roundTrip(table: string, blocks: Row[][]): Promise<Row[]> {
  const c = columns();
  const fmt = insertFormat(c);
  await store.client.command({ query: `CREATE TABLE t.${table} (${fmt.structure}) ENGINE = MergeTree ORDER BY id` });
  const out = new BinaryWriter(16);
  const payloads = blocks.map((rows) => {
    for (const r of rows) push(c, r);
    return takeBlock(c, rows.length, out);
  });
  await store.insertNative({ table: `t.${table}`, columns: fmt.columns, structure: fmt.structure, payloads, settings: 'async_insert = 0' });
  const rs = await store.client.query({ query: `SELECT *, toString(toUnixTimestamp64Nano(ts)) AS ts_ns FROM t.${table} ORDER BY id`, format: 'JSONEachRow' });
  return (await rs.json<Record<string, unknown>>()).map((r) => ({
    id: Number(r.id),
    s: r.s as string,
    lc: r.lc as string,
    u8: r.u8 as number,
    ts: BigInt(r.ts_ns as string),
    attrs: r.attrs as Record<string, string>,
    names: r.names as string[],
    nested: r.nested as Array<Record<string, string>>,
  }));
}

const T0 = 1_763_000_000_123_456_789n;

function row(id: number, over: Partial<Row> = {}): Row {
  return { id, s: `s${id}`, lc: `lc${id % 3}`, u8: id % 256, ts: T0 + BigInt(id), attrs: { a: String(id) }, names: [], nested: [], ...over };
}

describe('Native blocks', () => {
  it('round-trips every column kind, with edge-case values', async () => {
    const long = 'x'.repeat(300) + 'é'.repeat(100);
    const rows = [
      row(1, { s: '', lc: '', attrs: {}, names: [], nested: [] }),
      row(2, {
        s: 'grüße 👋 中文',
        lc: 'ünïcode',
        attrs: { 'k.é': 'v👋', '': 'empty key' },
        names: ['x', 'y', 'x'],
        nested: [{ a: '1' }, {}, { b: '2', c: '3' }],
      }),
      row(3, { s: long, lc: long, attrs: { [long]: long }, u8: 255, ts: 0n }),
      row(4, { ts: 4_102_444_800_000_000_000n - 1n }),
    ];
    expect(await roundTrip('kinds', [rows])).toEqual(rows);
  });

  it('widens LowCardinality indexes to 16 and 32 bits as dictionaries grow', async () => {
    const rows = Array.from({ length: 70_000 }, (_, i) => row(i, { lc: `v${i}`, attrs: { [`k${i % 300}`]: 'x' }, names: [`n${i % 70_000}`] }));
    const back = await roundTrip('wide', [rows.slice(0, 200), rows.slice(200, 1_000), rows.slice(1_000)]);
    expect(back.length).toBe(rows.length);
    expect(back).toEqual(rows);
  });

  it('concatenates blocks of different sizes in one INSERT, including all-empty maps', async () => {
    const a = [row(1, { attrs: {} }), row(2, { attrs: {} })];
    const b = [row(3)];
    const c = Array.from({ length: 50 }, (_, i) => row(10 + i, { nested: [{ x: String(i) }] }));
    expect(await roundTrip('concat', [a, b, c])).toEqual([...a, ...b, ...c]);
  });

  it('leaves no half-written rows behind when encoding a request throws', async () => {
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0, rollups: false });
    const resource: Resource = { attributes: { 'service.name': 'n' }, schemaUrl: '', serviceName: 'n' };
    const scope: Scope = { name: 's', version: '', attributes: {}, schemaUrl: '' };
    const event = (id: string, attributes: Record<string, string>): LogEvent =>
      testLogEvent({ eventId: id, timeUnixNano: T0, observedTimeUnixNano: T0, eventName: 'e', attributes, resource, scope });
    // A value that is not a string fails half-way through the second row.
    expect(() => encodeLogBlock([{ tenantId: 'tenant', events: [event('a', {}), event('b', { bad: 42 as unknown as string })] }])).toThrow();
    const block = encodeLogBlock([{ tenantId: 'tenant', events: [event('c', { ok: 'yes' })] }]);
    await store.insertNative({
      table: 'signalhouse.otel_logs',
      columns: LOG_FORMAT.columns,
      structure: LOG_FORMAT.structure,
      payloads: [block],
      settings: 'async_insert = 0',
    });
    const rs = await store.client.query({ query: 'SELECT EventId, LogAttributes FROM signalhouse.otel_logs', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ EventId: 'c', LogAttributes: { ok: 'yes' } }]);
  });
});

describe('BinaryReader', () => {
  it('reads back what BinaryWriter wrote, and refuses to read past the end', () => {
    const w = new BinaryWriter(8);
    for (const s of ['', 'otel_logs', 'x'.repeat(300)]) w.str(s);
    const bytes = Buffer.from(w.view());
    const r = new BinaryReader(bytes);
    expect([r.bytes().toString(), r.bytes().toString(), r.bytes().toString()]).toEqual(['', 'otel_logs', 'x'.repeat(300)]);
    expect(r.pos).toBe(r.len);
    const cut = new BinaryReader(bytes.subarray(0, 14)); // the 300-byte string's length, and one of its bytes
    cut.bytes();
    cut.bytes();
    expect(() => cut.bytes()).toThrow(/runs past the end/);
    expect(() => new BinaryReader(Buffer.from([0x80, 0x80])).varint()).toThrow(/truncated/);
  });
});
