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
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import type { ClickHouseExporterConfig } from '../../core/config.ts';

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

export interface Store {
  readonly client: ClickHouseClient;
  readonly kind: 'embedded' | 'remote';
  /** Where the data lives: the embedded data directory or the server URL (without credentials). */
  readonly location: string;
  readonly database: string;
  /** One INSERT of Native blocks, on a writer connection. */
  insertNative(insert: NativeInsert): Promise<void>;
  /**
   * Runs `fn` with the least busy writer connection (embedded; remote: the one client). For the write path's
   * own statements, so they never wait behind a query. Send no query parameters through it (see above).
   */
  withWriter<T>(fn: (client: ClickHouseClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Embedded connections for the write path, beside the one for queries and DDL. */
const WRITER_CONNECTIONS = 3;

/** A string literal for ClickHouse SQL. */
export function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export async function openStore(cfg: ClickHouseExporterConfig): Promise<Store> {
  if (cfg.endpoint) {
    const url = new URL(cfg.endpoint);
    // Credentials in the URL win over the username / password options.
    const credentials = url.username ? {} : { username: cfg.username, password: cfg.password };
    const client = createClient({ url: cfg.endpoint, ...credentials, request_timeout: cfg.timeout });
    url.username = '';
    url.password = '';
    return {
      client,
      kind: 'remote',
      location: url.toString(),
      database: cfg.database,
      withWriter: (fn) => fn(client),
      async insertNative(ins) {
        const result = await client.exec({
          query: `INSERT INTO ${ins.table} ${ins.columns} SETTINGS ${ins.settings} FORMAT Native`,
          values: Readable.from(ins.payloads),
        });
        result.stream.resume();
      },
      close: () => client.close(),
    };
  }
  const dir = resolve(cfg.data_dir);
  mkdirSync(dir, { recursive: true });
  // Payload files of inserts cut short by a crash are garbage: their requests were never acknowledged.
  const spool = join(dir, 'insert-spool');
  rmSync(spool, { recursive: true, force: true });
  mkdirSync(spool, { recursive: true });
  // Loaded only in embedded mode: the engine is a large native library.
  const { createChdbConnection } = await import('chdb/connection');
  // chdb types the connection against its own copy of @clickhouse/client-common; the runtime contract is the same.
  type Connection = NonNullable<Parameters<typeof createClient>[0]>['connection'];
  const connect = () => createClient({ connection: createChdbConnection({ path: dir }) as unknown as Connection, request_timeout: cfg.timeout });
  const client = connect();
  const writers = Array.from({ length: WRITER_CONNECTIONS }, () => ({ client: connect(), busy: 0 }));
  async function withWriter<T>(fn: (client: ClickHouseClient) => Promise<T>): Promise<T> {
    const writer = writers.reduce((a, b) => (b.busy < a.busy ? b : a));
    writer.busy++;
    try {
      return await fn(writer.client);
    } finally {
      writer.busy--;
    }
  }
  let spoolSeq = 0;
  return {
    client,
    kind: 'embedded',
    location: dir,
    database: cfg.database,
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
    async close() {
      for (const w of writers) await w.client.close();
      await client.close();
    },
  };
}
