/**
 * The per-minute rollup's definitions: which events it keeps, the columns of `rollup_1m`, how its value columns
 * merge into coarser buckets (the hourly projection and the query layer's hourly reads share these), and the
 * materialized views that fill it from the event tables. The migrations (schema.ts) create the tables from these
 * definitions; the views are created or dropped at every start (migrate.ts).
 */

/** Events the per-minute rollup keeps (those the metric catalog reads). */
export const ROLLUP_EVENT_NAMES: readonly string[] = [
  'voice.first_response',
  'voice.barge_in',
  'voice.asr_partial',
  'ai.tool_call_completed',
  'ai.tool_chain_completed',
  'kb.search',
  'commerce.view',
  'commerce.checkout',
  'booking.slot_hold',
  'booking.confirmed',
];
const ROLLUP_EVENTS = `(${ROLLUP_EVENT_NAMES.map((e) => `'${e}'`).join(', ')})`;

/**
 * The columns of `rollup_1m`: keys, then the value columns (sums and aggregate states). `minute` is the type of
 * `Minute`: since migration 5 it is in UTC, so its hours are UTC hours in any server time zone (Asia/Kolkata's
 * hours start at :30 UTC, and the query layer splits ranges at UTC hours).
 */
export const rollupColumnsDdl = (minute: string) => `
        TenantId LowCardinality(String),
        SiteId LowCardinality(String),
        EventName LowCardinality(String),
        Minute ${minute},
        Events SimpleAggregateFunction(sum, UInt64),
        Value AggregateFunction(quantilesDD(0.005, 0.5, 0.95, 0.99), Nullable(Float64)),
        ValueSum SimpleAggregateFunction(sum, Float64),
        ValueCount SimpleAggregateFunction(sum, UInt64),
        Ok SimpleAggregateFunction(sum, UInt64),
        Optimistic SimpleAggregateFunction(sum, UInt64),
        OptimisticOk SimpleAggregateFunction(sum, UInt64),
        Hits SimpleAggregateFunction(sum, UInt64),
        TopSum SimpleAggregateFunction(sum, Float64),
        TopCount SimpleAggregateFunction(sum, UInt64),
        Sessions AggregateFunction(uniqExact, Nullable(String)),
        Bookings AggregateFunction(uniqExact, Nullable(String))`;

/**
 * How each `rollup_1m` value column merges into a coarser bucket. The hourly projection (migration 5) stores
 * these, and the query layer's hourly reads must use exactly the same expressions: ClickHouse only reads a
 * projection whose aggregates match the query's.
 */
export const ROLLUP_MERGES: Readonly<Record<string, string>> = {
  Events: 'sum(Events)',
  Value: 'quantilesDDMergeState(0.005, 0.5, 0.95, 0.99)(Value)',
  ValueSum: 'sum(ValueSum)',
  ValueCount: 'sum(ValueCount)',
  Ok: 'sum(Ok)',
  Optimistic: 'sum(Optimistic)',
  OptimisticOk: 'sum(OptimisticOk)',
  Hits: 'sum(Hits)',
  TopSum: 'sum(TopSum)',
  TopCount: 'sum(TopCount)',
  Sessions: 'uniqExactMergeState(Sessions)',
  Bookings: 'uniqExactMergeState(Bookings)',
};

/** The keys of the hourly projection; a query grouping by these (hour as `toStartOfHour(Minute)`) reads it. */
export const ROLLUP_HOURLY_KEYS = 'TenantId, EventName, toStartOfHour(Minute), SiteId';

/**
 * The materialized views that fill `rollup_1m`. Not a migration: they are created or dropped at every start to
 * match `exporters.clickhouse.rollups`, because each one adds ~8 ms to every INSERT it watches.
 */
export interface RollupView {
  readonly name: string;
  /** The view's SELECT; `where` adds a condition on its source table (a backfill reads one day at a time). */
  select(where?: string): string;
  /** The time column of the source table, for such conditions. */
  readonly sourceTime: string;
  readonly sourceTable: string;
}

