/**
 * Runs the schema migrations idempotently at start, then brings each table's TTL and fsync setting in line with
 * the config.
 * On a cluster, DDL runs `ON CLUSTER` with Replicated engines.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { rollupViewDdl, rollupViews } from './rollup.ts';
import { type DdlContext, type Migration, MIGRATIONS, TTL_TABLES } from './schema.ts';
import { sqlString } from './store.ts';

export interface MigrateOptions {
  database: string;
  cluster: string;
  /** Retention in milliseconds; 0 disables TTL. */
  ttlMs: number;
  /** Tenants with a retention of their own (`tenants[].retention`), in milliseconds; 0 keeps theirs forever. */
  tenantRetentionMs?: ReadonlyMap<string, number>;
  /** Keep the rollup's materialized views (default true); false drops them. */
  rollups?: boolean;
  /** fsync every part the ingest tables write (default false). */
  fsync?: boolean;
  /** Migrating the embedded store (default true); false skips its own tables (see DdlContext.embedded). */
  embedded?: boolean;
  migrations?: readonly Migration[];
}

export function ddlContext(database: string, cluster: string, embedded = !cluster): DdlContext {
  const onCluster = cluster ? ` ON CLUSTER ${cluster}` : '';
  return {
    db: database,
    onCluster,
    embedded,
    engine: (kind, table, args = '') =>
      cluster ? `Replicated${kind}('/clickhouse/tables/{shard}/${database}/${table}', '{replica}'${args ? `, ${args}` : ''})` : `${kind}(${args})`,
  };
}

/** The TTL clause for a retention period: whole days when possible, seconds otherwise. */
export function ttlInterval(ttlMs: number): string {
  const seconds = Math.round(ttlMs / 1000);
  return seconds % 86_400 === 0 ? `toIntervalDay(${seconds / 86_400})` : `toIntervalSecond(${seconds})`;
}

/** Applies pending migrations; returns the versions applied in this call. */
export async function migrate(client: ClickHouseClient, opts: MigrateOptions): Promise<number[]> {
  const ctx = ddlContext(opts.database, opts.cluster, opts.embedded ?? !opts.cluster);
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
  const engines = await tableEngines(client, db);
  await applyTtl(client, opts, ctx, engines);
  await applyFsync(client, opts, ctx, engines);
  await applyRollupViews(client, opts, ctx);
  return done;
}

/**
 * Creates or drops the rollup's views to match the config. When a view is missing (a fresh store, or rollups
 * turned on after running without them), `rollup_1m` is rebuilt from the stored events before the views are
 * created: views dropped, the table emptied, then filled day by day (bounded memory), views created last. A
 * crash part-way leaves a view missing, so the next start rebuilds again: never a row counted twice. Nothing
 * writes during start-up, so no event falls between the backfill and the views. On a cluster the views are only
 * created (a backfill there would need to run per shard).
 */
async function applyRollupViews(client: ClickHouseClient, opts: MigrateOptions, ctx: DdlContext): Promise<void> {
  const db = opts.database;
  const views = rollupViews(ctx.db);
  if (opts.rollups === false) {
    for (const view of views) await client.command({ query: `DROP VIEW IF EXISTS ${db}.${view.name}${ctx.onCluster}` });
    return;
  }
  const rs = await client.query({ query: 'SELECT name FROM system.tables WHERE database = {db:String}', query_params: { db }, format: 'JSONEachRow' });
  const existing = new Set((await rs.json<{ name: string }>()).map((r) => r.name));
  if (!opts.cluster && !views.every((v) => existing.has(v.name))) {
    for (const view of views) await client.command({ query: `DROP VIEW IF EXISTS ${db}.${view.name}` });
    await client.command({ query: `TRUNCATE TABLE ${db}.rollup_1m` });
    for (const view of views) {
      const days = await client.query({ query: `SELECT DISTINCT toDate(${view.sourceTime}) AS d FROM ${view.sourceTable} ORDER BY d`, format: 'JSONEachRow' });
      for (const { d } of await days.json<{ d: string }>()) {
        await client.command({
          query: `INSERT INTO ${db}.rollup_1m ${view.select(`toDate(${view.sourceTime}) = {day:Date}`)}`,
          query_params: { day: d },
        });
      }
    }
  }
  for (const view of views) await client.command({ query: rollupViewDdl(ctx.db, ctx.onCluster, view) });
}

