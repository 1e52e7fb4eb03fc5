/**
 * `tenant_data_keys`: the data keys of encryption at rest, wrapped under a master key (core/keyring.ts keeps
 * them unwrapped in memory). One row per key and version (ReplacingMergeTree by `Version`: a re-wrap under a
 * newer master key writes a new version); reads use FINAL. `PersonId` is '' for a tenant's key, else the user
 * id (or anonymous id) whose values it seals. Shredding a person deletes their rows with a mutation, which
 * rewrites the parts holding them; the replaced parts are removed 30 s later (`old_parts_lifetime`).
 */
import type { DataKeyStore, StoredDataKey } from '../core/keyring.ts';
import { readRows, type Store } from './store.ts';

export const DATA_KEYS_TABLE = 'tenant_data_keys';

/** What the DDL builder needs of schema.ts' DdlContext (not imported: schema.ts imports this file). */
interface Ddl {
  readonly db: string;
  readonly onCluster: string;
  engine(kind: 'ReplacingMergeTree', table: string, args?: string): string;
}

export function dataKeysDdl({ db, onCluster, engine }: Ddl): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.${DATA_KEYS_TABLE}${onCluster} (
      TenantId LowCardinality(String),
      PersonId String,
      KeyId String,
      MasterKeyId LowCardinality(String),
      WrappedKey String,
      CreatedAt DateTime64(3, 'UTC'),
      Version UInt64,
      INDEX idx_key_id KeyId TYPE bloom_filter(0.01) GRANULARITY 1
    ) ENGINE = ${engine('ReplacingMergeTree', DATA_KEYS_TABLE, 'Version')}
    ORDER BY (TenantId, PersonId, KeyId)
    SETTINGS old_parts_lifetime = 30`,
  ];
}

interface KeyRow {
  TenantId: string;
  PersonId: string;
  KeyId: string;
  MasterKeyId: string;
  WrappedKey: string;
  CreatedAt: string;
}

const COLUMNS = 'TenantId, PersonId, KeyId, MasterKeyId, WrappedKey, CreatedAt';
const chTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const fromRow = (r: KeyRow): StoredDataKey => ({
  tenantId: r.TenantId,
  personId: r.PersonId,
  keyId: r.KeyId,
  masterKeyId: r.MasterKeyId,
  wrapped: r.WrappedKey,
  createdAtMs: Date.parse(`${r.CreatedAt.replace(' ', 'T')}Z`),
});

let lastVersion = 0;
/** Increasing within this process and across restarts (clock-based). */
function nextVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}

export function createDataKeyStore(store: Store): DataKeyStore {
  const table = `${store.database}.${DATA_KEYS_TABLE}`;
  const select = async (where: string, params: Record<string, unknown>) =>
    (await readRows<KeyRow>(store, `SELECT ${COLUMNS} FROM ${table} FINAL WHERE ${where} ORDER BY TenantId, CreatedAt, KeyId`, params)).map(fromRow);
  return {
    tenantKeys: () => select("PersonId = ''", {}),
    personKeys: (tenantId, personIds) => select('TenantId = {tenant:String} AND PersonId IN {persons:Array(String)}', { tenant: tenantId, persons: personIds }),
    byIds: (tenantId, keyIds) => select('TenantId = {tenant:String} AND KeyId IN {ids:Array(String)}', { tenant: tenantId, ids: keyIds }),
    notWrappedBy: async (masterKeyId, limit) =>
      (
        await readRows<KeyRow>(store, `SELECT ${COLUMNS} FROM ${table} FINAL WHERE MasterKeyId != {master:String} LIMIT {limit:UInt32}`, {
          master: masterKeyId,
          limit,
        })
      ).map(fromRow),
    async save(keys) {
      // On a writer connection: a new person's key is stored on the ingest path, which must not wait behind a query.
      await store.withWriter((client) =>
        client.insert({
          table,
          format: 'JSONEachRow',
          values: keys.map((k) => ({
            TenantId: k.tenantId,
            PersonId: k.personId,
            KeyId: k.keyId,
            MasterKeyId: k.masterKeyId,
            WrappedKey: k.wrapped,
            CreatedAt: chTime(k.createdAtMs),
            Version: nextVersion(),
          })),
          clickhouse_settings: { insert_deduplicate: 0 },
        }),
      );
    },
    async shred(tenantId, personIds) {
      const persons = personIds.filter((p) => p !== '');
      if (persons.length === 0) return;
      // Waits for the rewrite, so a finished erasure has shredded the keys on disk, not only hidden them.
      await store.client.command({
        query: `ALTER TABLE ${table} DELETE WHERE TenantId = {tenant:String} AND PersonId IN {persons:Array(String)}`,
        query_params: { tenant: tenantId, persons },
        clickhouse_settings: { mutations_sync: '2' },
      });
    },
  };
}
