/**
 * The metric catalog: every metric of the product's SLAs defined once — where its rows come from (events in otel_logs,
 * spans in otel_traces, or both), the aggregate over them, its unit and which direction is better. Every report
 * endpoint builds its SQL from these entries; adding a metric means adding one entry.
 *
 * A source selects rows with a time column `t` and the value columns the aggregate reads. Event names, span
 * operations and attribute keys below are constants of this file; tenant, site and time range are always bound
 * as query parameters.
 */

export type Unit = 'ms' | 'count' | 'ratio' | 'number';

/** How the catalog groups its metrics (the dashboard's SLA overview and Grafana's rows), in display order. */
export const METRIC_GROUPS = [
  { id: 'voice', title: 'Voice UX' },
  { id: 'ai_tools', title: 'AI tools' },
  { id: 'knowledge_base', title: 'Knowledge base' },
  { id: 'business', title: 'Business' },
  { id: 'system', title: 'System' },
] as const;
export type MetricGroup = (typeof METRIC_GROUPS)[number]['id'];

export interface Source {
  /** `otel_logs` rows of these events, or `otel_traces` rows of this `gen_ai.operation.name`. */
  readonly logs?: readonly string[];
  readonly spans?: string;
  /** Value columns: name → expression over the source table's columns. */
  readonly columns: Readonly<Record<string, { logs?: string; spans?: string }>>;
}

/**
 * What an SLO over a metric counts, per record of its source (alerting/ builds SLOs on these): `latency` is the
 * value column compared with the SLO's threshold (the metric is its `level` quantile), `ratio` counts the
 * records matching `good` among those matching `total` (SQL conditions over the source's value columns). `id`
 * names the SLI wherever it is exposed (Prometheus metric names, rule labels); metrics that share an id (p50,
 * p95 and p99 of one value) share the SLI.
 */
export type SliDef =
  | { readonly kind: 'latency'; readonly id: string; readonly column: string; readonly level: number }
  | { readonly kind: 'ratio'; readonly id: string; readonly good: string; readonly total: string };

export interface MetricDef {
  readonly name: string;
  readonly description: string;
  readonly unit: Unit;
  readonly better: 'lower' | 'higher';
  readonly group: MetricGroup;
  readonly source: Source;
  /** Aggregate over the source's value columns (ClickHouse SQL). */
  readonly aggregate: string;
  /** The same metric from the per-minute rollup: which rollup rows, and the aggregate over its columns. */
  readonly rollup: { readonly events: readonly string[]; readonly aggregate: string };
  /** Set for metrics an SLO can be stated on: a per-record latency or a ratio of records. */
  readonly sli?: SliDef;
}

/** Rollup rows of spans are keyed `$span:<gen_ai.operation.name>`; `$span:*` means every span. */
const SPAN = (op: string) => `$span:${op}`;
const q = (i: 1 | 2 | 3) => `quantilesDDMerge(0.005, 0.5, 0.95, 0.99)(Value)[${i}]`;
/**
 * Values up to which a raw quantile is exact. The sketch's 0.5% buckets answer 422.01 for a single value of 420:
 * within the error bound, but it reads as a bug where a range holds few values. `groupArray` keeps at most this
 * many values, so memory stays bounded on ranges of millions; the rollup keeps sketches only.
 */
export const EXACT_QUANTILE_MAX_VALUES = 1000;
/**
 * A quantile of a raw value column: exact for few values, else the sketch. Exact means the sorted values' element
 * at rank floor(level × (n − 1)), the one the sketch approximates, so raw and rollup answers stay within the
 * sketch's 1% of each other (interpolating instead would differ by more in a sparse tail).
 */
export const rawQuantile = (level: number, column: string) =>
  `if(count(${column}) = 0, NULL, if(count(${column}) <= ${EXACT_QUANTILE_MAX_VALUES}, ` +
  `arrayElement(arraySort(groupArray(${EXACT_QUANTILE_MAX_VALUES})(${column})), toUInt32(floor(${level} * (count(${column}) - 1))) + 1), ` +
  `quantileDD(0.005, ${level})(${column})))`;
const ratio = (num: string, den: string) => `if((${den}) = 0, NULL, (${num}) / (${den}))`;

const num = (key: string) => `toFloat64OrNull(LogAttributes['${key}'])`;
const spanNum = (key: string) => `toFloat64OrNull(SpanAttributes['${key}'])`;
const isTrue = (map: string, key: string) => `${map}['${key}'] IN ('true', '1')`;

