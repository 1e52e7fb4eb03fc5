import { beforeAll, describe, expect, it } from 'vitest';
import { useTempStore } from '../test/helpers/store.ts';
import { ddlContext, migrate, ttlInterval } from './migrate.ts';
import { LANDING_SLOTS, landingSlotTable, logLandingSlotTable, MIGRATIONS, TTL_TABLES } from './schema.ts';
import { METRICS_BY_NAME } from '../query/catalog.ts';
import { params, rollupSummarySql, rollupTimeseriesSql, summarySql } from '../query/sql.ts';
import type { Store } from './store.ts';

const temp = useTempStore({ prefix: 'migrate' });
let store: Store;
beforeAll(() => {
  store = temp.store;
});

async function rows<T>(query: string): Promise<T[]> {
  return (await store.client.query({ query, format: 'JSONEachRow' })).json<T>();
}
const DAY = 86_400_000;
/** A query with its `{name:Type}` parameters written in, for EXPLAIN and plain reads. */
function bound(sql: string, values: Record<string, unknown>): string {
  return sql.replace(/\{(\w+):(\w+)\}/g, (_, name: string, type: string) => (type === 'String' ? `'${String(values[name])}'` : String(values[name])));
}
const engineOf = async (table: string) =>
  (await rows<{ e: string }>(`SELECT engine_full AS e FROM system.tables WHERE database = 'signalhouse' AND name = '${table}'`))[0].e;

