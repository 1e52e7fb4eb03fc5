/**
 * Versioned schema migrations. Tables keep the column names and types of the OpenTelemetry Collector's
 * ClickHouse exporter (so Grafana's ClickHouse data source and Collector-written data work unchanged), with
 * Signalhouse's own columns beside them. Each migration's statements are idempotent (`IF NOT EXISTS`), so a
 * crash between a statement and its bookkeeping row is harmless; applied versions are recorded in
 * `schema_migrations`. Add a migration by appending an entry; never edit one that has shipped.
 */
import { attributeColumnsDdl } from './attribute-columns.ts';
import { dataKeysDdl } from './data-keys.ts';
import { experimentVersionsDdl } from './experiments.ts';
import { flagVersionsDdl } from './flags.ts';
import { auditDdl, privacyJobsDdl } from './governance.ts';
import { ROLLUP_HOURLY_KEYS, ROLLUP_MERGES, rollupColumnsDdl, rollupViews } from './rollup.ts';

export interface DdlContext {
  readonly db: string;
  /** ' ON CLUSTER name' or ''. */
  readonly onCluster: string;
  /** Engine clause for a table: MergeTree, or ReplicatedMergeTree on a cluster; `args` are the engine's own. */
  engine(kind: 'MergeTree' | 'AggregatingMergeTree' | 'ReplacingMergeTree', table: string, args?: string): string;
  /**
   * The embedded store (chDB). Tables only it uses (the landing slots) are created only there: managed servers
   * (ClickHouse Cloud, Aiven) offer neither the Log nor the File engine, and a server never lands rows.
   */
  readonly embedded: boolean;
}

export interface Migration {
  readonly version: number;
  readonly name: string;
  up(ctx: DdlContext): string[];
}

/**
 * Settings of the ingest tables. `non_replicated_deduplication_window` makes `insert_deduplication_token` work
 * on non-replicated tables, so a retried INSERT is stored once. `merge_selector_base = 20` (default 5) lets
 * ClickHouse merge wider and less often: with the many small parts that acknowledged-after-commit ingest makes,
 * it cut background merge CPU by more than half in `bench:ingest`, for a few more parts per partition.
 */
const DEDUP_SETTINGS = 'non_replicated_deduplication_window = 1000, merge_selector_base = 20';

/** Where small INSERTs committed before migration 9 (landing.ts still moves what a previous version left there). */
export const LANDING_TABLE = 'landing';
/**
 * The landing slots (migration 10): File tables small INSERTs append to, one generation per slot at a time,
 * emptied by TRUNCATE once it has moved on (landing.ts). Migration 9 made them Log tables (`landing_<n>`); what a
 * previous version left there is moved at start too.
 */
export const LANDING_SLOTS = 8;
export const landingSlotTable = (slot: number) => `landing_file_${slot}`;
/** The Log slots of migration 9. */
export const logLandingSlotTable = (slot: number) => `landing_${slot}`;
const LANDING_COLUMNS_DDL = '(Generation String, Stage String, TargetTable String, Block String)';

/** Tables whose idle partitions are merged into one part (migration 8), and the settings that do it. */
export const FORCE_MERGE_TABLES = ['otel_logs', 'otel_traces'] as const;
export const FORCE_MERGE_SETTINGS = 'min_age_to_force_merge_seconds = 3600, min_age_to_force_merge_on_partition_only = 1';

const IDENTIFY_EVENTS = "('identify', '$identify')";
const IDENTITY_EVENTS = "('identify', '$identify', 'alias', '$create_alias')";

/**
 * otel_logs columns that v1 compressed with ZSTD(1), with their types. v4 moves them to LZ4 (ClickHouse's own
 * default): in `bench:ingest` it took ~2 µs of ClickHouse CPU off every event (compression at insert and again at
 * every merge), for ~25% more bytes on disk. Operators who prefer size can ALTER the codecs back; nothing depends
 * on them.
 */
