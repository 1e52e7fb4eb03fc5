/**
 * Reports over the metric catalog: one value per metric over a range (summary), one per bucket (time series),
 * each from the raw events or the rollup. The routes validate requests and call these; the SQL comes from the
 * catalog (sql.ts) with every value bound.
 */
import { SignalhouseError } from '../core/errors.ts';
import { readRows, type Store } from '../storage/store.ts';
import { EXACT_QUANTILE_MAX_VALUES, type MetricDef } from './catalog.ts';
import { chooseSource, type MetricQuery, params, rollupSummaryCountedSql, rollupSummarySql, rollupTimeseriesSql, summarySql, timeseriesSql } from './sql.ts';

export type RequestedSource = 'auto' | 'raw' | 'rollup';

/** Quantile metrics: the rollup keeps their sketches, which read 422.01 for one value of 420. */
const isQuantile = (metric: MetricDef) => metric.rollup.aggregate.includes('quantilesDDMerge');

/** A number, or null for no data (NULL, NaN, ±Inf). */
function numberOrNull(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

export interface Reports {
  /** One value of `metric` over the range of `q`. */
  summary(metric: MetricDef, q: MetricQuery, source?: RequestedSource): Promise<number | null>;
  /** One point per bucket of `q.grainSeconds` from the range's start, null where a bucket holds no data. */
  timeseries(metric: MetricDef, q: MetricQuery & { grainSeconds: number }, source: RequestedSource): Promise<Array<{ t: string; value: number | null }>>;
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
  return {
    async summary(metric, q, source = 'raw') {
      const site = q.siteId !== undefined;
      const value = async (sql: string) => numberOrNull((await readRows<{ value: unknown }>(store, sql, params(q)))[0]?.value);
      const picked = pick(source, q);
      if (picked === 'rollup' && source === 'auto' && isQuantile(metric)) {
        // A long range may hold few values: those are answered exactly from the raw events, as short ranges are.
        const [counted] = await readRows<{ value: unknown; n: unknown }>(store, rollupSummaryCountedSql(db, metric, site), params(q));
        return Number(counted?.n ?? 0) > EXACT_QUANTILE_MAX_VALUES ? numberOrNull(counted.value) : value(summarySql(db, metric, site));
      }
      return value(picked === 'rollup' ? rollupSummarySql(db, metric, site) : summarySql(db, metric, site));
    },
    async timeseries(metric, q, source) {
      const site = q.siteId !== undefined;
      const sql = pick(source, q) === 'rollup' ? rollupTimeseriesSql(db, metric, site) : timeseriesSql(db, metric, site);
      const found = new Map<number, number | null>();
      for (const r of await readRows<{ bucket: unknown; value: unknown }>(store, sql, params(q))) found.set(Number(r.bucket), numberOrNull(r.value));
      const step = q.grainSeconds * 1000;
      const points: Array<{ t: string; value: number | null }> = [];
      for (let t = Math.floor(q.fromMs / step) * step; t < q.toMs; t += step) points.push({ t: new Date(t).toISOString(), value: found.get(t) ?? null });
      return points;
    },
  };
}
