/**
 * The ClickHouse connection: `@clickhouse/client` over the embedded chDB engine (default, data in `data_dir`)
 * or over HTTP to a server. Everything else talks to the same client, so SQL and schema are identical.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import type { ClickHouseExporterConfig } from '../../core/config.ts';

export interface Store {
  readonly client: ClickHouseClient;
  readonly kind: 'embedded' | 'remote';
  /** Where the data lives: the embedded data directory or the server URL (without credentials). */
  readonly location: string;
  readonly database: string;
  close(): Promise<void>;
}

export async function openStore(cfg: ClickHouseExporterConfig): Promise<Store> {
  if (cfg.endpoint) {
    const url = new URL(cfg.endpoint);
    const client = createClient({
      url: cfg.endpoint,
      username: cfg.username,
      password: cfg.password,
      request_timeout: cfg.timeout,
      clickhouse_settings: { date_time_input_format: 'basic' },
    });
    url.username = '';
    url.password = '';
    return { client, kind: 'remote', location: url.toString(), database: cfg.database, close: () => client.close() };
  }
  const dir = resolve(cfg.data_dir);
  mkdirSync(dir, { recursive: true });
  // Loaded only in embedded mode: the engine is a large native library.
  const { createChdbConnection } = await import('chdb/connection');
  // chdb types the connection against its own copy of @clickhouse/client-common; the runtime contract is the same.
  const connection = createChdbConnection({ path: dir }) as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'];
  const client = createClient({ connection, request_timeout: cfg.timeout });
  return { client, kind: 'embedded', location: dir, database: cfg.database, close: () => client.close() };
}