/** Each table's `engine_full` (engine, keys, TTL and settings) by name. */
async function tableEngines(client: ClickHouseClient, database: string): Promise<Map<string, string>> {
  const rs = await client.query({
    query: 'SELECT name, engine_full FROM system.tables WHERE database = {db:String}',
    query_params: { db: database },
    format: 'JSONEachRow',
  });
  return new Map((await rs.json<{ name: string; engine_full: string }>()).map((r) => [r.name, r.engine_full]));
}

/** Where a "keep forever" tenant's rows expire when others' do not: 2100-01-01. */
const FOREVER = 4_102_444_800;

/**
 * The TTL expression of a table for the configured retentions, or '' for none. While every tenant keeps its data
 * as long as the default, it is `time + interval` and whole parts expire at once; when some tenant differs, one
 * per-row expression picks each row's retention by its tenant (`multiIf(TenantId = 'acme', time + interval, …,
 * default)`).
 */
export function ttlExpression(timeColumn: string, utc: boolean, ttlMs: number, tenants: ReadonlyMap<string, number> = new Map()): string {
  const until = (ms: number) => (ms > 0 ? `${timeColumn} + ${ttlInterval(ms)}` : `toDateTime(${FOREVER}${utc ? ", 'UTC'" : ''})`);
  const own = [...tenants].filter(([, ms]) => ms !== ttlMs);
  if (own.length === 0) return ttlMs > 0 ? until(ttlMs) : '';
  // Tenant ids are checked by the config schema (letters, digits, "_", "-", "."): a literal is safe here.
  return `multiIf(${own.map(([id, ms]) => `TenantId = ${sqlString(id)}, ${until(ms)}`).join(', ')}, ${until(ttlMs)})`;
}

/**
 * Sets or removes each table's TTL when it differs from the config. Existing parts are not rewritten: tables
 * recalculate only their TTL information for a new TTL (migration 11, `materialize_ttl_recalculate_only`, which
 * reads the time and tenant columns), and expired rows go at the next TTL merge. `ttl_only_drop_parts` stays on
 * while every tenant shares one retention (a part, which holds every tenant's rows of its day, expires whole);
 * with retentions of their own, TTL merges remove a shorter-lived tenant's rows from parts that stay.
 */
async function applyTtl(client: ClickHouseClient, opts: MigrateOptions, ctx: DdlContext, engines: Map<string, string>): Promise<void> {
  const uniform = [...(opts.tenantRetentionMs ?? new Map<string, number>()).values()].every((ms) => ms === opts.ttlMs);
  for (const { table, timeColumn, utc, dropsParts } of TTL_TABLES) {
    const current = engines.get(table);
    if (current === undefined) continue;
    const at = `ALTER TABLE ${opts.database}.${table}${ctx.onCluster}`;
    const wanted = ttlExpression(timeColumn, utc, opts.ttlMs, opts.tenantRetentionMs);
    const currentTtl = / TTL (.+?)(?: SETTINGS |$)/.exec(current)?.[1] ?? '';
    if (wanted !== currentTtl) {
      await client.command({
        query: `${at} ${wanted ? `MODIFY TTL ${wanted}` : 'REMOVE TTL'}`,
        clickhouse_settings: { materialize_ttl_after_modify: /\bmaterialize_ttl_recalculate_only = 1\b/.test(current) ? 1 : 0 },
      });
    }
    const dropParts = dropsParts && uniform;
    if (/\bttl_only_drop_parts = 1\b/.test(current) !== dropParts)
      await client.command({ query: `${at} MODIFY SETTING ttl_only_drop_parts = ${dropParts ? 1 : 0}` });
  }
}

/**
 * Turns fsync of new parts on or off on every table ingest writes (views' tables included, so a rollup survives
 * power loss with its events). They are MergeTree settings, not INSERT settings, so they live on the tables.
 */
async function applyFsync(client: ClickHouseClient, opts: MigrateOptions, ctx: DdlContext, engines: Map<string, string>): Promise<void> {
  for (const { table } of TTL_TABLES) {
    const current = engines.get(table);
    if (current === undefined || /\bfsync_after_insert = 1\b/.test(current) === Boolean(opts.fsync)) continue;
    const clause = opts.fsync ? 'MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1' : 'RESET SETTING fsync_after_insert, fsync_part_directory';
    await client.command({ query: `ALTER TABLE ${opts.database}.${table}${ctx.onCluster} ${clause}` });
  }
}
