/**
 * The SLI metrics' tenant label under a cap: at most `tenant_label_limit` tenants (default 200) have series of
 * their own, the rest share `__other__`, so a scrape stays bounded however many tenants there are. Tenants named
 * by per-tenant SLOs always keep theirs. The others are ranked by volume every `tenant_rerank_interval` (events
 * in the last interval plus half the previous score, so the ranking follows a change within a few intervals):
 * a tenant that falls out of the top N loses its series (Prometheus marks them stale) and counts under
 * `__other__` from then on; one that rises gets fresh series. Until the first ranking, tenants get their own in
 * the order they first send.
 *
 * Each series is one Float64Array (cell-layout in sli.ts); the metrics read them at scrape time, through metric
 * objects registered on prom-client's registry like its own.
 */
import type { Metric, Registry } from 'prom-client';
import type { AlertingConfig } from './config.ts';
import { type CellLayout, latencyMetricName, leLabel, ratioMetricNames, SLIS } from './sli-metrics.ts';

export const OTHER_TENANTS = '__other__';

interface Series {
  readonly label: string;
  cells: Float64Array;
}

interface Slot {
  series: Series;
  own: boolean;
  readonly pinned: boolean;
  /** Events since the last ranking. */
  volume: number;
  score: number;
}

export interface TenantSeries {
  /** The cells that count `n` events of `tenant`: its own, or `__other__`'s. */
  cellsFor(tenant: string, n: number): Float64Array;
  /** Ranks the tenants by volume now (it also runs on its interval). */
  rerank(): void;
  /** The tenant label values with series, `__other__` included once used. */
  labels(): string[];
  register(registry: Registry): void;
  stop(): void;
}

type Value = { value: number; labels: Record<string, string>; metricName?: string };

export function createTenantSeries(config: AlertingConfig, layout: CellLayout, pinnedTenants: readonly string[]): TenantSeries {
  const pinned = new Set(pinnedTenants);
  const room = config.tenantLabelLimit - pinned.size;
  const slots = new Map<string, Slot>();
  /** Exposed series by label. */
  const exposed = new Map<string, Series>();
  let ownUnpinned = 0;
  let other: Series | undefined;

  const fresh = (label: string): Series => {
    const s = { label, cells: new Float64Array(layout.size) };
    exposed.set(label, s);
    return s;
  };
  const otherSeries = () => (other ??= fresh(OTHER_TENANTS));

  function admit(tenant: string): Slot {
    const isPinned = pinned.has(tenant);
    const own = isPinned || ownUnpinned < room;
    if (own && !isPinned) ownUnpinned++;
    const slot: Slot = { series: own ? fresh(tenant) : otherSeries(), own, pinned: isPinned, volume: 0, score: 0 };
    slots.set(tenant, slot);
    return slot;
  }

  function rerank(): void {
    const ranked: Array<[string, Slot]> = [];
    for (const entry of slots) {
      const slot = entry[1];
      slot.score = slot.score / 2 + slot.volume;
      slot.volume = 0;
      if (!slot.pinned) ranked.push(entry);
    }
    // Ties keep the tenants that have series, so equal volumes do not swap labels back and forth.
    ranked.sort((a, b) => b[1].score - a[1].score || Number(b[1].own) - Number(a[1].own));
    ranked.forEach(([tenant, slot], i) => {
      const own = i < room;
      if (own === slot.own) return;
      slot.own = own;
      if (own) slot.series = fresh(tenant);
      else {
        exposed.delete(tenant);
        slot.series = otherSeries();
      }
    });
    ownUnpinned = Math.min(ranked.length, room);
  }

  const timer = setInterval(rerank, config.tenantRerankIntervalMs);
  timer.unref();

  /** A metric object read at scrape time, for prom-client's registry. */
  const metric = (name: string, help: string, type: 'histogram' | 'counter', values: (s: Series) => Value[]) =>
    ({
      name,
      help,
      type,
      aggregator: 'sum',
      async get() {
        const out: Value[] = [];
        for (const s of exposed.values()) for (const v of values(s)) out.push(v);
        return { name, help, type, aggregator: 'sum', values: out };
      },
      reset() {
        for (const s of exposed.values()) s.cells.fill(0);
      },
    }) as unknown as Metric;

  const metrics: Metric[] = [];
  for (const sli of SLIS) {
    if (sli.kind === 'latency') {
      const { at, boundsMs } = layout.latency.get(sli.id)!;
      const name = latencyMetricName(sli.id);
      const n = boundsMs.length;
      const les = Array.from(boundsMs, leLabel);
      metrics.push(
        metric(name, `Latency SLI ${sli.id} (seconds) of the events stored, after dedupe.`, 'histogram', (s) => {
          const tenant = s.label;
          const out: Value[] = [];
          let cumulative = 0;
          for (let i = 0; i < n; i++) {
            cumulative += s.cells[at + i];
            out.push({ value: cumulative, labels: { le: les[i], tenant }, metricName: `${name}_bucket` });
          }
          const count = s.cells[at + n + 2];
          out.push(
            { value: count, labels: { le: '+Inf', tenant }, metricName: `${name}_bucket` },
            { value: s.cells[at + n + 1], labels: { tenant }, metricName: `${name}_sum` },
            { value: count, labels: { tenant }, metricName: `${name}_count` },
          );
          return out;
        }),
      );
    } else {
      const at = layout.ratio.get(sli.id)!;
      const names = ratioMetricNames(sli.id);
      metrics.push(
        metric(names.total, `Records counted by the ratio SLI ${sli.id}, of the events stored, after dedupe.`, 'counter', (s) => [
          { value: s.cells[at], labels: { tenant: s.label } },
        ]),
        metric(names.good, `Good records of the ratio SLI ${sli.id} (${sli.good}).`, 'counter', (s) => [
          { value: s.cells[at + 1], labels: { tenant: s.label } },
        ]),
      );
    }
  }

  return {
    cellsFor(tenant, n) {
      let slot = slots.get(tenant);
      if (slot === undefined) slot = admit(tenant);
      slot.volume += n;
      return slot.series.cells;
    },
    rerank,
    labels: () => [...exposed.keys()],
    register(registry) {
      for (const m of metrics) registry.registerMetric(m);
    },
    stop: () => clearInterval(timer),
  };
}
