/**
 * SQL for catalog metrics. Tenant, site, time range and grain are bound parameters (`{name:Type}`); everything
 * pasted into the text comes from the catalog, never from a request.
 */
import { ROLLUP_HOURLY_KEYS, ROLLUP_MERGES } from '../storage/rollup.ts';
import { sqlString as quote } from '../storage/store.ts';
import type { MetricDef, Source } from './catalog.ts';

export interface MetricQuery {
  tenantId: string;
  /** Milliseconds since the epoch, [from, to). */
  fromMs: number;
  toMs: number;
  siteId?: string;
  /** Bucket width in seconds, for time series. */
  grainSeconds?: number;
}

/**
 * The time range on otel_logs. Its primary index holds `TimestampTime` (seconds), not `Timestamp`, so the range
 * is stated on both: the coarse one lets ClickHouse skip granules and partitions, the exact one decides.
 */
export function logsRange(alias = ''): string {
  const a = alias ? `${alias}.` : '';
  return (
    `${a}TimestampTime >= toDateTime(intDiv({from:Int64}, 1000)) AND ${a}TimestampTime <= toDateTime(intDiv({to:Int64}, 1000)) ` +
    `AND ${a}Timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND ${a}Timestamp < fromUnixTimestamp64Milli({to:Int64})`
  );
}

/** One site, or every site when the parameter is empty: the API never sends it empty, Grafana's site box may. */
const siteIs = (column: string) => ` AND ({site:String} = '' OR ${column} = {site:String})`;

/**
 * Which tenants a source's rows come from: one, bound as `{tenant:String}` (reports), or every tenant in
 * `{tenants:Array(String)}` (all tenants when it is empty), with `TenantId` selected as `tenant` (SLOs).
 */
export type TenantScope = 'one' | 'many';

/** The source's rows: `t` plus its value columns, logs and spans unioned. */
export function sourceRows(db: string, source: Source, siteFilter: boolean, tenants: TenantScope = 'one'): string {
  const parts: string[] = [];
  const cols = Object.entries(source.columns);
  const spanRange = 'Timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND Timestamp < fromUnixTimestamp64Milli({to:Int64})';
  const tenantIs = tenants === 'one' ? 'TenantId = {tenant:String}' : '(empty({tenants:Array(String)}) OR has({tenants:Array(String)}, TenantId))';
  const first = tenants === 'one' ? ['Timestamp AS t'] : ['TenantId AS tenant', 'Timestamp AS t'];
  if (source.logs) {
    const select = [...first, ...cols.map(([name, c]) => `${c.logs ?? 'NULL'} AS ${name}`)].join(', ');
    const events = source.logs.map(quote).join(', ');
    const site = siteFilter ? siteIs('SiteId') : '';
    parts.push(`SELECT ${select} FROM ${db}.otel_logs WHERE ${tenantIs} AND EventName IN (${events}) AND ${logsRange()}${site}`);
  }
  if (source.spans) {
    const select = [...first, ...cols.map(([name, c]) => `${c.spans ?? 'NULL'} AS ${name}`)].join(', ');
    const op = source.spans === '*' ? '' : ` AND SpanAttributes['gen_ai.operation.name'] = ${quote(source.spans)}`;
    const site = siteFilter ? siteIs("SpanAttributes['site.id']") : '';
    parts.push(`SELECT ${select} FROM ${db}.otel_traces WHERE ${tenantIs}${op} AND ${spanRange}${site}`);
  }
  return parts.join(' UNION ALL ');
}

export function params(q: MetricQuery): Record<string, unknown> {
  return { tenant: q.tenantId, from: q.fromMs, to: q.toMs, site: q.siteId ?? '', grain: q.grainSeconds ?? 0, ...rollupLevels(q) };
}

/**
 * How a range splits between the rollup's levels, in Unix seconds: minutes [m1, h1), whole hours [h1, h2), minutes
 * [h2, to). A range without a whole hour, or a grain that is not whole hours, reads minutes only (h1 = h2 = m1).
 */
export function rollupLevels(q: MetricQuery): { m1: number; h1: number; h2: number } {
  const m1 = Math.floor(q.fromMs / 60_000) * 60;
  const h1 = Math.ceil(m1 / 3600) * 3600;
  const h2 = Math.floor(q.toMs / 3_600_000) * 3600;
  const hourly = h1 < h2 && (q.grainSeconds === undefined || q.grainSeconds % 3600 === 0);
  return hourly ? { m1, h1, h2 } : { m1, h1: m1, h2: m1 };
}

const HOURLY = 'intDiv({m1:Int64} + 3599, 3600) * 3600 < intDiv({to:Int64}, 3600000) * 3600 AND {grain:UInt32} % 3600 = 0';

/**
 * `rollupLevels` in SQL, over the parameters from, to and grain (0 for one value over the range), for clients
 * that define the parameters in SQL themselves (the Grafana dashboard). The Grafana test holds them equal.
 */
