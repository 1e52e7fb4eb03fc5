/**
 * The ClickHouse connection: `@clickhouse/client` over the embedded chDB engine (default, data in `data_dir`)
 * or over HTTP to a server. Queries and DDL go through the same client in both modes, so SQL and schema are
 * identical. Bulk inserts carry Native blocks in both modes: over HTTP they are the request body; embedded,
 * chDB's client bridge only carries text, so the payload is written to a file beside the data and read with
 * `file()`.
 *
 * Embedded, one chDB connection runs one statement at a time: a 3-second funnel on it would hold every INSERT
 * behind it. So the write path has its own connections (`WRITER_CONNECTIONS`, same data directory, which chDB
 * supports): queries and DDL use `client`, INSERTs and the exporter's own statements use `withWriter`, which
 * picks the least busy writer. Statements with query parameters are still serialized process-wide by chdb
 * (its parameter state is not per connection), so the write path sends none.
 */
import { closeSync, mkdirSync, openSync, rmSync, writevSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { type ClickHouseClient, createClient, parseError } from '@clickhouse/client';
import { SignalhouseError } from '../core/errors.ts';

/** Where the store lives and how to reach it; the service derives these from the ClickHouse exporter's options. */
export interface StoreOptions {
  /** Server URL; empty or absent: the embedded chDB engine in `dataDir`. */
  endpoint?: string;
  /** Server credentials, unless the URL carries its own (default `default`, no password). */
  username?: string;
  password?: string;
  /** The embedded engine's data directory (default `./data`). */
  dataDir?: string;
  /** Default `signalhouse`. */
  database?: string;
  /** Per-query timeout in ms (default 60 s). */
  timeoutMs?: number;
}

export interface NativeInsert {
  /** Fully qualified table. */
  table: string;
  /** `(col, …)` in payload order. */
  columns: string;
  /** `col Type, …` matching the payload. */
  structure: string;
  /** Native blocks, one or more per buffer. */
  payloads: readonly Buffer[];
  /** `name = value, …` for the INSERT's SETTINGS clause (values are ours, never user input). */
  settings: string;
}

export interface TsvInsert {
  /** Fully qualified table. */
  table: string;
  /** Column names in payload order. */
  columns: readonly string[];
  /** Rows in TabSeparated format (see `tsvEscape`). */
  body: Buffer;
  /** Settings of the INSERT (values are ours, never user input). */
  settings: Readonly<Record<string, string>>;
}

export interface Store {
  readonly client: ClickHouseClient;
  readonly kind: 'embedded' | 'remote';
  /** Where the data lives: the embedded data directory or the server URL (without credentials). */
  readonly location: string;
  readonly database: string;
  /** One INSERT of Native blocks, on a writer connection. */
  insertNative(insert: NativeInsert): Promise<void>;
  /**
   * One INSERT of TabSeparated rows, on a writer connection. Embedded, the body goes to the engine from memory
   * (chdb's raw insert): no spool file, which makes a small INSERT ~40% cheaper in CPU than `insertNative`.
   */
  insertTsv(insert: TsvInsert): Promise<void>;
  /**
   * Runs `fn` with the least busy writer connection (embedded; remote: the one client). For the write path's
   * own statements, so they never wait behind a query. Send no query parameters through it (see above).
   */
  withWriter<T>(fn: (client: ClickHouseClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** ClickHouse error codes worth retrying: overload, timeouts, replicas and keeper trouble. */
const RETRYABLE_CLICKHOUSE_CODES = new Set(['3', '159', '164', '202', '203', '209', '210', '236', '241', '242', '252', '285', '319', '394', '425', '999']);
const RETRYABLE_NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

export function isRetryableStoreError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (RETRYABLE_CLICKHOUSE_CODES.has(code) || RETRYABLE_NET_CODES.has(code))) return true;
  return /timeout|socket hang up|ECONNRESET|ECONNREFUSED|Too many parts|MEMORY_LIMIT_EXCEEDED/i.test(err.message);
}

/**
 * Rows of a read (JSONEachRow). A failure worth retrying (overload, timeouts, a server out of reach) is
 * STORAGE_UNAVAILABLE, a retryable 503; any other stays as it is (a 500 whose text is logged, not sent).
 */
export async function readRows<T>(store: Store, query: string, params?: Record<string, unknown>): Promise<T[]> {
  try {
    return await (await store.client.query({ query, query_params: params, format: 'JSONEachRow' })).json<T>();
  } catch (err) {
    if (isRetryableStoreError(err))
      throw new SignalhouseError('STORAGE_UNAVAILABLE', `storage unavailable: ${(err as Error).message}`, { cause: err, retryAfterSeconds: 5 });
    throw err;
  }
}

/** Embedded connections for the write path, beside the one for queries and DDL. */
const WRITER_CONNECTIONS = 3;

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;

/**
 * Bytes as a TabSeparated value: backslash, tab, line feed and carriage return escaped (a raw CR before the end
 * of a row is refused as a DOS line end); ClickHouse reads every other byte as it is, so binary data (a Native
 * block) goes through unchanged.
 */
export function tsvEscape(bytes: Uint8Array): Buffer {
  let specials = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === TAB || b === LF || b === CR || b === BACKSLASH) specials++;
  }
  if (specials === 0) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = Buffer.allocUnsafe(bytes.length + specials);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === TAB || b === LF || b === CR || b === BACKSLASH) {
      out[o++] = BACKSLASH;
      out[o++] = b === TAB ? 0x74 : b === LF ? 0x6e : b === CR ? 0x72 : BACKSLASH;
    } else out[o++] = b;
  }
  return out;
}

