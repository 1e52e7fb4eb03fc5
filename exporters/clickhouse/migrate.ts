/**
 * Runs the schema migrations idempotently at start, then brings each table's TTL in line with the config.
 * On a cluster, DDL runs `ON CLUSTER` with Replicated engines.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { type DdlContext, type Migration, MIGRATIONS, rollupViews, TTL_TABLES } from './schema.ts';

export interface MigrateOptions {
  database: string;
  cluster: string;
  /** Retention in milliseconds; 0 disables TTL. */
  ttlMs: number;
  /** Keep the rollup's materialized views (default true); false drops them. */
  rollups?: boolean;
  migrations?: readonly Migration[];
}

export function ddlContext(database: string, cluster: string): DdlContext {
  const onCluster = cluster ? ` ON CLUSTER ${cluster}` : '';
  return {
    db: database,
    onCluster,
    engine: (kind, table, args = '') =>
      cluster
        ? `Replicated${kind}('/clickhouse/tables/{shard}/${database}/${table}', '{replica}'${args ? `, ${args}` : ''})`
        : `${kind}(${args})`,
  };
}

/** The TTL clause for a retention period: whole days when possible, seconds otherwise. */
export function ttlInterval(ttlMs: number): string {
  const seconds = Math.round(ttlMs / 1000);
  return seconds % 86_400 === 0 ? `toIntervalDay(${seconds / 86_400})` : `toIntervalSecond(${seconds})`;
}

/** Applies pending migrations; returns the versions applied in this call. */
export async function migrate(client: ClickHouseClient, opts: MigrateOptions): Promise<number[]> {
  const ctx = ddlContext(opts.database, opts.cluster);
  const db = opts.database;
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}${ctx.onCluster}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations${ctx.onCluster} (
      version UInt32, name String, applied_at DateTime64(3) DEFAULT now64(3)
    ) ENGINE = ${ctx.engine('ReplacingMergeTree', 'schema_migrations')} ORDER BY version`,
  });
  const rs = await client.query({ query: `SELECT DISTINCT version FROM ${db}.schema_migrations`, format: 'JSONEachRow' });
  const applied = new Set((await rs.json<{ version: number }>()).map((r) => Number(r.version)));
  const done: number[] = [];
  for (const m of opts.migrations ?? MIGRATIONS) {
    if (applied.has(m.version)) continue;
    for (const statement of m.up(ctx)) await client.command({ query: statement });
    await client.insert({ table: `${db}.schema_migrations`, values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' });
    done.push(m.version);
  }
  await applyTtl(client, opts, ctx);
  for (const view of rollupViews(ctx)) {
    await client.command({ query: opts.rollups === false ? `DROP VIEW IF EXISTS ${db}.${view.name}${ctx.onCluster}` : view.ddl });
  }
  return done;
}

/** Sets or removes each table's TTL when it differs from the config (no rewrite of existing parts). */
async function applyTtl(client: ClickHouseClient, opts: MigrateOptions, ctx: DdlContext): Promise<void> {
  const rs = await client.query({
    query: 'SELECT name, engine_full FROM system.tables WHERE database = {db:String}',
    query_params: { db: opts.database },
    format: 'JSONEachRow',
  });
  const engines = new Map((await rs.json<{ name: string; engine_full: string }>()).map((r) => [r.name, r.engine_full]));
  for (const { table, timeColumn } of TTL_TABLES) {
    const current = engines.get(table);
    if (current === undefined) continue;
    const wanted = opts.ttlMs > 0 ? ttlInterval(opts.ttlMs) : '';
    const hasTtl = / TTL /.test(current);
    if (wanted && current.includes(wanted)) continue;
    if (!wanted && !hasTtl) continue;
    const clause = wanted ? `MODIFY TTL ${timeColumn} + ${wanted}` : 'REMOVE TTL';
    await client.command({
      query: `ALTER TABLE ${opts.database}.${table}${ctx.onCluster} ${clause}`,
      clickhouse_settings: { materialize_ttl_after_modify: 0 },
    });
  }
}
