/**
 * Funnels, counted per person: the user id, else the user an anonymous id was linked to (identify / alias),
 * else the anonymous id — so a funnel started anonymously and finished after login is one person. The window is
 * measured from the person's first step. Modes: `ordered` (steps in order, other events allowed between),
 * `strict` (no other funnel step between consecutive steps: ClickHouse's `strict_order`), `unordered` (each
 * step at least once within the window, in any order). Step names and the breakdown key are bound parameters.
 */
import type { Store } from '../exporters/clickhouse/store.ts';
import { linksWith, PERSON } from './explore.ts';
import { logsRange } from './sql.ts';

export type FunnelMode = 'ordered' | 'strict' | 'unordered';

export interface FunnelQuery {
  tenantId: string;
  steps: readonly string[];
  fromMs: number;
  toMs: number;
  windowSeconds: number;
  mode: FunnelMode;
  /** Attribute of the person's first step event to split by. */
  breakdown?: string;
  siteId?: string;
}

export interface FunnelStep {
  name: string;
  count: number;
  /** Share of the first step's people who reached this step (0–1). */
  conversion_rate: number | null;
  /** Median seconds from the first step to this one, over the people who reached it. */
  median_time_to_convert_s: number | null;
}

export function funnelSql(db: string, q: FunnelQuery): string {
  const n = q.steps.length;
  const steps = q.steps.map((_, i) => i);
  // Per person, one pass: the funnel level and the (time, step) pairs; no window functions (they sort every row).
  const inWindow = 'x.1 >= first AND x.1 <= first + toIntervalSecond({window:UInt64})';
  const level =
    q.mode === 'unordered'
      ? // Steps 1..k each seen within the window after the first step, in any order.
        `arraySum(arrayMap(k -> arrayAll(j -> j > k OR has(seen, j), range(1, ${n + 1})), range(1, ${n + 1})))`
      : 'ordered_level';
  return `
    ${linksWith(db)}
    SELECT bd,
      ${steps.map((i) => `countIf(level >= ${i + 1}) AS c${i}`).join(', ')},
      ${steps.map((i) => `quantileExactInclusiveIf(0.5)(dateDiff('millisecond', first, at${i}) / 1000, level >= ${i + 1}) AS m${i}`).join(', ')}
    FROM (
      SELECT bd, first, seen, ${level} AS level,
        ${steps.map((i) => `arrayMin(arrayMap(x -> x.1, arrayFilter(x -> x.2 = ${i + 1} AND ${inWindow}, events))) AS at${i}`).join(', ')}
      FROM (
        SELECT person, events, ordered_level, bd,
          arrayMin(arrayMap(x -> x.1, arrayFilter(x -> x.2 = 1, events))) AS first,
          arrayDistinct(arrayMap(x -> x.2, arrayFilter(x -> ${inWindow}, events))) AS seen
        FROM (
          SELECT person, groupArray((t, step)) AS events,
            ${q.mode === 'unordered' ? '0' : `windowFunnel({window:UInt64}${q.mode === 'strict' ? ", 'strict_order'" : ''})(toDateTime(t), ${steps.map((i) => `step = ${i + 1}`).join(', ')})`} AS ordered_level,
            ${q.breakdown !== undefined ? 'argMinIf(attr, t, step = 1)' : "''"} AS bd
          FROM (
            SELECT ${PERSON} AS person, e.Timestamp AS t,
              multiIf(${steps.map((i) => `e.EventName = {step${i}:String}, ${i + 1}`).join(', ')}, 0) AS step,
              ${q.breakdown !== undefined ? 'e.LogAttributes[{breakdown:String}]' : "''"} AS attr
            FROM ${db}.otel_logs AS e
            WHERE e.TenantId = {tenant:String} AND e.EventName IN {steps:Array(String)}
              AND ${logsRange('e')}
              ${q.siteId !== undefined ? 'AND e.SiteId = {site:String}' : ''}
          )
          WHERE person != ''
          GROUP BY person
          HAVING countIf(step = 1) > 0
        )
      )
    )
    GROUP BY bd ORDER BY c0 DESC, bd`;
}

export async function runFunnel(store: Store, q: FunnelQuery): Promise<Array<{ breakdown: string; steps: FunnelStep[] }>> {
  const params: Record<string, unknown> = {
    tenant: q.tenantId, steps: q.steps, from: q.fromMs, to: q.toMs, window: q.windowSeconds, site: q.siteId ?? '', breakdown: q.breakdown ?? '',
  };
  q.steps.forEach((s, i) => (params[`step${i}`] = s));
  const rs = await store.client.query({ query: funnelSql(store.database, q), query_params: params, format: 'JSONEachRow' });
  const rows = await rs.json<Record<string, unknown>>();
  return rows.map((r) => {
    const first = Number(r.c0);
    return {
      breakdown: String(r.bd),
      steps: q.steps.map((name, i) => {
        const count = Number(r[`c${i}`]);
        const median = Number(r[`m${i}`]);
        return { name, count, conversion_rate: first > 0 ? count / first : null, median_time_to_convert_s: count > 0 && Number.isFinite(median) ? median : null };
      }),
    };
  });
}
