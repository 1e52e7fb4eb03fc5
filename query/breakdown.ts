/**
 * Breakdowns (`POST /api/v1/analytics/reports/breakdown`): the top values of several fields over a range — event
 * names, pages, referrers, campaigns, countries, browsers, … — each with its events and unique people, plus the
 * range's totals. The product analytics screen asks for all its tables in two requests. Fields are the query
 * API's (a column name such as `event_name` or `site_id`, else an attribute key); every field name, event name
 * and value is a bound parameter. One scan serves every field: each event contributes one (field, value) pair
 * per field, and the top `limit` values are kept per field (`LIMIT … BY`).
 */
import { z } from 'zod';
import { readRows, type Store } from '../storage/store.ts';
import { COLUMNS, linksWith, PERSON } from './explore.ts';
import { rangeCheck, rangeFields } from './request.ts';
import { logsRange } from './sql.ts';

const name = z.string().min(1).max(256);
export const breakdownSchema = z
  .strictObject({
    fields: z.array(name).min(1).max(10),
    /** Only these events (e.g. the page views for pages and referrers); all events when absent. */
    event_names: z.array(z.string().min(1).max(1024)).min(1).max(100).optional(),
    limit: z.number().int().min(1).max(100).default(10),
    ...rangeFields,
  })
  .superRefine(rangeCheck);
export type BreakdownRequest = z.infer<typeof breakdownSchema>;

export interface BreakdownRow {
  value: string;
  events: number;
  /** Unique people (user id, else the linked user, else the anonymous id) among those events. */
  people: number;
}

export interface Breakdown {
  total: { events: number; people: number };
  /** In the request's order; a field's rows by events, most first (ties by value); empty values left out. */
  breakdowns: Array<{ field: string; rows: BreakdownRow[] }>;
}

function where(req: BreakdownRequest): string {
  return [
    'e.TenantId = {tenant:String}',
    logsRange('e'),
    req.event_names ? 'e.EventName IN {events:Array(String)}' : '',
    req.site_id !== undefined ? 'e.SiteId = {site:String}' : '',
  ]
    .filter(Boolean)
    .join(' AND ');
}

export function breakdownSql(db: string, req: BreakdownRequest): { rows: string; total: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = {
    tenant: '',
    from: req.from,
    to: req.to,
    events: req.event_names ?? [],
    site: req.site_id ?? '',
    limit: req.limit,
  };
  const pairs = req.fields.map((f, i) => {
    params[`f${i}`] = f;
    return `(${i}, toString(${COLUMNS.get(f) ?? `e.LogAttributes[{f${i}:String}]`}))`;
  });
  const rows =
    `${linksWith(db)} SELECT kv.1 AS field, kv.2 AS value, count() AS events, uniqExactIf(person, person != '') AS people FROM (` +
    `SELECT ${PERSON} AS person, arrayJoin([${pairs.join(', ')}]) AS kv FROM ${db}.otel_logs AS e WHERE ${where(req)}` +
    ") WHERE value != '' GROUP BY field, value ORDER BY field, events DESC, value LIMIT {limit:UInt32} BY field";
  const total = `${linksWith(db)} SELECT count() AS events, uniqExactIf(${PERSON}, ${PERSON} != '') AS people FROM ${db}.otel_logs AS e WHERE ${where(req)}`;
  return { rows, total, params };
}

export async function runBreakdown(store: Store, tenantId: string, req: BreakdownRequest): Promise<Breakdown> {
  const { rows, total, params } = breakdownSql(store.database, req);
  params.tenant = tenantId;
  const [found, [t]] = await Promise.all([
    readRows<{ field: unknown; value: string; events: unknown; people: unknown }>(store, rows, params),
    readRows<{ events: unknown; people: unknown }>(store, total, params),
  ]);
  const breakdowns = req.fields.map((field) => ({ field, rows: [] as BreakdownRow[] }));
  for (const r of found) breakdowns[Number(r.field)].rows.push({ value: r.value, events: Number(r.events), people: Number(r.people) });
  return { total: { events: Number(t?.events ?? 0), people: Number(t?.people ?? 0) }, breakdowns };
}
