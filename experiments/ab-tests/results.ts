/**
 * An experiment's results: per metric and variant the exposures, conversions and rate (Wilson interval) or mean
 * and standard deviation, and for each treatment its lift against the control (stats/compare.ts), with the
 * sample-ratio-mismatch check over the exposures. The sums come from ClickHouse (query/experiments.ts); numbers
 * that are undefined (a lift against a control at 0, a deviation of one person) are null in the reply.
 */
import { type ExperimentMetricQuery, experimentSums, type VariantSums } from '../../query/experiments.ts';
import type { Store } from '../../storage/store.ts';
import { compareMeans, compareRates, cupedLifts, type Lift } from '../stats/compare.ts';
import { wilsonInterval } from '../stats/rates.ts';
import { type SrmResult, sampleRatioMismatch } from '../stats/srm.ts';
import { type Interval, summarize } from '../stats/summary.ts';
import type { Experiment, Metric } from './definition.ts';

/** The CUPED covariate's window: as long as the experiment has run, at most this. */
export const MAX_PRE_WINDOW_MS = 14 * 86_400_000;

export interface VariantResult {
  id: string;
  name: string;
  isControl: boolean;
  exposures: number;
  conversions?: number;
  rate?: number;
  rateCi95?: Interval;
  mean?: number;
  stddev?: number;
  lift?: Lift;
}

export interface MetricResult {
  id: string;
  name: string;
  type: Metric['type'];
  isPrimary: boolean;
  variants: VariantResult[];
}

export interface ExperimentResults {
  id: string;
  name: string;
  status: Experiment['status'];
  flagKey: string;
  /** The range analysed (ISO 8601): exposures and outcomes in [from, to). */
  from: string;
  to: string;
  exposures: number;
  /** Persons seen with more than one variant (counted in their first). */
  multipleVariantExposures: number;
  srm: SrmResult;
  metrics: MetricResult[];
}

const metricQuery = (m: Metric): ExperimentMetricQuery =>
  m.type === 'conversion'
    ? { kind: 'conversion', event: m.event ?? m.id }
    : m.type === 'mean'
      ? { kind: 'mean', attribute: m.attribute, event: m.event, aggregation: m.aggregation }
      : { kind: 'catalog', metric: m.metric };

const EMPTY = (variant: string): VariantSums => ({
  variant,
  exposed: 0,
  multipleVariants: 0,
  n: 0,
  sum: 0,
  sumSquares: 0,
  sumX: 0,
  sumXSquares: 0,
  sumXY: 0,
  withCovariate: 0,
});

export async function experimentResults(store: Store, tenantId: string, e: Experiment, nowMs: number): Promise<ExperimentResults> {
  const startMs = Date.parse(e.startAt ?? e.createdAt);
  // The present millisecond included: events acknowledged just now count.
  const endMs = e.endAt !== null ? Math.min(Date.parse(e.endAt), nowMs + 1) : nowMs + 1;
  const preWindowMs = Math.min(Math.max(endMs - startMs, 0), MAX_PRE_WINDOW_MS);
  const variantIds = e.variants.map((v) => v.id);
  const sums = await Promise.all(
    e.metrics.map((m) =>
      experimentSums(store, {
        tenantId,
        flagKey: e.flagKey,
        variants: variantIds,
        startMs,
        endMs: Math.max(endMs, startMs),
        preWindowMs,
        metric: metricQuery(m),
      }),
    ),
  );
  const perMetric = sums.map((rows) => {
    const byVariant = new Map(rows.map((r) => [r.variant, r]));
    return e.variants.map((v) => byVariant.get(v.id) ?? EMPTY(v.id));
  });
  const exposures = perMetric[0];
  const observed: Record<string, number> = Object.create(null);
  const allocations: Record<string, number> = Object.create(null);
  e.variants.forEach((v, i) => {
    observed[v.id] = exposures[i].exposed;
    allocations[v.id] = v.allocation;
  });
  const controlIndex = e.variants.findIndex((v) => v.isControl);
  return {
    id: e.id,
    name: e.name,
    status: e.status,
    flagKey: e.flagKey,
    from: new Date(startMs).toISOString(),
    to: new Date(endMs).toISOString(),
    exposures: exposures.reduce((s, v) => s + v.exposed, 0),
    multipleVariantExposures: exposures.reduce((s, v) => s + v.multipleVariants, 0),
    srm: sampleRatioMismatch(observed, allocations),
    metrics: e.metrics.map((m, i) => metricResult(e, m, perMetric[i], controlIndex)),
  };
}

function metricResult(e: Experiment, m: Metric, sums: VariantSums[], controlIndex: number): MetricResult {
  const control = sums[controlIndex];
  const cuped = sums.some((s) => s.withCovariate > 0) ? cupedLifts(sums, controlIndex) : undefined;
  const variants = e.variants.map((v, i): VariantResult => {
    const s = sums[i];
    const base = { id: v.id, name: v.name, isControl: v.isControl, exposures: s.exposed };
    let out: VariantResult;
    let lift: Lift | undefined;
    if (m.type === 'conversion') {
      out = { ...base, conversions: s.sum, rate: s.n > 0 ? s.sum / s.n : Number.NaN, rateCi95: wilsonInterval({ n: s.n, conversions: s.sum }) };
      if (i !== controlIndex) lift = compareRates({ n: control.n, conversions: control.sum }, { n: s.n, conversions: s.sum });
    } else {
      const summary = summarize(s);
      out = { ...base, mean: summary.mean, stddev: Math.sqrt(summary.variance) };
      if (i !== controlIndex) lift = compareMeans(control, s);
    }
    if (lift) {
      const c = cuped?.[i];
      out.lift = c ? { ...lift, cuped: c } : lift;
    }
    return out;
  });
  return { id: m.id, name: m.name, type: m.type, isPrimary: m.isPrimary, variants };
}
