/**
 * Experiment definitions as stored in `experiment_versions`: every create or change appends a row with the next
 * `Version` of its experiment, who made it and under which request id; nothing is updated in place. The latest
 * version of each experiment is its definition; all of them are read once at start (experiments are few) and
 * kept in memory by experiments/ab-tests. The definition itself is a JSON document, validated by its writer.
 */
import { readRows, type Store } from './store.ts';

export const EXPERIMENT_VERSIONS_TABLE = 'experiment_versions';

/** What the DDL builder needs of schema.ts' DdlContext (not imported: schema.ts imports this file). */
interface Ddl {
  readonly db: string;
  readonly onCluster: string;
  engine(kind: 'MergeTree', table: string): string;
}

export function experimentVersionsDdl({ db, onCluster, engine }: Ddl): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.${EXPERIMENT_VERSIONS_TABLE}${onCluster} (
      TenantId LowCardinality(String),
      Id String,
      Version UInt32,
      Definition String,
      Actor String,
      RequestId String,
      ChangedAt DateTime64(3, 'UTC')
    ) ENGINE = ${engine('MergeTree', EXPERIMENT_VERSIONS_TABLE)}
    ORDER BY (TenantId, Id, Version)`,
  ];
}

export interface ExperimentVersion {
  tenantId: string;
  id: string;
  version: number;
  /** The definition, as JSON text. */
  definition: string;
  actor: string;
  requestId: string;
  changedAtMs: number;
}

/** Appends one version; the INSERT is acknowledged once committed. */
export async function appendExperimentVersion(store: Store, v: ExperimentVersion): Promise<void> {
  await store.client.insert({
    table: `${store.database}.${EXPERIMENT_VERSIONS_TABLE}`,
    format: 'JSONEachRow',
    values: [
      {
        TenantId: v.tenantId,
        Id: v.id,
        Version: v.version,
        Definition: v.definition,
        Actor: v.actor,
        RequestId: v.requestId,
        ChangedAt: new Date(v.changedAtMs).toISOString().replace('T', ' ').replace('Z', ''),
      },
    ],
    // Two versions may carry the same bytes (a change and its undo): each is a row of its own.
    clickhouse_settings: { insert_deduplicate: 0 },
  });
}

/** The latest version of every experiment of every tenant. */
export async function latestExperimentVersions(store: Store): Promise<ExperimentVersion[]> {
  const rows = await readRows<{ TenantId: string; Id: string; Latest: number; Doc: string; Who: string; Req: string; At: string }>(
    store,
    `SELECT TenantId, Id, max(Version) AS Latest, argMax(Definition, Version) AS Doc, argMax(Actor, Version) AS Who,
       argMax(RequestId, Version) AS Req, toUnixTimestamp64Milli(argMax(ChangedAt, Version)) AS At
     FROM ${store.database}.${EXPERIMENT_VERSIONS_TABLE} GROUP BY TenantId, Id`,
  );
  return rows.map((r) => ({
    tenantId: r.TenantId,
    id: r.Id,
    version: Number(r.Latest),
    definition: r.Doc,
    actor: r.Who,
    requestId: r.Req,
    changedAtMs: Number(r.At),
  }));
}