/** Tool calls: `ai.tool_call_completed` events and `execute_tool` spans (status ERROR = failure). */
const TOOL_CALLS: Source = {
  logs: ['ai.tool_call_completed'],
  spans: 'execute_tool',
  columns: {
    ok: { logs: isTrue('LogAttributes', 'ai.tool.success'), spans: "StatusCode != 'STATUS_CODE_ERROR'" },
    optimistic: { logs: isTrue('LogAttributes', 'ai.navigation.optimistic'), spans: isTrue('SpanAttributes', 'ai.navigation.optimistic') },
  },
};

/** Knowledge-base searches: `kb.search` events and `retrieval` spans. */
const KB_SEARCHES: Source = {
  logs: ['kb.search'],
  spans: 'retrieval',
  columns: {
    results: { logs: num('kb.results_count'), spans: spanNum('kb.results_count') },
    latency: { logs: num('kb.search_latency_ms'), spans: `coalesce(${spanNum('kb.search_latency_ms')}, Duration / 1e6)` },
    top: { logs: num('kb.top_score'), spans: spanNum('kb.top_score') },
  },
};

/** A latency quantile of a voice event's value. */
const quantile = (name: string, event: string, key: string, level: 0.5 | 0.95 | 0.99, sli: string, description: string): MetricDef => ({
  name,
  description,
  unit: 'ms',
  better: 'lower',
  group: 'voice',
  source: { logs: [event], columns: { v: { logs: num(key) } } },
  aggregate: rawQuantile(level, 'v'),
  rollup: { events: [event], aggregate: q(level === 0.5 ? 1 : level === 0.95 ? 2 : 3) },
  sli: { kind: 'latency', id: sli, column: 'v', level },
});

const VOICE_FIRST_RESPONSE = 'voice_first_response';
const TOOL_CALLS_SLI: SliDef = { kind: 'ratio', id: 'ai_tool_calls', good: 'ok', total: '1' };

