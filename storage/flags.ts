/**
 * Feature flag versions (`feature_flag_versions`): every change to a flag is a new row, never an update, so the
 * table is the flag's whole history (who, when, under which request id). The latest row of a key is the flag;
 * a row with `Deleted = 1` ends it. The flags component (experiments/flags) keeps the current flags in memory
 * and writes here before it swaps its copy; this module holds the table's DDL and SQL.
 */
import { readRows, type Store } from './store.ts';

/** What this DDL builder needs of schema.ts' DdlContext (not imported: schema.ts imports this file). */
interface Ddl {
  readonly db: string;
  readonly onCluster: string;
  engine(kind: 'MergeTree', table: string, args?: string): string;
}

export const FLAG_VERSIONS_TABLE = 'feature_flag_versions';

export function flagVersionsDdl({ db, onCluster, engine }: Ddl): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.${FLAG_VERSIONS_TABLE}${onCluster} (
      TenantId LowCardinality(String),
      Key String,
      Version UInt32,
      Definition String,
      Deleted UInt8,
      ChangedBy String,
      ChangedAt DateTime64(3, 'UTC'),
      RequestId String
    ) ENGINE = ${engine('MergeTree', FLAG_VERSIONS_TABLE)}
    ORDER BY (TenantId, Key, Version)`,
  ];
}

export interface FlagVersionRow {
  tenantId: string;
  key: string;
  version: number;
  /** The flag's definition as JSON ('' for a deletion). */
  definition: string;
  deleted: boolean;
  changedBy: string;
  changedAtMs: number;
  requestId: string;
}

const chTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

/** Appends one version row; resolves once it is committed. */
export async function insertFlagVersion(store: Store, row: FlagVersionRow): Promise<void> {
  await store.client.insert({
    table: `${store.database}.${FLAG_VERSIONS_TABLE}`,
    format: 'JSONEachRow',
    values: [
      {
        TenantId: row.tenantId,
        Key: row.key,
        Version: row.version,
        Definition: row.definition,
        Deleted: row.deleted ? 1 : 0,
        ChangedBy: row.changedBy,
        ChangedAt: chTime(row.changedAtMs),
        RequestId: row.requestId,
      },
    ],
    // Two changes may carry the same columns (a repeated PATCH): each is a version of its own.
    clickhouse_settings: { insert_deduplicate: 0 },
  });
}

interface Row {
  TenantId: string;
  Key: string;
  Version: number;
  Definition: string;
  Deleted: number;
  ChangedBy: string;
  At: string;
  RequestId: string;
}

const toVersion = (r: Row): FlagVersionRow => ({
  tenantId: r.TenantId,
  key: r.Key,
  version: Number(r.Version),
  definition: r.Definition,
  deleted: Number(r.Deleted) === 1,
  changedBy: r.ChangedBy,
  changedAtMs: Number(r.At),
  requestId: r.RequestId,
});

const COLUMNS = 'TenantId, Key, Version, Definition, Deleted, ChangedBy, toUnixTimestamp64Milli(ChangedAt) AS At, RequestId';

/**
 * Every version row, oldest first per key: the store folds them into the current flags and their creation
 * (the first version after the last deletion). Flags change by hand, so the table stays small.
 */
export async function readAllFlagVersions(store: Store): Promise<FlagVersionRow[]> {
  const rows = await readRows<Row>(store, `SELECT ${COLUMNS} FROM ${store.database}.${FLAG_VERSIONS_TABLE} ORDER BY TenantId, Key, Version`);
  return rows.map(toVersion);
}

/** One flag's versions, newest first. */
export async function readFlagHistory(store: Store, tenantId: string, key: string, limit: number): Promise<FlagVersionRow[]> {
  const rows = await readRows<Row>(
    store,
    `SELECT ${COLUMNS} FROM ${store.database}.${FLAG_VERSIONS_TABLE}
     WHERE TenantId = {tenant:String} AND Key = {key:String}
     ORDER BY Version DESC LIMIT {limit:UInt32}`,
    { tenant: tenantId, key, limit },
  );
  return rows.map(toVersion);
}