describe('migrations', () => {
  it('creates the schema once and is idempotent', async () => {
    expect(await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 90 * DAY })).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 90 * DAY })).toEqual([]);
    const applied = await rows<{ version: number; n: string }>(
      'SELECT version, count() AS n FROM signalhouse.schema_migrations GROUP BY version ORDER BY version',
    );
    expect(applied.map((r) => [r.version, Number(r.n)])).toEqual(MIGRATIONS.map((m) => [m.version, 1]));
  });

  it("keeps deduplication windows on the views' tables and merges idle day partitions of the event tables", async () => {
    for (const table of ['rollup_1m', 'otel_traces_trace_id_ts', 'landing'])
      expect(await engineOf(table)).toContain('non_replicated_deduplication_window = 1000');
    for (const table of ['otel_logs', 'otel_traces']) {
      expect(await engineOf(table)).toContain('min_age_to_force_merge_seconds = 3600');
      expect(await engineOf(table)).toContain('min_age_to_force_merge_on_partition_only = 1');
    }
  });

  it('creates the landing slots as File tables (migration 10), after the Log tables of migration 9', async () => {
    for (let slot = 0; slot < LANDING_SLOTS; slot++) {
      expect(await engineOf(landingSlotTable(slot))).toBe("File('TabSeparated')");
      expect(await engineOf(logLandingSlotTable(slot))).toBe('Log');
    }
    for (const table of [landingSlotTable(0), logLandingSlotTable(0)]) {
      const columns = await rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = 'signalhouse' AND table = '${table}' ORDER BY position`);
      expect(columns.map((c) => c.name)).toEqual(['Generation', 'Stage', 'TargetTable', 'Block']);
    }
  });

  it("creates no landing slots on a server (they are the embedded store's own)", async () => {
    const db = 'on_server';
    expect(await migrate(store.client, { database: db, cluster: '', ttlMs: 0, embedded: false })).toEqual(MIGRATIONS.map((m) => m.version));
    const tables = await rows<{ name: string; engine: string }>(
      `SELECT name, engine FROM system.tables WHERE database = '${db}' AND engine IN ('Log', 'File')`,
    );
    expect(tables).toEqual([]);
    expect(await rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${db}' AND name = 'otel_logs'`)).toEqual([{ name: 'otel_logs' }]);
    await store.client.command({ query: `DROP DATABASE ${db}` });
  });

  it("keeps the Collector exporter's column names and types, plus Signalhouse's own", async () => {
    const cols = await rows<{ table: string; name: string; type: string }>(
      "SELECT table, name, type FROM system.columns WHERE database = 'signalhouse' AND table IN ('otel_logs', 'otel_traces') ORDER BY table, position",
    );
    const typeOf = (table: string, name: string) => cols.find((c) => c.table === table && c.name === name)?.type;
    const attrMap = 'Map(LowCardinality(String), String)';
    const expected: Array<[string, string, string]> = [
      ['otel_logs', 'Timestamp', 'DateTime64(9)'],
      ['otel_logs', 'TimestampTime', 'DateTime'],
      ['otel_logs', 'TraceId', 'String'],
      ['otel_logs', 'SpanId', 'String'],
      ['otel_logs', 'TraceFlags', 'UInt8'],
      ['otel_logs', 'SeverityText', 'LowCardinality(String)'],
      ['otel_logs', 'SeverityNumber', 'UInt8'],
      ['otel_logs', 'ServiceName', 'LowCardinality(String)'],
      ['otel_logs', 'Body', 'String'],
      ['otel_logs', 'ResourceSchemaUrl', 'LowCardinality(String)'],
      ['otel_logs', 'ResourceAttributes', attrMap],
      ['otel_logs', 'ScopeSchemaUrl', 'LowCardinality(String)'],
      ['otel_logs', 'ScopeName', 'String'],
      ['otel_logs', 'ScopeVersion', 'LowCardinality(String)'],
      ['otel_logs', 'ScopeAttributes', attrMap],
      ['otel_logs', 'LogAttributes', attrMap],
      ['otel_logs', 'EventName', 'String'],
      ['otel_traces', 'Timestamp', 'DateTime64(9)'],
      ['otel_traces', 'TraceId', 'String'],
      ['otel_traces', 'SpanId', 'String'],
      ['otel_traces', 'ParentSpanId', 'String'],
      ['otel_traces', 'TraceState', 'String'],
      ['otel_traces', 'SpanName', 'LowCardinality(String)'],
      ['otel_traces', 'SpanKind', 'LowCardinality(String)'],
      ['otel_traces', 'ServiceName', 'LowCardinality(String)'],
      ['otel_traces', 'ResourceAttributes', attrMap],
      ['otel_traces', 'ScopeName', 'String'],
      ['otel_traces', 'ScopeVersion', 'String'],
      ['otel_traces', 'SpanAttributes', attrMap],
      ['otel_traces', 'Duration', 'UInt64'],
      ['otel_traces', 'StatusCode', 'LowCardinality(String)'],
      ['otel_traces', 'StatusMessage', 'String'],
      ['otel_traces', 'Events.Timestamp', 'Array(DateTime64(9))'],
      ['otel_traces', 'Events.Name', 'Array(LowCardinality(String))'],
      ['otel_traces', 'Events.Attributes', `Array(${attrMap})`],
      ['otel_traces', 'Links.TraceId', 'Array(String)'],
      ['otel_traces', 'Links.SpanId', 'Array(String)'],
      ['otel_traces', 'Links.TraceState', 'Array(String)'],
      ['otel_traces', 'Links.Attributes', `Array(${attrMap})`],
    ];
    for (const [table, name, type] of expected) expect(typeOf(table, name), `${table}.${name}`).toBe(type);
    for (const table of ['otel_logs', 'otel_traces']) {
      for (const name of ['TenantId', 'EventId', 'SessionId', 'UserId', 'AnonymousId']) expect(typeOf(table, name), `${table}.${name}`).toBeDefined();
    }
    // v4: otel_logs compresses with LZ4 (timestamps delta-encoded first); nothing is left on ZSTD.
    const codecs = await rows<{ name: string; codec: string }>(
      "SELECT name, compression_codec AS codec FROM system.columns WHERE database = 'signalhouse' AND table = 'otel_logs'",
    );
    expect(codecs.filter((c) => c.codec.includes('ZSTD'))).toEqual([]);
    expect(codecs.find((c) => c.name === 'Timestamp')?.codec).toBe('CODEC(Delta(8), LZ4)');
    expect(codecs.find((c) => c.name === 'LogAttributes')?.codec).toBe('CODEC(LZ4)');
    const sortingKey = await rows<{ k: string }>("SELECT sorting_key AS k FROM system.tables WHERE database = 'signalhouse' AND name = 'otel_logs'");
    expect(sortingKey[0].k.startsWith('TenantId')).toBe(true);
  });

  it('applies the configured TTL and changes it without rewriting data', async () => {
    expect(await engineOf('otel_logs')).toContain('TTL TimestampTime + toIntervalDay(90)');
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 30 * DAY });
    expect(await engineOf('otel_logs')).toContain('TTL TimestampTime + toIntervalDay(30)');
    expect(await engineOf('otel_traces')).toContain('toIntervalDay(30)');
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 36 * 3_600_000 });
    expect(await engineOf('otel_logs')).toContain('toIntervalSecond(129600)');
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0 });
    expect(await engineOf('otel_logs')).not.toContain(' TTL ');
  });

  it('sets fsync of new parts on every table ingest writes, and removes it again', async () => {
    const tables = TTL_TABLES.map((t) => t.table);
    const fsyncing = async () => Promise.all(tables.map(async (t) => /fsync_after_insert = 1, fsync_part_directory = 1/.test(await engineOf(t))));
    expect(await fsyncing()).toEqual(tables.map(() => false));
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0, fsync: true });
    expect(await fsyncing()).toEqual(tables.map(() => true));
    await store.client.insert({ table: 'signalhouse.otel_logs', values: [{ TenantId: 'fsync', Body: 'fsynced part' }], format: 'JSONEachRow' });
    expect(await rows(`SELECT Body FROM signalhouse.otel_logs WHERE TenantId = 'fsync'`)).toEqual([{ Body: 'fsynced part' }]);
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0 });
    expect(await fsyncing()).toEqual(tables.map(() => false));
  });

  it('applies a new migration to an existing schema, keeping existing rows', async () => {
    await store.client.command({ query: "INSERT INTO signalhouse.otel_logs (TenantId, EventName, Timestamp) VALUES ('acme', 'before.v2', now64(9))" });
    const v3 = { version: 99, name: 'test column', up: () => ["ALTER TABLE signalhouse.otel_logs ADD COLUMN IF NOT EXISTS TestCol String DEFAULT 'x'"] };
    expect(await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0, migrations: [...MIGRATIONS, v3] })).toEqual([99]);
    expect(await rows<{ TestCol: string }>("SELECT TestCol FROM signalhouse.otel_logs WHERE EventName = 'before.v2'")).toEqual([{ TestCol: 'x' }]);
  });

  it('creates or drops the rollup views to match the config', async () => {
    const views = async () =>
      (await rows<{ name: string }>("SELECT name FROM system.tables WHERE database = 'signalhouse' AND name LIKE 'rollup_1m_%mv' ORDER BY name")).map(
        (r) => r.name,
      );
    expect(await views()).toEqual(['rollup_1m_logs_mv', 'rollup_1m_spans_mv']);
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0, rollups: false });
    expect(await views()).toEqual([]);
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0, rollups: true });
    expect(await views()).toEqual(['rollup_1m_logs_mv', 'rollup_1m_spans_mv']);
  });

  it('rebuilds the rollup from stored events when rollups are turned on later, once', async () => {
    const events = async () => Number((await rows<{ n: string }>("SELECT sum(Events) AS n FROM signalhouse.rollup_1m WHERE TenantId = 'backfill'"))[0].n);
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0, rollups: false });
    // Events over three days written while the views are off (sessions repeat across minutes and days).
    await store.client.command({
      query: `INSERT INTO signalhouse.otel_logs (TenantId, EventId, EventName, Timestamp, SessionId, LogAttributes)
        SELECT 'backfill', toString(number), 'ai.tool_call_completed', now64(9) - toIntervalMinute(number * 7), concat('s', toString(number % 5)),
          map('ai.tool.success', if(number % 4 = 0, 'false', 'true'), 'site.id', 'web')
        FROM numbers(600)`,
    });
    expect(await events()).toBe(0);
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0, rollups: true });
    expect(await events()).toBe(600);
    const ok = await rows<{ ok: string; sessions: string }>(
      "SELECT sum(Ok) AS ok, uniqExactMerge(Sessions) AS sessions FROM signalhouse.rollup_1m WHERE TenantId = 'backfill'",
    );
    expect(ok.map((r) => [Number(r.ok), Number(r.sessions)])).toEqual([[450, 5]]);
    // Starting again with the views in place neither rebuilds nor double-counts; new events flow through the views.
    await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0, rollups: true });
    await store.client.command({
      query: "INSERT INTO signalhouse.otel_logs (TenantId, EventId, EventName, Timestamp) VALUES ('backfill', 'late', 'ai.tool_call_completed', now64(9))",
    });
    expect(await events()).toBe(601);
  });

  it('rebuilds an existing rollup with its hourly level: same answers before and after, whole hours read from it', async () => {
    const db = 'pre_hourly';
    const opts = { database: db, cluster: '', ttlMs: 0 };
    await migrate(store.client, { ...opts, migrations: MIGRATIONS.filter((m) => m.version < 5) });
    // Three hours and a half of latencies, written before the projection exists.
    const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 5 * 3_600_000;
    await store.client.command({
      query: `INSERT INTO ${db}.otel_logs (TenantId, EventId, EventName, Timestamp, LogAttributes)
        SELECT 'hourly', toString(number), 'voice.first_response', fromUnixTimestamp64Milli(toInt64(${base} + number * 6000)),
          map('voice.first_response_ms', toString(100 + number % 900))
        FROM numbers(2100)`,
    });
    const metric = METRICS_BY_NAME.get('voice.first_response_ms.p95')!;
    const count = METRICS_BY_NAME.get('voice.barge_in_count')!;
    // From 25 minutes past the first hour to 40 past the fourth: minutes, three whole hours, minutes.
    const q = { tenantId: 'hourly', fromMs: base + 25 * 60_000, toMs: base + 3 * 3_600_000 + 40 * 60_000, grainSeconds: 3600 };
    // Before the migration, read minutes only (what the query layer did then); after it, the hourly split.
    const minutesOnly = (p: Record<string, unknown>) => ({ ...p, h1: p.m1, h2: p.m1 });
    const answer = async (levels: (p: Record<string, unknown>) => Record<string, unknown>) => ({
      summary: await rows<{ value: number }>(bound(rollupSummarySql(db, metric, false), levels(params({ ...q, grainSeconds: undefined })))),
      series: await rows<{ bucket: string; value: number }>(bound(rollupTimeseriesSql(db, metric, false), levels(params(q)))),
      raw: await rows<{ value: number }>(bound(summarySql(db, metric, false), params(q))),
    });
    const before = await answer(minutesOnly);
    expect(before.series).toHaveLength(4);
    expect(Math.abs(before.summary[0].value - before.raw[0].value) / before.raw[0].value).toBeLessThanOrEqual(0.01);

    expect(await migrate(store.client, opts)).toEqual(MIGRATIONS.filter((m) => m.version >= 5).map((m) => m.version));
    expect(await answer((p) => p)).toEqual(before);
    const plan = (await rows<{ explain: string }>(`EXPLAIN projections = 1 ${bound(rollupTimeseriesSql(db, metric, false), params(q))}`))
      .map((r) => r.explain)
      .join('\n');
    expect(plan).toContain('ReadFromMergeTree (hourly)');
    // Counts stay exact across the levels, for any split of the range.
    const events = async (fromMin: number, toMin: number) =>
      Number(
        (
          await rows<{ value: string }>(
            bound(
              rollupSummarySql(db, { ...count, rollup: { ...count.rollup, events: ['voice.first_response'] } }, false),
              params({ tenantId: 'hourly', fromMs: base + fromMin * 60_000, toMs: base + toMin * 60_000 }),
            ),
          )
        )[0].value,
      );
    expect(await events(0, 210)).toBe(2100);
    expect(await events(25, 220)).toBe(2100 - 250);
    expect(await events(61, 119)).toBe(580);
    await store.client.command({ query: `DROP DATABASE ${db}` });
  });

  it('writes cluster DDL with ON CLUSTER and Replicated engines', () => {
    const ctx = ddlContext('signalhouse', 'main');
    const ddl = MIGRATIONS[0].up(ctx).join('\n');
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS signalhouse.otel_logs ON CLUSTER main');
    expect(ddl).toContain("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/signalhouse/otel_logs', '{replica}')");
    expect(MIGRATIONS[0].up(ddlContext('signalhouse', '')).join('\n')).not.toContain('ON CLUSTER');
    // The landing slots are the embedded store's own (Log and File engines, which managed servers do not offer).
    expect(MIGRATIONS.filter((m) => m.version === 9 || m.version === 10).map((m) => m.up(ctx))).toEqual([[], []]);
    expect(ttlInterval(7 * DAY)).toBe('toIntervalDay(7)');
  });
});