export const METRICS: readonly MetricDef[] = [
  quantile(
    'voice.first_response_ms.p50',
    'voice.first_response',
    'voice.first_response_ms',
    0.5,
    VOICE_FIRST_RESPONSE,
    'Median time to the first voice response',
  ),
  quantile(
    'voice.first_response_ms.p95',
    'voice.first_response',
    'voice.first_response_ms',
    0.95,
    VOICE_FIRST_RESPONSE,
    '95th percentile time to the first voice response',
  ),
  quantile(
    'voice.first_response_ms.p99',
    'voice.first_response',
    'voice.first_response_ms',
    0.99,
    VOICE_FIRST_RESPONSE,
    '99th percentile time to the first voice response',
  ),
  {
    name: 'voice.barge_in_count',
    description: 'Times users interrupted the assistant',
    unit: 'count',
    better: 'lower',
    group: 'voice',
    source: { logs: ['voice.barge_in'], columns: {} },
    aggregate: 'count()',
    rollup: { events: ['voice.barge_in'], aggregate: 'sum(Events)' },
  },
  quantile(
    'voice.asr_partial_latency_ms.p95',
    'voice.asr_partial',
    'voice.asr_partial_latency_ms',
    0.95,
    'voice_asr_partial_latency',
    '95th percentile latency of partial speech recognition',
  ),
  {
    name: 'ai.tool_calls.count',
    description: 'Completed AI tool calls (events and execute_tool spans)',
    unit: 'count',
    better: 'higher',
    group: 'ai_tools',
    source: TOOL_CALLS,
    aggregate: 'count()',
    rollup: { events: ['ai.tool_call_completed', SPAN('execute_tool')], aggregate: 'sum(Events)' },
  },
  {
    name: 'ai.tool_calls.success_rate',
    description: 'Share of tool calls that succeeded',
    unit: 'ratio',
    better: 'higher',
    group: 'ai_tools',
    source: TOOL_CALLS,
    aggregate: 'if(count() = 0, NULL, countIf(ok) / count())',
    rollup: { events: ['ai.tool_call_completed', SPAN('execute_tool')], aggregate: ratio('sum(Ok)', 'sum(Events)') },
    sli: TOOL_CALLS_SLI,
  },
  {
    name: 'ai.navigation_optimism_rate',
    description: 'Share of optimistic navigations whose tool call succeeded',
    unit: 'ratio',
    better: 'higher',
    group: 'ai_tools',
    source: TOOL_CALLS,
    aggregate: 'if(countIf(optimistic) = 0, NULL, countIf(optimistic AND ok) / countIf(optimistic))',
    rollup: { events: ['ai.tool_call_completed', SPAN('execute_tool')], aggregate: ratio('sum(OptimisticOk)', 'sum(Optimistic)') },
    sli: { kind: 'ratio', id: 'ai_optimistic_navigations', good: 'optimistic AND ok', total: 'optimistic' },
  },
  {
    name: 'ai.tool_chain_length.avg',
    description: 'Mean number of tools in a completed chain',
    unit: 'number',
    better: 'lower',
    group: 'ai_tools',
    source: { logs: ['ai.tool_chain_completed'], columns: { v: { logs: num('ai.tool_chain.length') } } },
    aggregate: 'avg(v)',
    rollup: { events: ['ai.tool_chain_completed'], aggregate: ratio('sum(ValueSum)', 'sum(ValueCount)') },
  },
  {
    name: 'kb.hit_rate',
    description: 'Share of knowledge-base searches with at least one result',
    unit: 'ratio',
    better: 'higher',
    group: 'knowledge_base',
    source: KB_SEARCHES,
    aggregate: 'if(count() = 0, NULL, countIf(results > 0) / count())',
    rollup: { events: ['kb.search', SPAN('retrieval')], aggregate: ratio('sum(Hits)', 'sum(Events)') },
    sli: { kind: 'ratio', id: 'kb_searches', good: 'results > 0', total: '1' },
  },
  {
    name: 'kb.search_latency_ms.p95',
    description: '95th percentile knowledge-base search latency',
    unit: 'ms',
    better: 'lower',
    group: 'knowledge_base',
    source: KB_SEARCHES,
    aggregate: rawQuantile(0.95, 'latency'),
    rollup: { events: ['kb.search', SPAN('retrieval')], aggregate: q(2) },
    sli: { kind: 'latency', id: 'kb_search_latency', column: 'latency', level: 0.95 },
  },
  {
    name: 'kb.relevance_score.avg',
    description: 'Mean top score of knowledge-base searches',
    unit: 'number',
    better: 'higher',
    group: 'knowledge_base',
    source: KB_SEARCHES,
    aggregate: 'avg(top)',
    rollup: { events: ['kb.search', SPAN('retrieval')], aggregate: ratio('sum(TopSum)', 'sum(TopCount)') },
  },
  {
    name: 'commerce.conversion_rate',
    description: 'Sessions with a checkout / sessions with a product view',
    unit: 'ratio',
    better: 'higher',
    group: 'business',
    source: {
      logs: ['commerce.view', 'commerce.checkout'],
      columns: { session: { logs: 'SessionId' }, checkout: { logs: "EventName = 'commerce.checkout'" } },
    },
    aggregate:
      "if(uniqExactIf(session, NOT checkout AND session != '') = 0, NULL, uniqExactIf(session, checkout AND session != '') / uniqExactIf(session, NOT checkout AND session != ''))",
    rollup: {
      events: ['commerce.view', 'commerce.checkout'],
      aggregate: ratio("uniqExactMergeIf(Sessions, EventName = 'commerce.checkout')", "uniqExactMergeIf(Sessions, EventName = 'commerce.view')"),
    },
  },
  {
    name: 'booking.hold_to_confirm_rate',
    description: 'Distinct bookings confirmed / distinct bookings held',
    unit: 'ratio',
    better: 'higher',
    group: 'business',
    source: {
      logs: ['booking.slot_hold', 'booking.confirmed'],
      columns: { booking: { logs: "LogAttributes['booking.id']" }, confirmed: { logs: "EventName = 'booking.confirmed'" } },
    },
    aggregate:
      "if(uniqExactIf(booking, NOT confirmed AND booking != '') = 0, NULL, uniqExactIf(booking, confirmed AND booking != '') / uniqExactIf(booking, NOT confirmed AND booking != ''))",
    rollup: {
      events: ['booking.slot_hold', 'booking.confirmed'],
      aggregate: ratio("uniqExactMergeIf(Bookings, EventName = 'booking.confirmed')", "uniqExactMergeIf(Bookings, EventName = 'booking.slot_hold')"),
    },
  },
  {
    name: 'system.error_rate',
    description: 'Spans with status ERROR / all spans',
    unit: 'ratio',
    better: 'lower',
    group: 'system',
    source: { spans: '*', columns: { error: { spans: "StatusCode = 'STATUS_CODE_ERROR'" } } },
    aggregate: 'if(count() = 0, NULL, countIf(error) / count())',
    rollup: { events: [SPAN('*')], aggregate: ratio('sum(Events) - sum(Ok)', 'sum(Events)') },
    // Good spans are those without an error: the metric is the share of bad ones (lower is better).
    sli: { kind: 'ratio', id: 'spans', good: 'NOT error', total: '1' },
  },
];

export const METRICS_BY_NAME: ReadonlyMap<string, MetricDef> = new Map(METRICS.map((m) => [m.name, m]));
