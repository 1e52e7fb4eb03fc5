/**
 * Breakdowns (`POST /api/v1/analytics/reports/breakdown`): the top values of several fields over a range — event
 * names, pages, referrers, campaigns, countries, browsers, … — each with its events and unique people, plus the
 * range's totals. The product analytics screen asks for all its tables in two requests. Fields are the query
 * API's (a column name such as `event_name` or `site_id`, else an attribute key); every field name, event name
 * and value is a bound parameter. One scan serves every field: each event contributes one (field, value) pair
 * per field, and the top `limit` values are kept per field (`LIMIT … BY`).
 */
import { z } from 'zod';
import { ATTRIBUTE_COLUMNS } from '../storage/attribute-columns.ts';
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

/** How a breakdown reads attributes: `columns` from otel_logs' enriched columns where one exists (the product's
 * path), `map` always from `LogAttributes` (what those columns are materialized from; tests compare the two). */
export type AttributeSource = 'columns' | 'map';

/**
 * One statement: the links, then one scan where each event contributes a (field, value) pair per field plus one
 * pair for the range's total (field `n`, the number of fields). A person is carried through the pairs as the
 * SipHash-128 of its id (what `uniqExact` keeps of a string: exact up to 128-bit collisions, as before), without
 * copying each id once per field; `uniqExact` of the hash was 1.5–2x faster than of the id here.
 */
export function breakdownSql(db: string, req: BreakdownRequest, attributes: AttributeSource = 'columns'): { sql: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = {
    tenant: '',
    from: req.from,
    to: req.to,
    events: req.event_names ?? [],
    site: req.site_id ?? '',
    limit: req.limit,
  };
  const column = (f: string) => {
    const enriched = attributes === 'columns' ? ATTRIBUTE_COLUMNS.get(f) : undefined;
    return COLUMNS.get(f) ?? (enriched && `e.${enriched}`);
  };
  const pairs = req.fields.map((f, i) => {
    params[`f${i}`] = f;
    return `(${i}, toString(${column(f) ?? `e.LogAttributes[{f${i}:String}]`}))`;
  });
  const total = req.fields.length;
  const sql =
    `${linksWith(db)} SELECT kv.1 AS field, kv.2 AS value, count() AS events, uniqExactIf(person, known) AS people FROM (` +
    `SELECT ${PERSON} AS id, id != '' AS known, reinterpretAsUInt128(sipHash128(id)) AS person, ` +
    `arrayJoin([${[...pairs, `(${total}, '')`].join(', ')}]) AS kv FROM ${db}.otel_logs AS e WHERE ${where(req)}` +
    `) WHERE value != '' OR field = ${total} GROUP BY field, value ORDER BY field, events DESC, value LIMIT {limit:UInt32} BY field`;
  return { sql, params };
}

export async function runBreakdown(store: Store, tenantId: string, req: BreakdownRequest, attributes: AttributeSource = 'columns'): Promise<Breakdown> {
  const { sql, params } = breakdownSql(store.database, req, attributes);
  params.tenant = tenantId;
  const found = await readRows<{ field: unknown; value: string; events: unknown; people: unknown }>(store, sql, params);
  const total = { events: 0, people: 0 };
  const breakdowns = req.fields.map((field) => ({ field, rows: [] as BreakdownRow[] }));
  for (const r of found) {
    const row = { value: r.value, events: Number(r.events), people: Number(r.people) };
    if (Number(r.field) === req.fields.length) {
      total.events = row.events;
      total.people = row.people;
    } else breakdowns[Number(r.field)].rows.push(row);
  }
  return { total, breakdowns };
}