const LOG_CODEC_COLUMNS: ReadonlyArray<[name: string, type: string, codec: string]> = [
  ['Timestamp', 'DateTime64(9)', 'Delta(8), LZ4'],
  ['ObservedTimestamp', 'DateTime64(9)', 'Delta(8), LZ4'],
  ['TraceId', 'String', 'LZ4'],
  ['SpanId', 'String', 'LZ4'],
  ['SeverityText', 'LowCardinality(String)', 'LZ4'],
  ['ServiceName', 'LowCardinality(String)', 'LZ4'],
  ['Body', 'String', 'LZ4'],
  ['ResourceSchemaUrl', 'LowCardinality(String)', 'LZ4'],
  ['ResourceAttributes', 'Map(LowCardinality(String), String)', 'LZ4'],
  ['ScopeSchemaUrl', 'LowCardinality(String)', 'LZ4'],
  ['ScopeName', 'String', 'LZ4'],
  ['ScopeVersion', 'LowCardinality(String)', 'LZ4'],
  ['ScopeAttributes', 'Map(LowCardinality(String), String)', 'LZ4'],
  ['LogAttributes', 'Map(LowCardinality(String), String)', 'LZ4'],
  ['EventName', 'String', 'LZ4'],
  ['EventId', 'String', 'LZ4'],
  ['SessionId', 'String', 'LZ4'],
  ['UserId', 'String', 'LZ4'],
  ['AnonymousId', 'String', 'LZ4'],
];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'otel_logs and otel_traces',
    up: ({ db, onCluster, engine }) => [
      `CREATE TABLE IF NOT EXISTS ${db}.otel_logs${onCluster} (
        Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
        TimestampTime DateTime DEFAULT toDateTime(Timestamp),
        TraceId String CODEC(ZSTD(1)),
        SpanId String CODEC(ZSTD(1)),
        TraceFlags UInt8,
        SeverityText LowCardinality(String) CODEC(ZSTD(1)),
        SeverityNumber UInt8,
        ServiceName LowCardinality(String) CODEC(ZSTD(1)),
        Body String CODEC(ZSTD(1)),
        ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
        ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
        ScopeName String CODEC(ZSTD(1)),
        ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
        ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        EventName String CODEC(ZSTD(1)),
        TenantId LowCardinality(String),
        EventId String CODEC(ZSTD(1)),
        SessionId String CODEC(ZSTD(1)),
        UserId String CODEC(ZSTD(1)),
        AnonymousId String CODEC(ZSTD(1)),
        ObservedTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
        SiteId LowCardinality(String) MATERIALIZED LogAttributes['site.id'],
        INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
        INDEX idx_event_id EventId TYPE bloom_filter(0.001) GRANULARITY 1,
        INDEX idx_user_id UserId TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1
      ) ENGINE = ${engine('MergeTree', 'otel_logs')}
      PARTITION BY toDate(TimestampTime)
      PRIMARY KEY (TenantId, EventName, TimestampTime)
      ORDER BY (TenantId, EventName, TimestampTime, Timestamp)
      SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, ${DEDUP_SETTINGS}`,
      `CREATE TABLE IF NOT EXISTS ${db}.otel_traces${onCluster} (
        Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
        TraceId String CODEC(ZSTD(1)),
        SpanId String CODEC(ZSTD(1)),
        ParentSpanId String CODEC(ZSTD(1)),
        TraceState String CODEC(ZSTD(1)),
        SpanName LowCardinality(String) CODEC(ZSTD(1)),
        SpanKind LowCardinality(String) CODEC(ZSTD(1)),
        ServiceName LowCardinality(String) CODEC(ZSTD(1)),
        ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        ScopeName String CODEC(ZSTD(1)),
        ScopeVersion String CODEC(ZSTD(1)),
        SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        Duration UInt64 CODEC(ZSTD(1)),
        StatusCode LowCardinality(String) CODEC(ZSTD(1)),
        StatusMessage String CODEC(ZSTD(1)),
        Events Nested (
          Timestamp DateTime64(9),
          Name LowCardinality(String),
          Attributes Map(LowCardinality(String), String)
        ) CODEC(ZSTD(1)),
        Links Nested (
          TraceId String,
          SpanId String,
          TraceState String,
          Attributes Map(LowCardinality(String), String)
        ) CODEC(ZSTD(1)),
        TenantId LowCardinality(String),
        EventId String CODEC(ZSTD(1)),
        SessionId String CODEC(ZSTD(1)),
        UserId String CODEC(ZSTD(1)),
        AnonymousId String CODEC(ZSTD(1)),
        INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
        INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_duration Duration TYPE minmax GRANULARITY 1
      ) ENGINE = ${engine('MergeTree', 'otel_traces')}
      PARTITION BY toDate(Timestamp)
      ORDER BY (TenantId, ServiceName, SpanName, toDateTime(Timestamp))
      SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, ${DEDUP_SETTINGS}`,
      // Trace-id → time range lookup, as the Collector exporter creates it (Grafana uses it to bound trace queries).
      `CREATE TABLE IF NOT EXISTS ${db}.otel_traces_trace_id_ts${onCluster} (
        TenantId LowCardinality(String),
        TraceId String CODEC(ZSTD(1)),
        Start DateTime CODEC(Delta, ZSTD(1)),
        End DateTime CODEC(Delta, ZSTD(1)),
        INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
      ) ENGINE = ${engine('MergeTree', 'otel_traces_trace_id_ts')}
      PARTITION BY toDate(Start)
      ORDER BY (TraceId, Start)
      SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_traces_trace_id_ts_mv${onCluster}
      TO ${db}.otel_traces_trace_id_ts AS
      SELECT TenantId, TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
      FROM ${db}.otel_traces
      WHERE TraceId != ''
      GROUP BY TenantId, TraceId`,
    ],
  },
  {
    version: 2,
    name: 'identity views',
    // Views over otel_logs, not materialized views: identify and alias calls are few and `EventName` is in the
    // sorting key, so reading them is cheap, while every materialized view on otel_logs would add ~4 ms to
    // every INSERT (measured with bench:insert). Being the events themselves, they are exactly as durable.
    up: ({ db, onCluster }) => [
      // One row per identified user: first and last identify call, and how many.
      `CREATE VIEW IF NOT EXISTS ${db}.identities${onCluster} AS
      SELECT TenantId, UserId, min(Timestamp) AS FirstSeen, max(Timestamp) AS LastSeen, count() AS IdentifyCalls
      FROM ${db}.otel_logs
      WHERE EventName IN ${IDENTIFY_EVENTS} AND UserId != ''
      GROUP BY TenantId, UserId`,
      // Traits from identify calls, merged per key: the latest value of each trait wins.
      `CREATE VIEW IF NOT EXISTS ${db}.identity_traits${onCluster} AS
      SELECT TenantId, UserId, substring(kv.1, 8) AS Key, argMax(kv.2, Timestamp) AS Value, max(Timestamp) AS UpdatedAt
      FROM ${db}.otel_logs
      ARRAY JOIN arrayFilter(x -> startsWith(x.1, 'traits.'), arrayZip(mapKeys(LogAttributes), mapValues(LogAttributes))) AS kv
      WHERE EventName IN ${IDENTIFY_EVENTS} AND UserId != ''
      GROUP BY TenantId, UserId, Key`,
      // Anonymous id → user id, from identify calls that carry both and from alias calls (previous id → user);
      // the latest link wins.
      `CREATE VIEW IF NOT EXISTS ${db}.identity_links${onCluster} AS
      SELECT TenantId, AnonymousId, argMax(UserId, At) AS UserId, max(At) AS LinkedAt
      FROM (
        SELECT TenantId, if(AnonymousId != '', AnonymousId, LogAttributes['alias.previous_id']) AS AnonymousId, UserId, Timestamp AS At
        FROM ${db}.otel_logs
        WHERE EventName IN ${IDENTITY_EVENTS} AND UserId != ''
      )
      WHERE AnonymousId != ''
      GROUP BY TenantId, AnonymousId`,
    ],
  },
  {
    version: 3,
    name: 'per-minute rollup of the catalog metrics',
    up: ({ db, onCluster, engine }) => [
      `CREATE TABLE IF NOT EXISTS ${db}.rollup_1m${onCluster} (${rollupColumnsDdl('DateTime')}) ENGINE = ${engine('AggregatingMergeTree', 'rollup_1m')}
      PARTITION BY toYYYYMM(Minute)
      ORDER BY (TenantId, EventName, Minute, SiteId)`,
    ],
  },
  {
    version: 4,
    name: 'otel_logs codecs: LZ4',
    // A codec change is metadata only: existing parts keep their codec until merged.
    up: ({ db, onCluster }) => [
      `ALTER TABLE ${db}.otel_logs${onCluster} ${LOG_CODEC_COLUMNS.map(([n, t, c]) => `MODIFY COLUMN ${n} ${t} CODEC(${c})`).join(', ')}`,
    ],
  },
  {
    version: 5,
    name: 'rollup_1m rebuilt: an hourly projection, 1,024-row granules, minutes in UTC',
    // The hourly level: a 90-day quantile merges ~400k per-minute sketches but only ~6k hourly ones. A projection
    // stays exact through late events, merges and TTL with no second view on the insert path (+1.8 ms per idle
    // INSERT, 6–9 ms under load; a chained view cost +3.5 ms idle). An AggregatingMergeTree keeps a projection
    // only if merges rebuild it. Small granules, in the table and the projection: every row read deserializes
    // its sketches, and a day's edges and hours are a few hundred rows (one day's quantile at 100M events, on a
    // copy of the same rollup: 58 → 25 ms). Granularity cannot be altered, so the table is created again; with
    // its views gone, the next start refills it from the stored events (`applyRollupViews`; on a cluster that
    // refill is not automatic).
    up: (ctx) => [
      ...rollupViews(ctx.db).map((v) => `DROP VIEW IF EXISTS ${ctx.db}.${v.name}${ctx.onCluster}`),
      `DROP TABLE IF EXISTS ${ctx.db}.rollup_1m${ctx.onCluster} SYNC`,
      `CREATE TABLE ${ctx.db}.rollup_1m${ctx.onCluster} (${rollupColumnsDdl("DateTime('UTC')")},
        PROJECTION hourly (SELECT ${ROLLUP_HOURLY_KEYS}, ${Object.values(ROLLUP_MERGES).join(', ')} GROUP BY ${ROLLUP_HOURLY_KEYS})
          WITH SETTINGS (index_granularity = 1024)
      ) ENGINE = ${ctx.engine('AggregatingMergeTree', 'rollup_1m')}
      PARTITION BY toYYYYMM(Minute)
      ORDER BY (TenantId, EventName, Minute, SiteId)
      SETTINGS index_granularity = 1024, deduplicate_merge_projection_mode = 'rebuild'`,
    ],
  },
  {
    version: 6,
    name: 'landing table for small INSERTs',
    // Each row is one INSERT's Native block for `TargetTable`; a generation (partition) moves on in one INSERT
    // and is then dropped (landing.ts). Three plain columns and no views: a one-row INSERT here costs ~2 ms
    // against ~16 ms into otel_logs with its rollup view. Dropped parts are deleted after 30 s instead of 8
    // minutes: under load this table writes ~100 parts a second, and none of them is ever merged.
    up: ({ db, onCluster, engine }) => [
      `CREATE TABLE IF NOT EXISTS ${db}.${LANDING_TABLE}${onCluster} (
        Generation String,
        TargetTable LowCardinality(String),
        Block String
      ) ENGINE = ${engine('MergeTree', LANDING_TABLE)}
      PARTITION BY Generation
      ORDER BY tuple()
      SETTINGS non_replicated_deduplication_window = 1000, old_parts_lifetime = 30`,
    ],
  },
  {
    version: 7,
    name: 'views deduplicate retried INSERTs',
    // A retried INSERT (same token) is skipped by otel_logs, but its views still wrote their rows again unless
    // their own tables keep a deduplication window: the rollup counted such events twice.
    up: ({ db, onCluster }) => [
      `ALTER TABLE ${db}.rollup_1m${onCluster} MODIFY SETTING non_replicated_deduplication_window = 1000`,
      `ALTER TABLE ${db}.otel_traces_trace_id_ts${onCluster} MODIFY SETTING non_replicated_deduplication_window = 1000`,
    ],
  },
  {
    version: 8,
    name: 'idle day partitions merged into one part',
    // Acknowledged-after-commit ingest writes many small parts, and merges (with merge_selector_base = 20) leave
    // a day with ~10–20 of them; every part a query touches costs it a fixed overhead. An hour after a day's
    // partition last changed, ClickHouse now merges it into one part: at 10M events a 30-day funnel went 550 →
    // 340 ms and reading the 30 days' step events 131 → 38 ms. Today's partition, still written to, merges as
    // before.
    up: ({ db, onCluster }) => FORCE_MERGE_TABLES.map((table) => `ALTER TABLE ${db}.${table}${onCluster} MODIFY SETTING ${FORCE_MERGE_SETTINGS}`),
  },
  {
    version: 9,
    name: 'landing slots in Log tables',
    // Every MergeTree part is a directory of ~11 files: a landing INSERT cost ~3.5 ms of CPU, and dropping a
    // generation's partition ~3 ms more per part (file removal; superlinear, 80 parts took 260 ms). A Log table
    // appends to one file per column: ~1.9 ms per INSERT, and TRUNCATE empties a slot in ~1 ms whatever it
    // holds. Log tables keep what was appended before a kill -9 (sizes.json), which is all the landing needs.
    // They do not deduplicate: `Stage` names each block, and a move reads each stage once.
    up: ({ db, embedded }) =>
      embedded
        ? Array.from(
            { length: LANDING_SLOTS },
            (_, slot) => `CREATE TABLE IF NOT EXISTS ${db}.${logLandingSlotTable(slot)} ${LANDING_COLUMNS_DDL} ENGINE = Log`,
          )
        : [],
  },
  {
    version: 10,
    name: 'landing slots in File tables',
    // A Log table's INSERT rewrites and fdatasyncs its sizes.json twice (~0.3 ms each here): ~1.65 ms of wall
    // time per landing INSERT against ~1.0 ms for a File table, which only appends its rows to one file. At
    // 1,000 single-event requests/s that cut p50 5.2 → 3.4 ms and p99 16 → 12 ms (bench:ingest). A kill -9 keeps
    // what was appended; a row cut short by it has no line end yet, and recovery cuts it off (landing.ts).
    up: ({ db, embedded }) =>
      embedded
        ? Array.from(
            { length: LANDING_SLOTS },
            (_, slot) => `CREATE TABLE IF NOT EXISTS ${db}.${landingSlotTable(slot)} ${LANDING_COLUMNS_DDL} ENGINE = File(TabSeparated)`,
          )
        : [],
  },
  {
    version: 11,
    name: 'TTL changes recalculate TTL information only',
    // A changed retention then re-reads the TTL's columns (time, tenant) of existing parts instead of rewriting
    // them; expired rows go at the next TTL merge or part drop (migrate.ts, applyTtl).
    up: ({ db, onCluster }) => TTL_TABLES.map(({ table }) => `ALTER TABLE ${db}.${table}${onCluster} MODIFY SETTING materialize_ttl_recalculate_only = 1`),
  },
  {
    version: 12,
    name: 'privacy jobs',
    // Erasure jobs survive a restart: the job's row says where it was, and the next start resumes it.
    up: (ctx) => privacyJobsDdl(ctx),
  },
  {
    version: 13,
    name: 'audit log, with identify and alias calls recorded by a view',
    up: (ctx) => auditDdl(ctx),
  },
  {
    version: 14,
    name: 'feature flag versions',
    // Append-only: every change to a flag is a row (storage/flags.ts); the latest row of a key is the flag.
    up: (ctx) => flagVersionsDdl(ctx),
  },
  {
    version: 15,
    name: 'experiment versions',
    up: (ctx) => experimentVersionsDdl(ctx),
  },
  {
    version: 16,
    name: 'data keys of encryption at rest',
    // Wrapped per-tenant (and per-person) data keys; the events hold only values sealed under them.
    up: (ctx) => dataKeysDdl(ctx),
  },
  {
    version: 17,
    name: 'otel_logs: enriched attributes as LowCardinality columns',
    // Breakdowns by country, browser, OS, device, page, referrer and campaign read these instead of the map
    // (attribute-columns.ts).
    up: ({ db, onCluster }) => attributeColumnsDdl(db, onCluster),
  },
];

/**
 * The MergeTree tables ingest writes (events, and the views' tables): their rows expire after their tenant's
 * retention (`timeColumn` is the DateTime expression it applies to, in UTC for `utc`), and their parts are fsynced
 * with `fsync`. `dropsParts`: created with `ttl_only_drop_parts = 1` (whole parts expire at once), which holds
 * while every tenant has the same retention.
 */
export const TTL_TABLES: ReadonlyArray<{ table: string; timeColumn: string; utc: boolean; dropsParts: boolean }> = [
  { table: 'otel_logs', timeColumn: 'TimestampTime', utc: false, dropsParts: true },
  { table: 'otel_traces', timeColumn: 'toDateTime(Timestamp)', utc: false, dropsParts: true },
  { table: 'otel_traces_trace_id_ts', timeColumn: 'Start', utc: false, dropsParts: true },
  { table: 'rollup_1m', timeColumn: 'Minute', utc: true, dropsParts: false },
];
