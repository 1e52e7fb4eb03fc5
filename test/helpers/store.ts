/**
 * Stores for tests: an embedded store of its own for a test file (a fresh temporary data directory: chDB allows
 * one per process, and each test file runs in its own fork), and a look into a stopped server's data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { migrate } from '../../storage/migrate.ts';
import { openStore, type Store } from '../../storage/store.ts';

export interface TempStore {
  /** Open from the file's first `beforeAll` on. */
  readonly store: Store;
}

/** Registers the hooks; `migrated` applies the schema first (TTL off). */
export function useTempStore(opts: { prefix: string; migrated?: boolean }): TempStore {
  let dir = '';
  let store: Store | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `sh-${opts.prefix}-`));
    store = await openStore({ dataDir: dir });
    if (opts.migrated) await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0 });
  });
  afterAll(async () => {
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get store() {
      if (!store) throw new Error('the test store opens in beforeAll');
      return store;
    },
  };
}

/** Opens a stopped server's data directory, runs `fn` on it and closes it. */
export async function withStore(dataDir: string, fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await openStore({ dataDir });
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

/** Rows left in the landing slots (and the landing tables of earlier versions). */
export async function landedRows(store: Store): Promise<number> {
  const rs = await store.client.query({
    query: "SELECT count() AS n FROM merge('signalhouse', '^landing') SETTINGS engine_file_empty_if_not_exists = 1",
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ n: string }>())[0].n);
}
