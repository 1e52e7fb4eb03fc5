/**
 * The SLI metrics' names and shapes, shared by the observer (sli.ts, tenant-series.ts), the rule generator and
 * the dashboards: which SLIs the catalog has, what each is called in Prometheus, its latency buckets, and where
 * its numbers sit in a tenant's cells.
 */
import { METRICS, type SliDef } from '../query/catalog.ts';
import type { AlertingConfig } from './config.ts';

/** The catalog's SLIs, one per id. */
export const SLIS: readonly SliDef[] = [...new Map(METRICS.flatMap((m) => (m.sli ? [[m.sli.id, m.sli] as const] : []))).values()];

export const latencyMetricName = (id: string) => `signalhouse_sli_${id}_seconds`;
export const ratioMetricNames = (id: string) => ({ total: `signalhouse_sli_${id}_total`, good: `signalhouse_sli_${id}_good_total` });
/** A bucket bound (ms) as its `le` label value (seconds); the rules match buckets by exactly this text. */
export const leLabel = (ms: number) => String(ms / 1000);

/** A latency SLI's bucket bounds (ms): the configured buckets plus every SLO threshold on it, ascending. */
export function latencyBoundsMs(config: AlertingConfig, id: string): number[] {
  const bounds = new Set(config.latencyBucketsMs);
  for (const slo of config.slos) if (slo.sli.id === id && slo.threshold !== undefined) bounds.add(slo.threshold);
  return [...bounds].sort((a, b) => a - b);
}

/** Where each SLI's numbers sit in a tenant's cells: latency [bucket counts…, overflow, sum (s), count]; ratio [total, good]. */
export interface CellLayout {
  readonly size: number;
  readonly latency: ReadonlyMap<string, { readonly at: number; readonly boundsMs: Float64Array }>;
  readonly ratio: ReadonlyMap<string, number>;
}

export function cellLayout(config: AlertingConfig): CellLayout {
  let size = 0;
  const latency = new Map<string, { at: number; boundsMs: Float64Array }>();
  const ratio = new Map<string, number>();
  for (const sli of SLIS) {
    if (sli.kind === 'latency') {
      const boundsMs = Float64Array.from(latencyBoundsMs(config, sli.id));
      latency.set(sli.id, { at: size, boundsMs });
      size += boundsMs.length + 3;
    } else {
      ratio.set(sli.id, size);
      size += 2;
    }
  }
  return { size, latency, ratio };
}
