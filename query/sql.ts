/**
 * SQL for catalog metrics. Tenant, site, time range and grain are bound parameters (`{name:Type}`); everything
 * pasted into the text comes from the catalog, never from a request.
 */
import { sqlString as quote } from '../exporters/clickhouse/store.ts';
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

/** The source's rows: `t` plus its value columns, logs and spans unioned. */
function sourceRows(db: string, source: Source, siteFilter: boolean): string {
  const parts: string[] = [];
  const cols = Object.entries(source.columns);
  const range = 'Timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND Timestamp < fromUnixTimestamp64Milli({to:Int64})';
  if (source.logs) {
    const select = ['Timestamp AS t', ...cols.map(([name, c]) => `${c.logs ?? 'NULL'} AS ${name}`)].join(', ');
    const events = source.logs.map(quote).join(', ');
    parts.push(
      `SELECT ${select} FROM ${db}.otel_logs WHERE TenantId = {tenant:String} AND EventName IN (${events}) AND ${range}` +
        (siteFilter ? ' AND SiteId = {site:String}' : ''),
    );
  }
  if (source.spans) {
    const select = ['Timestamp AS t', ...cols.map(([name, c]) => `${c.spans ?? 'NULL'} AS ${name}`)].join(', ');
    const op = source.spans === '*' ? '' : ` AND SpanAttributes['gen_ai.operation.name'] = ${quote(source.spans)}`;
    parts.push(
      `SELECT ${select} FROM ${db}.otel_traces WHERE TenantId = {tenant:String}${op} AND ${range}` +
        (siteFilter ? " AND SpanAttributes['site.id'] = {site:String}" : ''),
    );
  }
  return parts.join(' UNION ALL ');
}

export function params(q: MetricQuery): Record<string, unknown> {
  return { tenant: q.tenantId, from: q.fromMs, to: q.toMs, site: q.siteId ?? '', grain: q.grainSeconds ?? 0 };
}

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
