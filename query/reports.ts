/**
 * Reports over the metric catalog: one value per metric over a range (summary), one per bucket (time series),
 * each from the raw events or the rollup. The routes validate requests and call these; the SQL comes from the
 * catalog (sql.ts) with every value bound. Several metrics over one range are one statement: their queries share
 * the range's parameters, so they run as branches of one `UNION ALL` (in parallel, and without a statement's fixed
 * cost per metric) rather than one after another.
 */
import { SignalhouseError } from '../core/errors.ts';
import { readRows, type Store } from '../storage/store.ts';
import { EXACT_QUANTILE_MAX_VALUES, type MetricDef } from './catalog.ts';
import {
  chooseSource,
  type MetricQuery,
  params,
  rollupOverviewSql,
  rollupSummaryCountedSql,
  rollupSummarySql,
  rollupTimeseriesSql,
  summarySql,
  timeseriesSql,
} from './sql.ts';

export type RequestedSource = 'auto' | 'raw' | 'rollup';
export type Points = Array<{ t: string; value: number | null }>;

/** Quantile metrics: the rollup keeps their sketches, which read 422.01 for one value of 420. */
const isQuantile = (metric: MetricDef) => metric.rollup.aggregate.includes('quantilesDDMerge');

/** A number, or null for no data (NULL, NaN, ±Inf). */
function numberOrNull(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

const asFloat = (column: string) => `CAST(${column} AS Nullable(Float64))`;

/** One statement of several metrics' queries, each row tagged with its metric's index `m`. */
function unionByMetric(queries: readonly string[], columns: (i: number) => string): string {
  return queries.map((sql, i) => `SELECT ${i} AS m, ${columns(i)} FROM (${sql})`).join(' UNION ALL ');
}

export interface Reports {
  /** One value of each metric over the range of `q`, in the order given. */
  summaries(metrics: readonly MetricDef[], q: MetricQuery, source?: RequestedSource): Promise<Array<number | null>>;
  /** One value of `metric` over the range of `q`. */
  summary(metric: MetricDef, q: MetricQuery, source?: RequestedSource): Promise<number | null>;
  /** Each metric's points: one per bucket of `q.grainSeconds` from the range's start, null where a bucket holds no data. */
  timeseriesOf(metrics: readonly MetricDef[], q: MetricQuery & { grainSeconds: number }, source: RequestedSource): Promise<Points[]>;
  timeseries(metric: MetricDef, q: MetricQuery & { grainSeconds: number }, source: RequestedSource): Promise<Points>;
  /** Each metric's summary and time series, as `summaries` and `timeseriesOf` answer them (the SLA overview). */
  overview(
    metrics: readonly MetricDef[],
    q: MetricQuery & { grainSeconds: number },
    source: RequestedSource,
  ): Promise<{ values: Array<number | null>; series: Points[] }>;
}

/** Rollup columns whose states are sets of ids (uniqExact): merging them costs more than everything else together. */
const SET_COLUMNS = /\b(Sessions|Bookings)\b/g;

/**
 * The overview's metrics (by index) split into statements that run side by side: one per set column a metric
 * reads, one for all the rest (sums and sketches). At long ranges a set column's merge takes most of the time, and
 * a single statement would do them one after the other on one core.
 */
function scanGroups(metrics: readonly MetricDef[]): number[][] {
  const groups = new Map<string, number[]>();
  metrics.forEach((m, i) => {
    const key = [...new Set(m.rollup.aggregate.match(SET_COLUMNS) ?? [])].sort().join(',');
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  return [...groups.values()];
}

/** Every bucket of the range in order, null where the query found no value. */
function pointsOf(byBucket: ReadonlyMap<number, number | null>, q: MetricQuery & { grainSeconds: number }): Points {
  const step = q.grainSeconds * 1000;
  const points: Points = [];
  for (let t = Math.floor(q.fromMs / step) * step; t < q.toMs; t += step) points.push({ t: new Date(t).toISOString(), value: byBucket.get(t) ?? null });
  return points;
}

/** `rollups`: whether the rollup is kept up to date; without it every report reads the raw events. */
export function createReports(store: Store, rollups: boolean): Reports {
  const db = store.database;
  const pick = (requested: RequestedSource, q: MetricQuery) => {
    if (!rollups) {
      if (requested === 'rollup') throw new SignalhouseError('BAD_REQUEST', 'source: rollups are disabled (exporters.clickhouse.rollups)');
      return 'raw';
    }
    return chooseSource(requested, q);
  };
  /** Each query's `value` (and `n`, where `counted(i)`), by index. */
  const values = async (queries: string[], q: MetricQuery, counted: (i: number) => boolean = () => false) => {
    const out: Array<{ value: number | null; n: number | null }> = queries.map(() => ({ value: null, n: null }));
    if (queries.length === 0) return out;
    const sql = unionByMetric(queries, (i) => `${asFloat('value')} AS value, ${asFloat(counted(i) ? 'n' : 'NULL')} AS n`);
    for (const r of await readRows<{ m: unknown; value: unknown; n: unknown }>(store, sql, params(q))) {
      out[Number(r.m)] = { value: numberOrNull(r.value), n: numberOrNull(r.n) };
    }
    return out;
  };
  const reports: Reports = {
    async summaries(metrics, q, source = 'raw') {
      const site = q.siteId !== undefined;
      const picked = pick(source, q);
      if (picked === 'raw')
        return (
          await values(
            metrics.map((m) => summarySql(db, m, site)),
            q,
          )
        ).map((r) => r.value);
      // A long range may hold few values of a quantile: those are answered exactly from the raw events, as short
      // ranges are, so the rollup's sketch counts them too.
      const counted = (i: number) => source === 'auto' && isQuantile(metrics[i]);
      const rolled = await values(
        metrics.map((m, i) => (counted(i) ? rollupSummaryCountedSql(db, m, site) : rollupSummarySql(db, m, site))),
        q,
        counted,
      );
      const few = metrics.map((_, i) => i).filter((i) => counted(i) && (rolled[i].n ?? 0) <= EXACT_QUANTILE_MAX_VALUES);
      const exact = await values(
        few.map((i) => summarySql(db, metrics[i], site)),
        q,
      );
      few.forEach((i, k) => {
        rolled[i] = exact[k];
      });
      return rolled.map((r) => r.value);
    },
    async summary(metric, q, source = 'raw') {
      return (await reports.summaries([metric], q, source))[0];
    },
    async timeseriesOf(metrics, q, source) {
      const site = q.siteId !== undefined;
      const build = pick(source, q) === 'rollup' ? rollupTimeseriesSql : timeseriesSql;
      const found = metrics.map(() => new Map<number, number | null>());
      if (metrics.length > 0) {
        const sql = unionByMetric(
          metrics.map((m) => build(db, m, site)),
          () => `toInt64(bucket) AS bucket, ${asFloat('value')} AS value`,
        );
        for (const r of await readRows<{ m: unknown; bucket: unknown; value: unknown }>(store, sql, params(q))) {
          found[Number(r.m)].set(Number(r.bucket), numberOrNull(r.value));
        }
      }
      return found.map((byBucket) => pointsOf(byBucket, q));
    },
    async timeseries(metric, q, source) {
      return (await reports.timeseriesOf([metric], q, source))[0];
    },
    async overview(metrics, q, source) {
      const { grainSeconds, ...range } = q;
      // Where both the values and the series come from the rollup, one scan serves them all; else each its way.
      if (metrics.length === 0 || pick(source, range) !== 'rollup' || pick(source, q) !== 'rollup') {
        const [values, series] = await Promise.all([reports.summaries(metrics, range, source), reports.timeseriesOf(metrics, q, source)]);
        return { values, series };
      }
      const found = metrics.map(() => new Map<number, number | null>());
      const totals: Array<{ value: number | null; n: number | null }> = metrics.map(() => ({ value: null, n: null }));
      await Promise.all(
        scanGroups(metrics).map(async (group) => {
          const sql = rollupOverviewSql(
            db,
            group.map((i) => metrics[i]),
            q.siteId !== undefined,
          );
          for (const r of await readRows<Record<string, unknown>>(store, sql, params(q))) {
            group.forEach((i, k) => {
              if (Number(r.total) === 1) totals[i] = { value: numberOrNull(r[`v${k}`]), n: numberOrNull(r[`n${k}`]) };
              else if (Number(r[`r${k}`]) > 0) found[i].set(Number(r.bucket), numberOrNull(r[`v${k}`]));
            });
          }
        }),
      );
      // As `summaries` does: a quantile over few values is answered exactly from the raw events.
      const few = metrics.map((_, i) => i).filter((i) => source === 'auto' && isQuantile(metrics[i]) && (totals[i].n ?? 0) <= EXACT_QUANTILE_MAX_VALUES);
      const exact = await values(
        few.map((i) => summarySql(db, metrics[i], q.siteId !== undefined)),
        range,
      );
      few.forEach((i, k) => {
        totals[i] = exact[k];
      });
      return { values: totals.map((t) => t.value), series: found.map((byBucket) => pointsOf(byBucket, q)) };
    },
  };
  return reports;
}