const settingsClause = (settings: Readonly<Record<string, string>>) =>
  Object.entries(settings)
    .map(([k, v]) => `${k} = ${sqlString(v)}`)
    .join(', ');

/** A string literal for ClickHouse SQL. */
export function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  const database = opts.database ?? 'signalhouse';
  const timeout = opts.timeoutMs ?? 60_000;
  if (opts.endpoint) {
    const url = new URL(opts.endpoint);
    // Credentials in the URL win over the username / password options.
    const credentials = url.username ? {} : { username: opts.username ?? 'default', password: opts.password ?? '' };
    const client = createClient({ url: opts.endpoint, ...credentials, request_timeout: timeout });
    url.username = '';
    url.password = '';
    return {
      client,
      kind: 'remote',
      location: url.toString(),
      database,
      withWriter: (fn) => fn(client),
      async insertNative(ins) {
        const result = await client.exec({
          query: `INSERT INTO ${ins.table} ${ins.columns} SETTINGS ${ins.settings} FORMAT Native`,
          values: Readable.from(ins.payloads),
        });
        result.stream.resume();
      },
      async insertTsv(ins) {
        const settings = Object.keys(ins.settings).length > 0 ? ` SETTINGS ${settingsClause(ins.settings)}` : '';
        const result = await client.exec({
          query: `INSERT INTO ${ins.table} (${ins.columns.join(', ')})${settings} FORMAT TabSeparated`,
          values: Readable.from([ins.body]),
        });
        result.stream.resume();
      },
      close: () => client.close(),
    };
  }
  const dir = resolve(opts.dataDir ?? './data');
  mkdirSync(dir, { recursive: true });
  // Payload files of inserts cut short by a crash are garbage: their requests were never acknowledged.
  const spool = join(dir, 'insert-spool');
  rmSync(spool, { recursive: true, force: true });
  mkdirSync(spool, { recursive: true });
  // Loaded only in embedded mode: the engine is a large native library.
  const { createChdbConnection } = await import('chdb/connection');
  // chdb types the connection against its own copy of @clickhouse/client-common; the runtime contract is the same.
  type Connection = NonNullable<Parameters<typeof createClient>[0]>['connection'];
  const connect = () => {
    const connection = createChdbConnection({ path: dir });
    return { connection, client: createClient({ connection: connection as unknown as Connection, request_timeout: timeout }) };
  };
  const { client } = connect();
  const writers = Array.from({ length: WRITER_CONNECTIONS }, () => ({ ...connect(), busy: 0 }));
  type Writer = (typeof writers)[number];
  async function withWriterOf<T>(fn: (writer: Writer) => Promise<T>): Promise<T> {
    const writer = writers.reduce((a, b) => (b.busy < a.busy ? b : a));
    writer.busy++;
    try {
      return await fn(writer);
    } finally {
      writer.busy--;
    }
  }
  const withWriter = <T>(fn: (client: ClickHouseClient) => Promise<T>) => withWriterOf((w) => fn(w.client));
  let spoolSeq = 0;
  return {
    client,
    kind: 'embedded',
    location: dir,
    database,
    withWriter,
    async insertNative(ins) {
      // Written and removed synchronously on purpose: a few MB into the page cache take ~1 ms, while each async
      // fs step (open, write, close, unlink) waits for a turn of a busy event loop; under full load those turns
      // made a 10k-row INSERT wait ~100 ms longer (bench:ingest). A fresh name each time: truncating and
      // rewriting a file makes ext4 flush it on close.
      const path = join(spool, `${++spoolSeq}.native`);
      try {
        const fd = openSync(path, 'wx');
        try {
          writevSync(fd, ins.payloads as Buffer[]);
        } finally {
          closeSync(fd);
        }
        await withWriter((writer) =>
          writer.command({
            query: `INSERT INTO ${ins.table} ${ins.columns} SETTINGS ${ins.settings} SELECT * FROM file(${sqlString(path)}, 'Native', ${sqlString(ins.structure)})`,
          }),
        );
      } finally {
        rmSync(path, { force: true });
      }
    },
    async insertTsv(ins) {
      await withWriterOf(async (w) => {
        try {
          await w.connection.chdb.rawInsert({
            table: ins.table,
            columns: ins.columns,
            values: ins.body,
            format: 'TabSeparated',
            settings: { ...ins.settings },
          });
        } catch (err) {
          // As the client's errors: a ClickHouseError with its code when the engine raised it.
          const mapped = parseError(err instanceof Error ? err.message : String(err));
          if (mapped !== err) mapped.cause = err;
          throw mapped;
        }
      });
    },
    async close() {
      for (const w of writers) await w.client.close();
      await client.close();
    },
  };
}
