/**
 * The per-variant sums of an A/B experiment's metric, computed in ClickHouse over the stored events. Only sums
 * come back (one row per variant); the statistics run on them in experiments/stats.
 *
 * Exposure: a person's first `$feature_flag_called` event for the experiment's flag (the PostHog receiver keeps
 * its properties under their own keys, `$feature_flag` and `$feature_flag_response`) whose response is one of
 * the experiment's variants, in [start, end). The person is the stitched one funnels count (query/explore.ts,
 * PERSON); their variant is that first event's response; persons seen with more than one variant are counted in
 * their first and reported.
 *
 * Per person, the metric's value over their events after exposure (and before the end) is the outcome y, and the
 * same value over the `preWindowMs` before their exposure is the CUPED covariate x (0 when they had no events
 * then). What the value is, per metric kind:
 * - `conversion`: 1 if the person has at least one `event` after exposure, else 0;
 * - `mean`: the mean or the sum of a numeric attribute over the person's events carrying it (of `event` only,
 *   when given); for the mean, persons without such an event have no value and are left out, for the sum they
 *   count 0;
 * - `catalog`: the catalog metric's own aggregate over the person's rows of its event source (spans name no
 *   person, so only metrics with an event source qualify); count metrics give 0 to persons without rows, the
 *   others (rates, means, quantiles) leave such persons out.
 * Every value is a bound parameter; what is pasted comes from the catalog.
 */
import { sqlString as quote, readRows, type Store } from '../storage/store.ts';
import { METRICS_BY_NAME, type MetricDef } from './catalog.ts';
import { linksWith, PERSON } from './explore.ts';

export type ExperimentMetricQuery =
  | { kind: 'conversion'; event: string }
  | { kind: 'mean'; attribute: string; event?: string; aggregation: 'mean' | 'sum' }
  | { kind: 'catalog'; metric: string };

export interface ExperimentQuery {
  tenantId: string;
  flagKey: string;
  /** The experiment's variant ids: the flag responses that are exposures. */
  variants: readonly string[];
  /** Epoch ms: exposures and outcomes in [startMs, endMs). */
  startMs: number;
  endMs: number;
  /** How far before each person's exposure the covariate reaches. */
  preWindowMs: number;
  metric: ExperimentMetricQuery;
}

export interface VariantSums {
  variant: string;
  /** Persons exposed to this variant first. */
  exposed: number;
  /** Of those, persons also seen with another variant. */
  multipleVariants: number;
  /** Persons with a value (y), and the sums over them of y, y², x, x², xy. */
  n: number;
  sum: number;
  sumSquares: number;
  sumX: number;
  sumXSquares: number;
  sumXY: number;
  /** Persons with a value who had events before exposure too. */
  withCovariate: number;
}

/** The catalog metrics an experiment can measure per person: those with an event source. */
export const PER_PERSON_CATALOG_METRICS: readonly string[] = [...METRICS_BY_NAME.values()].filter((m) => m.source.logs).map((m) => m.name);

const range = (column: string, from: string, to: string) =>
  `e.TimestampTime >= toDateTime(intDiv({${from}:Int64}, 1000)) AND e.TimestampTime <= toDateTime(intDiv({${to}:Int64}, 1000)) ` +
  `AND ${column} >= fromUnixTimestamp64Milli({${from}:Int64}) AND ${column} < fromUnixTimestamp64Milli({${to}:Int64})`;

/** Each exposed person: first variant, first exposure (epoch ms) and how many variants they were seen with. */
function exposuresSql(db: string): string {
  return `SELECT person, argMin(response, ts) AS variant, min(ts) AS exposedAt, uniqExact(response) AS variants FROM (
      SELECT ${PERSON} AS person, e.LogAttributes['$feature_flag_response'] AS response, toUnixTimestamp64Milli(e.Timestamp) AS ts
      FROM ${db}.otel_logs AS e
      WHERE e.TenantId = {tenant:String} AND e.EventName = '$feature_flag_called' AND e.LogAttributes['$feature_flag'] = {flag:String}
        AND ${range('e.Timestamp', 'start', 'end')} AND e.LogAttributes['$feature_flag_response'] IN {variants:Array(String)}
    ) WHERE person != '' GROUP BY person`;
}

interface MetricRows {
  /** WHERE condition on otel_logs `e`, value columns (name → expression) and the per-person aggregate over them. */
  where: string;
  columns: Record<string, string>;
  aggregate: string;
  /** Persons without rows count 0 (else they have no value and are left out). */
  zeroWhenMissing: boolean;
}