export function rollupViews(db: string): RollupView[] {
  const [logs, spans] = [
    (where = '') => `
      SELECT TenantId, SiteId, EventName, toStartOfMinute(Timestamp) AS Minute,
        count() AS Events,
        quantilesDDState(0.005, 0.5, 0.95, 0.99)(v) AS Value,
        sumIf(assumeNotNull(v), v IS NOT NULL) AS ValueSum, countIf(v IS NOT NULL) AS ValueCount,
        countIf(LogAttributes['ai.tool.success'] IN ('true', '1')) AS Ok,
        countIf(LogAttributes['ai.navigation.optimistic'] IN ('true', '1')) AS Optimistic,
        countIf(LogAttributes['ai.navigation.optimistic'] IN ('true', '1') AND LogAttributes['ai.tool.success'] IN ('true', '1')) AS OptimisticOk,
        countIf(toFloat64OrZero(LogAttributes['kb.results_count']) > 0) AS Hits,
        sum(ifNull(toFloat64OrNull(LogAttributes['kb.top_score']), 0)) AS TopSum,
        countIf(toFloat64OrNull(LogAttributes['kb.top_score']) IS NOT NULL) AS TopCount,
        uniqExactState(if(SessionId != '', SessionId, NULL)) AS Sessions,
        uniqExactState(if(LogAttributes['booking.id'] != '', LogAttributes['booking.id'], NULL)) AS Bookings
      FROM (
        SELECT *, SiteId, multiIf(
          EventName = 'voice.first_response', toFloat64OrNull(LogAttributes['voice.first_response_ms']),
          EventName = 'voice.asr_partial', toFloat64OrNull(LogAttributes['voice.asr_partial_latency_ms']),
          EventName = 'kb.search', toFloat64OrNull(LogAttributes['kb.search_latency_ms']),
          EventName = 'ai.tool_chain_completed', toFloat64OrNull(LogAttributes['ai.tool_chain.length']),
          NULL) AS v
        FROM ${db}.otel_logs
        WHERE EventName IN ${ROLLUP_EVENTS}${where ? ` AND ${where}` : ''}
      )
      GROUP BY TenantId, SiteId, EventName, Minute`,
    // Spans the catalog counts: execute_tool (tool calls), retrieval (KB searches) and all spans (error rate).
    (where = '') => `
      SELECT TenantId, SpanAttributes['site.id'] AS SiteId, concat('$span:', SpanAttributes['gen_ai.operation.name']) AS EventName,
        toStartOfMinute(Timestamp) AS Minute,
        count() AS Events,
        quantilesDDState(0.005, 0.5, 0.95, 0.99)(v) AS Value,
        sumIf(assumeNotNull(v), v IS NOT NULL) AS ValueSum, countIf(v IS NOT NULL) AS ValueCount,
        countIf(StatusCode != 'STATUS_CODE_ERROR') AS Ok,
        countIf(SpanAttributes['ai.navigation.optimistic'] IN ('true', '1')) AS Optimistic,
        countIf(SpanAttributes['ai.navigation.optimistic'] IN ('true', '1') AND StatusCode != 'STATUS_CODE_ERROR') AS OptimisticOk,
        countIf(toFloat64OrZero(SpanAttributes['kb.results_count']) > 0) AS Hits,
        sum(ifNull(toFloat64OrNull(SpanAttributes['kb.top_score']), 0)) AS TopSum,
        countIf(toFloat64OrNull(SpanAttributes['kb.top_score']) IS NOT NULL) AS TopCount,
        uniqExactState(CAST(NULL, 'Nullable(String)')) AS Sessions,
        uniqExactState(CAST(NULL, 'Nullable(String)')) AS Bookings
      FROM (
        SELECT *, if(SpanAttributes['gen_ai.operation.name'] = 'retrieval',
          coalesce(toFloat64OrNull(SpanAttributes['kb.search_latency_ms']), Duration / 1e6), NULL) AS v
        FROM ${db}.otel_traces${where ? ` WHERE ${where}` : ''}
      )
      GROUP BY TenantId, SiteId, EventName, Minute`,
  ];
  return [
    { name: 'rollup_1m_logs_mv', select: logs, sourceTable: `${db}.otel_logs`, sourceTime: 'TimestampTime' },
    { name: 'rollup_1m_spans_mv', select: spans, sourceTable: `${db}.otel_traces`, sourceTime: 'toDateTime(Timestamp)' },
  ];
}

/** The DDL of a rollup view. */
export function rollupViewDdl(db: string, onCluster: string, view: RollupView): string {
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${view.name}${onCluster} TO ${db}.rollup_1m AS ${view.select()}`;
}
