/**
 * SLO counts over the raw events, for the built-in alert evaluator (alerting/evaluator.ts): per tenant, how many
 * of a catalog metric's records are good and how many count, in each of several windows ending at the same
 * instant, all in one scan of the longest window. Event time decides which window a record falls in. A latency
 * SLI counts the records with a value (good: value ≤ `{threshold:Float64}`, in the metric's unit); a ratio SLI
 * the catalog's own `good` and `total` conditions. Tenants and times are bound parameters; the text comes from
 * the catalog only.
 */
import { readRows, type Store } from '../storage/store.ts';
import type { MetricDef, SliDef } from './catalog.ts';
import { sourceRows } from './sql.ts';

export interface SloCountsQuery {
  /** Tenants to count; empty: every tenant with records. */
  tenants: readonly string[];
  /** The end of every window, in milliseconds since the epoch (exclusive). */
  toMs: number;
  /** Window lengths in milliseconds. */
  windowsMs: readonly number[];
  /** A latency SLI's threshold, in the metric's unit (ms). */
  threshold?: number;
}

export interface SloCounts {
  tenant: string;
  /** Per window, in the order asked: records counted, and the good ones among them. */
  windows: Array<{ total: number; good: number }>;
}

function conditions(sli: SliDef): { good: string; total: string } {
  if (sli.kind === 'latency') return { total: `${sli.column} IS NOT NULL`, good: `${sli.column} <= {threshold:Float64}` };
  return { total: sli.total, good: `(${sli.total}) AND (${sli.good})` };
}

/** The SQL: one row per tenant, `total<i>` and `good<i>` per window `i` starting at `{start<i>:Int64}`. */
export function sloCountsSql(db: string, metric: MetricDef, windows: number): string {
  if (!metric.sli) throw new Error(`metric ${metric.name} has no SLI`);
  const { good, total } = conditions(metric.sli);
  const columns: string[] = [];
  for (let i = 0; i < windows; i++) {
    const inWindow = `t >= fromUnixTimestamp64Milli({start${i}:Int64})`;
    columns.push(`countIf(${inWindow} AND (${total})) AS total${i}`, `countIf(${inWindow} AND (${good})) AS good${i}`);
  }
  return `SELECT tenant, ${columns.join(', ')} FROM (${sourceRows(db, metric.source, false, 'many')}) GROUP BY tenant ORDER BY tenant`;
}

export async function sloCounts(store: Store, metric: MetricDef, q: SloCountsQuery): Promise<SloCounts[]> {
  const longest = Math.max(...q.windowsMs);
  const params: Record<string, unknown> = { tenants: q.tenants, from: q.toMs - longest, to: q.toMs, threshold: q.threshold ?? 0 };
  q.windowsMs.forEach((w, i) => {
    params[`start${i}`] = q.toMs - w;
  });
  const rows = await readRows<Record<string, unknown>>(store, sloCountsSql(store.database, metric, q.windowsMs.length), params);
  return rows.map((r) => ({
    tenant: String(r.tenant),
    windows: q.windowsMs.map((_, i) => ({ total: Number(r[`total${i}`]), good: Number(r[`good${i}`]) })),
  }));
}
