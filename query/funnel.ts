/**
 * Funnels, counted per person: the user id, else the user an anonymous id was linked to (identify / alias),
 * else the anonymous id — so a funnel started anonymously and finished after login is one person. The window is
 * measured from a first-step event (any of them for ordered chains). Modes: `ordered` (steps in order, other
 * events allowed between), `strict` (no other funnel step between consecutive steps: ClickHouse's
 * `strict_order`), `unordered` (each step at least once within the window after the earliest first step, in any
 * order). Step names and the breakdown key are bound parameters.
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
  /** Median seconds from the person's earliest first step to this step's earliest event after it, over the people
   * who reached it. */
  median_time_to_convert_s: number | null;
}

export function funnelSql(db: string, q: FunnelQuery): string {
  const later = q.steps.map((_, i) => i).slice(1);
  // Per person, one pass: the first step's earliest time, the times of each later step, and the funnel level; no
  // window functions (they sort every row) and no arrays of every event.
  const inWindow = (i: number) => `arrayFilter(x -> x >= first AND x <= first + toIntervalSecond({window:UInt64}), t${i})`;
  const seen = (i: number) => `notEmpty(${inWindow(i)})`;
  const level =
    q.mode === 'unordered'
      ? // Steps 1..k each seen within the window after the first step, in any order.
        `1${later.map((i) => ` + (${later.filter((j) => j <= i).map(seen).join(' AND ')})`).join('')}`
      : 'ordered_level';
  // A step's time: its earliest event within the window (unordered), or at or after the first step (ordered and
  // strict, whose chain may start at a later first-step event); NULL when there is none.
  const at = (i: number) => {
    const times = q.mode === 'unordered' ? inWindow(i) : `arrayFilter(x -> x >= first, t${i})`;
    return `if(empty(${times}), NULL, arrayMin(${times})) AS at${i}`;
  };
  return `
    ${linksWith(db)}
    SELECT bd,
      ${q.steps.map((_, i) => `countIf(level >= ${i + 1}) AS c${i}`).join(', ')},
      0 AS m0, ${later.map((i) => `quantileExactInclusiveIf(0.5)(dateDiff('millisecond', first, at${i}) / 1000, level >= ${i + 1}) AS m${i}`).join(', ')}
    FROM (
      SELECT bd, first, ${level} AS level, ${later.map(at).join(', ')}
      FROM (
        SELECT person, minIf(t, step = 1) AS first,
          ${later.map((i) => `groupArrayIf(t, step = ${i + 1}) AS t${i}`).join(', ')},
          ${q.mode === 'unordered' ? '0' : `windowFunnel({window:UInt64}${q.mode === 'strict' ? ", 'strict_order'" : ''})(toDateTime(t), ${q.steps.map((_, i) => `step = ${i + 1}`).join(', ')})`} AS ordered_level,
          ${q.breakdown !== undefined ? 'argMinIf(attr, t, step = 1)' : "''"} AS bd
        FROM (
          SELECT ${PERSON} AS person, e.Timestamp AS t,
            multiIf(${q.steps.map((_, i) => `e.EventName = {step${i}:String}, ${i + 1}`).join(', ')}, 0) AS step,
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