function metricRows(metric: ExperimentMetricQuery): MetricRows {
  switch (metric.kind) {
    case 'conversion':
      return { where: 'e.EventName = {event:String}', columns: {}, aggregate: '1', zeroWhenMissing: true };
    case 'mean':
      return {
        where: `${metric.event !== undefined ? 'e.EventName = {event:String} AND ' : ''}mapContains(e.LogAttributes, {attribute:String})`,
        columns: { v: 'toFloat64OrNull(e.LogAttributes[{attribute:String}])' },
        aggregate: metric.aggregation === 'sum' ? 'sum(v)' : 'avg(v)',
        zeroWhenMissing: metric.aggregation === 'sum',
      };
    case 'catalog': {
      const def = METRICS_BY_NAME.get(metric.metric) as MetricDef;
      return {
        where: `e.EventName IN (${(def.source.logs ?? []).map(quote).join(', ')})`,
        columns: Object.fromEntries(Object.entries(def.source.columns).map(([name, c]) => [name, c.logs ?? 'NULL'])),
        aggregate: def.aggregate,
        zeroWhenMissing: def.unit === 'count',
      };
    }
  }
}

export function experimentSql(db: string, metric: ExperimentMetricQuery): string {
  const rows = metricRows(metric);
  const names = Object.keys(rows.columns);
  const y = rows.zeroWhenMissing ? 'coalesce(post, 0)' : 'post';
  const x = 'coalesce(pre, 0)';
  const has = `${y} IS NOT NULL`;
  // Exposures and metric rows are read once each and joined on the person; each joined row's phase says where it
  // falls: after exposure (1), in the window before it (0), elsewhere or no row at all (-1, kept so that every
  // exposed person stays, and ignored).
  return `${linksWith(db)}
    SELECT variant, count() AS exposed, countIf(variants > 1) AS multiple,
      countIf(${has}) AS n, sum(${y}) AS sy, sum(${y} * ${y}) AS syy,
      sumIf(${x}, ${has}) AS sx, sumIf(${x} * ${x}, ${has}) AS sxx, sumIf(${x} * ${y}, ${has}) AS sxy,
      countIf(pre IS NOT NULL AND ${has}) AS covariate
    FROM (
      SELECT person, any(variant) AS variant, any(variants) AS variants, anyIf(finite, phase = 1) AS post, anyIf(finite, phase = 0) AS pre
      FROM (
        SELECT person, variant, variants, phase, CAST(${rows.aggregate} AS Nullable(Float64)) AS value, if(isNaN(value), NULL, value) AS finite
        FROM (
          SELECT x.person AS person, x.variant AS variant, x.variants AS variants,
            multiIf(r.t IS NULL, -1, r.t >= x.exposedAt, 1, r.t >= x.exposedAt - {preWindow:Int64}, 0, -1) AS phase${names.map((n) => `, r.${n} AS ${n}`).join('')}
          FROM (${exposuresSql(db)}) AS x
          LEFT JOIN (
            SELECT ${PERSON} AS person, toUnixTimestamp64Milli(e.Timestamp) AS t${names.map((n) => `, ${rows.columns[n]} AS ${n}`).join('')}
            FROM ${db}.otel_logs AS e
            WHERE e.TenantId = {tenant:String} AND ${rows.where} AND ${range('e.Timestamp', 'scanFrom', 'end')}
          ) AS r ON r.person = x.person
        )
        GROUP BY person, variant, variants, phase
      )
      GROUP BY person
    )
    GROUP BY variant
    SETTINGS join_use_nulls = 1`;
}

export async function experimentSums(store: Store, q: ExperimentQuery): Promise<VariantSums[]> {
  const params: Record<string, unknown> = {
    tenant: q.tenantId,
    flag: q.flagKey,
    variants: q.variants,
    start: q.startMs,
    end: q.endMs,
    scanFrom: q.startMs - q.preWindowMs,
    preWindow: q.preWindowMs,
    event: q.metric.kind === 'catalog' ? '' : (q.metric.event ?? ''),
    attribute: q.metric.kind === 'mean' ? q.metric.attribute : '',
  };
  const rows = await readRows<Record<string, string | number | null>>(store, experimentSql(store.database, q.metric), params);
  const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));
  return rows.map((r) => ({
    variant: String(r.variant),
    exposed: num(r.exposed),
    multipleVariants: num(r.multiple),
    n: num(r.n),
    sum: num(r.sy),
    sumSquares: num(r.syy),
    sumX: num(r.sx),
    sumXSquares: num(r.sxx),
    sumXY: num(r.sxy),
    withCovariate: num(r.covariate),
  }));
}
