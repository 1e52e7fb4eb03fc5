/**
 * The store's INSERT paths against the real embedded engine: TabSeparated rows from memory carry any bytes
 * unchanged (the landing table keeps Native blocks in a String column), keep their deduplication token, and fail
 * with the engine's error codes.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { useTempStore } from '../test/helpers/store.ts';
import { freePort } from '../test/helpers/process.ts';
import { isRetryableStoreError, openStore, readRows, type Store, tsvEscape } from './store.ts';

const temp = useTempStore({ prefix: 'store' });
let store: Store;
beforeAll(async () => {
  store = temp.store;
  await store.client.command({ query: 'CREATE DATABASE IF NOT EXISTS t' });
  await store.client.command({
    query: 'CREATE TABLE t.blobs (Id String, Data String) ENGINE = MergeTree ORDER BY Id SETTINGS non_replicated_deduplication_window = 100',
  });
});

const row = (id: string, data: Buffer) => Buffer.concat([Buffer.from(`${id}\t`), tsvEscape(data), Buffer.from('\n')]);

async function stored(): Promise<Map<string, string[]>> {
  const rows = await (await store.client.query({ query: 'SELECT Id, hex(Data) AS hex FROM t.blobs ORDER BY Id', format: 'JSONEachRow' })).json<{
    Id: string;
    hex: string;
  }>();
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.Id, [...(out.get(r.Id) ?? []), r.hex]);
  return out;
}

it('stores every byte value unchanged, escapes and all', async () => {
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  // Escapes next to each other and at the ends, where an off-by-one would show.
  const edges = Buffer.from([0x5c, 0x09, 0x0a, 0x5c, 0x5c, 0x6e, 0x74, 0x0a, 0x00, 0x0d, 0x5c]);
  const random = randomBytes(100_000);
  // A value ending in CR (read as a DOS line end unless escaped), as one in 256 random blocks does.
  const crLast = Buffer.from([0x41, 0x0d]);
  await store.insertTsv({
    table: 't.blobs',
    columns: ['Id', 'Data'],
    body: Buffer.concat([row('every', every), row('edges', edges), row('random', random), row('empty', Buffer.alloc(0)), row('zcr', crLast)]),
    settings: {},
  });
  const rows = await stored();
  expect(rows.get('every')).toEqual([every.toString('hex').toUpperCase()]);
  expect(rows.get('edges')).toEqual([edges.toString('hex').toUpperCase()]);
  expect(rows.get('random')).toEqual([random.toString('hex').toUpperCase()]);
  expect(rows.get('empty')).toEqual(['']);
  expect(rows.get('zcr')).toEqual(['410D']);
});

it('escapes nothing it need not, and only what it must', () => {
  const plain = Buffer.from('no specials here');
  expect(tsvEscape(plain).equals(plain)).toBe(true);
  expect(tsvEscape(Buffer.from('a\tb\nc\\d\r')).toString()).toBe('a\\tb\\nc\\\\d\\r');
});

it('keeps the deduplication token: a retried INSERT is stored once', async () => {
  const body = row('retried', Buffer.from('once'));
  for (let i = 0; i < 3; i++)
    await store.insertTsv({ table: 't.blobs', columns: ['Id', 'Data'], body, settings: { insert_deduplication_token: 'same-token' } });
  expect((await stored()).get('retried')).toHaveLength(1);
});

it("fails with the engine's error and code, typed like the client's errors", async () => {
  const missing = store.insertTsv({ table: 't.nowhere', columns: ['Id', 'Data'], body: row('x', Buffer.from('y')), settings: {} });
  await expect(missing).rejects.toMatchObject({ code: '60', message: expect.stringMatching(/nowhere/) });
  const bad = await store
    .insertTsv({ table: 't.blobs', columns: ['Id', 'Data'], body: Buffer.from('only-one-column\n'), settings: {} })
    .catch((e: unknown) => e);
  expect(bad).toBeInstanceOf(Error);
  expect(isRetryableStoreError(bad)).toBe(false);
});

it('reads rows, and a server out of reach is a retryable STORAGE_UNAVAILABLE, while a bad query stays as it is', async () => {
  expect(await readRows<{ n: string }>(store, 'SELECT {n:UInt8} AS n', { n: 7 })).toEqual([{ n: 7 }]);
  await expect(readRows(store, 'SELECT * FROM t.nowhere')).rejects.toMatchObject({ code: '60' });
  // A real client against a loopback port nothing listens on: the connection is refused.
  const port = await freePort();
  const remote = await openStore({ endpoint: `http://127.0.0.1:${port}` });
  try {
    await expect(readRows(remote, 'SELECT 1')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', statusCode: 503, retryable: true, retryAfterSeconds: 5 });
  } finally {
    await remote.close();
  }
});