export const ROLLUP_LEVELS_SQL: Readonly<Record<'m1' | 'h1' | 'h2', string>> = {
  m1: 'intDiv({from:Int64}, 60000) * 60',
  h1: `if(${HOURLY}, intDiv({m1:Int64} + 3599, 3600) * 3600, {m1:Int64})`,
  h2: `if(${HOURLY}, intDiv({to:Int64}, 3600000) * 3600, {m1:Int64})`,
};

/** One value over the whole range. */
export function summarySql(db: string, metric: MetricDef, siteFilter: boolean): string {
  return `SELECT ${metric.aggregate} AS value FROM (${sourceRows(db, metric.source, siteFilter)})`;
}

/** One value per bucket of `grain` seconds (aligned to the Unix epoch); empty buckets are absent. */
export function timeseriesSql(db: string, metric: MetricDef, siteFilter: boolean): string {
  return (
    `SELECT toUnixTimestamp(toStartOfInterval(t, toIntervalSecond({grain:UInt32}))) * 1000 AS bucket, ${metric.aggregate} AS value ` +
    `FROM (${sourceRows(db, metric.source, siteFilter)}) GROUP BY bucket ORDER BY bucket`
  );
}

/** Rollup rows of a metric: its events, `$span:*` meaning every span row. */
function rollupWhere(metric: MetricDef, siteFilter: boolean): string {
  const names = metric.rollup.events.filter((e) => e !== '$span:*');
  const conds = [];
  if (names.length > 0) conds.push(`EventName IN (${names.map(quote).join(', ')})`);
  if (metric.rollup.events.includes('$span:*')) conds.push("startsWith(EventName, '$span:')");
  return `TenantId = {tenant:String} AND (${conds.join(' OR ')})${siteFilter ? siteIs('SiteId') : ''}`;
}

const ROLLUP_VALUE_COLUMNS = Object.keys(ROLLUP_MERGES).map((name) => ({ name, used: new RegExp(`\\b${name}\\b`) }));

/**
 * The rollup rows of a range, as `Time`, `EventName` and the value columns the metric's aggregate reads: whole
 * hours from the hourly projection (grouped by its keys, so ClickHouse reads the projection), the edges from
 * the per-minute rows. The metric's aggregate then runs over both alike.
 */
function rollupRows(db: string, metric: MetricDef, siteFilter: boolean): string {
  const cols = ROLLUP_VALUE_COLUMNS.filter((c) => c.used.test(metric.rollup.aggregate)).map((c) => c.name);
  const where = rollupWhere(metric, siteFilter);
  const hours =
    `SELECT toStartOfHour(Minute) AS Time, EventName${cols.map((c) => `, ${ROLLUP_MERGES[c]} AS ${c}`).join('')} FROM ${db}.rollup_1m ` +
    `WHERE ${where} AND toStartOfHour(Minute) >= toDateTime({h1:Int64}) AND toStartOfHour(Minute) < toDateTime({h2:Int64}) GROUP BY ${ROLLUP_HOURLY_KEYS}`;
  const minutes =
    `SELECT Minute AS Time, EventName${cols.map((c) => `, ${c}`).join('')} FROM ${db}.rollup_1m WHERE ${where} ` +
    'AND ((Minute >= toDateTime({m1:Int64}) AND Minute < toDateTime({h1:Int64})) OR (Minute >= toDateTime({h2:Int64}) AND Minute < fromUnixTimestamp64Milli({to:Int64})))';
  return `${hours} UNION ALL ${minutes}`;
}

/** One value over the whole range, from the rollup. */
export function rollupSummarySql(db: string, metric: MetricDef, siteFilter: boolean): string {
  return `SELECT ${metric.rollup.aggregate} AS value FROM (${rollupRows(db, metric, siteFilter)})`;
}

/** The same, with `n`: how many values the range holds (so that a caller can answer few of them exactly). */
export function rollupSummaryCountedSql(db: string, metric: MetricDef, siteFilter: boolean): string {
  // The value columns are picked by name from the aggregate: name ValueCount in it too.
  const counted = { ...metric, rollup: { ...metric.rollup, aggregate: `${metric.rollup.aggregate}, sum(ValueCount)` } };
  return `SELECT ${metric.rollup.aggregate} AS value, sum(ValueCount) AS n FROM (${rollupRows(db, counted, siteFilter)})`;
}

/** One value per bucket, from the rollup (grain ≥ 1 minute). */
export function rollupTimeseriesSql(db: string, metric: MetricDef, siteFilter: boolean): string {
  return (
    `SELECT toUnixTimestamp(toStartOfInterval(Time, toIntervalSecond({grain:UInt32}))) * 1000 AS bucket, ${metric.rollup.aggregate} AS value ` +
    `FROM (${rollupRows(db, metric, siteFilter)}) GROUP BY bucket ORDER BY bucket`
  );
}

