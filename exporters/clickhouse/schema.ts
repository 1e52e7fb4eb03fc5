/**
 * Versioned schema migrations. Tables keep the column names and types of the OpenTelemetry Collector's
 * ClickHouse exporter (so Grafana's ClickHouse data source and Collector-written data work unchanged), with
 * Signalhouse's own columns beside them. Each migration's statements are idempotent (`IF NOT EXISTS`), so a
 * crash between a statement and its bookkeeping row is harmless; applied versions are recorded in
 * `schema_migrations`. Add a migration by appending an entry; never edit one that has shipped.
 */

export interface DdlContext {
  readonly db: string;
  /** ' ON CLUSTER name' or ''. */
  readonly onCluster: string;
  /** Engine clause for a table: MergeTree, or ReplicatedMergeTree on a cluster; `args` are the engine's own. */
  engine(kind: 'MergeTree' | 'AggregatingMergeTree' | 'ReplacingMergeTree', table: string, args?: string): string;
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

const IDENTIFY_EVENTS = "('identify', '$identify')";
const IDENTITY_EVENTS = "('identify', '$identify', 'alias', '$create_alias')";

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
];

/** Tables whose rows expire after the configured TTL, with the DateTime expression the TTL applies to. */
export const TTL_TABLES: ReadonlyArray<{ table: string; timeColumn: string }> = [
  { table: 'otel_logs', timeColumn: 'TimestampTime' },
  { table: 'otel_traces', timeColumn: 'toDateTime(Timestamp)' },
  { table: 'otel_traces_trace_id_ts', timeColumn: 'Start' },
];