export type QuerySource = 'raw' | 'rollup';

/** The rollup serves long ranges and coarse grains; short, fine queries read the raw events. */
export function chooseSource(requested: 'auto' | QuerySource, q: MetricQuery): QuerySource {
  if (requested !== 'auto') return requested;
  return q.toMs - q.fromMs >= 6 * 3_600_000 || (q.grainSeconds ?? 0) >= 3600 ? 'rollup' : 'raw';
}

/**
 * A metric's rollup aggregate restricted to rows matching `cond`: every aggregate call gains the `-If` combinator
 * (`sum(x)` → `sumIf(x, cond)`, `f(p)(x)` → `fIf(p)(x, cond)`, `fIf(x, c)` → `fIf(x, (c) AND cond)`), so that one
 * scan over the rollup can serve several metrics. The catalog's rollup aggregates use only these calls; any other
 * shape throws (the catalog test builds every metric's).
 */
export function conditionedAggregate(aggregate: string, cond: string): string {
  const calls: string[] = [];
  // Each call becomes a placeholder first, so that what is left can be checked for columns read outside one.
  const marked = aggregate.replace(CONDITIONABLE_CALL, (_all, fn: string, first: string, second: string | undefined, args: string | undefined) => {
    let call: string;
    if (fn === 'quantilesDDMerge') {
      if (second === undefined) throw new Error(`rollup aggregate without parameters: ${aggregate}`);
      call = `quantilesDDMergeIf(${first})(${args}, ${cond})`;
    } else if (second !== undefined) throw new Error(`unexpected parametric call in rollup aggregate: ${aggregate}`);
    else if (fn === 'sum') call = `sumIf(${first}, ${cond})`;
    else {
      const comma = first.indexOf(',');
      call = `uniqExactMergeIf(${first.slice(0, comma)}, (${first.slice(comma + 1).trim()}) AND ${cond})`;
    }
    calls.push(call);
    return `@@call${calls.length - 1}@@`;
  });
  for (const { name, used } of ROLLUP_VALUE_COLUMNS) {
    if (used.test(marked)) throw new Error(`rollup aggregate reads ${name} outside a call that can be conditioned: ${aggregate}`);
  }
  return marked.replace(/@@call(\d+)@@/g, (_m, i: string) => calls[Number(i)]);
}
const CONDITIONABLE_CALL = /\b(sum|quantilesDDMerge|uniqExactMergeIf)\(([^()]*)\)(\(([^()]*)\))?/g;

/** The rollup condition of a metric's rows (its events; `$span:*` for every span). */
function rollupEventCondition(metric: MetricDef): string {
  const names = metric.rollup.events.filter((e) => e !== '$span:*');
  const conds = [];
  if (names.length > 0) conds.push(`EventName IN (${names.map(quote).join(', ')})`);
  if (metric.rollup.events.includes('$span:*')) conds.push("startsWith(EventName, '$span:')");
  return `(${conds.join(' OR ')})`;
}

/**
 * Several metrics' summaries and time series from ONE scan of the rollup: the rows of every metric's events, each
 * metric's aggregate restricted to its own rows (`conditionedAggregate`), grouped by bucket and over the whole
 * range at once (`GROUPING SETS`). Answers rows `(total, bucket, v0…vN, n0…nN, r0…rN)`: `total` = 1 for the range's
 * row, `nI` counts metric I's values (so a caller can answer few of them exactly) and `rI` its rollup rows (a bucket
 * without any has no value for it, as in `rollupTimeseriesSql`). Identical aggregates (p50, p95
 * and p99 of one value) are computed once by ClickHouse.
 */
export function rollupOverviewSql(db: string, metrics: readonly MetricDef[], siteFilter: boolean): string {
  const all: MetricDef = {
    ...metrics[0],
    rollup: {
      events: [...new Set(metrics.flatMap((m) => m.rollup.events))],
      aggregate: `${metrics.map((m) => m.rollup.aggregate).join(', ')}, sum(ValueCount)`,
    },
  };
  const values = metrics.map((m, i) => {
    const cond = rollupEventCondition(m);
    return `${conditionedAggregate(m.rollup.aggregate, cond)} AS v${i}, sumIf(ValueCount, ${cond}) AS n${i}, countIf(${cond}) AS r${i}`;
  });
  return (
    // grouping() is 1 where the key is aggregated away (the SQL standard's sense, ClickHouse's default): the range's row.
    'SELECT grouping(bucket) = 1 AS total, toUnixTimestamp(toStartOfInterval(Time, toIntervalSecond({grain:UInt32}))) * 1000 AS bucket, ' +
    `${values.join(', ')} FROM (${rollupRows(db, all, siteFilter)}) GROUP BY GROUPING SETS ((bucket), ()) SETTINGS group_by_use_nulls = 0`
  );
}
