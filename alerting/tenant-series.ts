/**
 * The SLI metrics' tenant label under a cap: at most `tenant_label_limit` tenants (default 200) have series of
 * their own, the rest share `__other__`, so a scrape stays bounded however many tenants there are. Tenants named
 * by per-tenant SLOs always keep theirs. The others are ranked by volume every `tenant_rerank_interval` (events
 * in the last interval plus half the previous score, so the ranking follows a change within a few intervals):
 * a tenant that falls out of the top N loses its series (Prometheus marks them stale) and counts under
 * `__other__` from then on; one that rises gets fresh series. Until the first ranking, tenants get their own in
 * the order they first send.
 *
 * Each series is one Float64Array (the cell layout of sli-metrics.ts), written out at scrape time.
 */
import type { AlertingConfig } from './config.ts';
import { type CellLayout, latencyMetricName, leLabel, ratioMetricNames, SLIS } from './sli-metrics.ts';

export const OTHER_TENANTS = '__other__';

interface Series {
  readonly label: string;
  cells: Float64Array;
  /** Per SLI family, the text before each sample's value. */
  readonly prefixes: ReadonlyArray<readonly string[]>;
}

interface Slot {
  series: Series;
  own: boolean;
  readonly pinned: boolean;
  /** Events since the last ranking. */
  volume: number;
  score: number;
}

/** One metric family of the exposition: its HELP and TYPE lines, each series' line prefixes, its samples. */
interface Family {
  readonly head: string;
  prefixes(tenant: string): string[];
  write(out: string[], cells: Float64Array, prefixes: readonly string[]): void;
}

export interface TenantSeries {
  /** The cells that count `n` events of `tenant`: its own, or `__other__`'s. */
  cellsFor(tenant: string, n: number): Float64Array;
  /** Ranks the tenants by volume now (it also runs on its interval). */
  rerank(): void;
  /** The tenant label values with series, `__other__` included once used. */
  labels(): string[];
  /** The SLI metrics in the Prometheus text format (each line ends with a newline). */
  exposition(): string;
  stop(): void;
}

export function createTenantSeries(config: AlertingConfig, layout: CellLayout, pinnedTenants: readonly string[]): TenantSeries {
  const pinned = new Set(pinnedTenants);
  const room = config.tenantLabelLimit - pinned.size;
  const slots = new Map<string, Slot>();
  /** Exposed series by label. */
  const exposed = new Map<string, Series>();
  let ownUnpinned = 0;
  let other: Series | undefined;

  const fresh = (label: string): Series => {
    const s = { label, cells: new Float64Array(layout.size), prefixes: families.map((f) => f.prefixes(label)) };
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

  /**
   * The metrics, per SLI, in the Prometheus text format: each series' line prefixes (name and labels) are built
   * once when the series is, so a scrape only adds numbers (12k samples at 200 tenants in a few ms; prom-client's
   * registry formats every label of every sample on each scrape, ~50× slower).
   */
  const families: Family[] = SLIS.flatMap((sli): Family[] => {
    if (sli.kind === 'latency') {
      const { at, boundsMs } = layout.latency.get(sli.id)!;
      const name = latencyMetricName(sli.id);
      const n = boundsMs.length;
      const les = [...Array.from(boundsMs, leLabel), '+Inf'];
      return [
        {
          head: `# HELP ${name} Latency SLI ${sli.id} (seconds) of the events stored, after dedupe.\n# TYPE ${name} histogram`,
          prefixes: (tenant) => [
            ...les.map((le) => `${name}_bucket{le="${le}",tenant="${tenant}"} `),
            `${name}_sum{tenant="${tenant}"} `,
            `${name}_count{tenant="${tenant}"} `,
          ],
          write(out, cells, prefixes) {
            let cumulative = 0;
            for (let i = 0; i <= n; i++) {
              cumulative += cells[at + i];
              out.push(prefixes[i] + cumulative);
            }
            out.push(prefixes[n + 1] + cells[at + n + 1], prefixes[n + 2] + cells[at + n + 2]);
          },
        },
      ];
    }
    const at = layout.ratio.get(sli.id)!;
    const names = ratioMetricNames(sli.id);
    const counter = (name: string, help: string, offset: number): Family => ({
      head: `# HELP ${name} ${help}\n# TYPE ${name} counter`,
      prefixes: (tenant) => [`${name}{tenant="${tenant}"} `],
      write: (out, cells, prefixes) => out.push(prefixes[0] + cells[at + offset]),
    });
    return [
      counter(names.total, `Records counted by the ratio SLI ${sli.id}, of the events stored, after dedupe.`, 0),
      counter(names.good, `Good records of the ratio SLI ${sli.id} (${sli.good}).`, 1),
    ];
  });

  function exposition(): string {
    const out: string[] = [];
    families.forEach((f, k) => {
      out.push(f.head);
      for (const s of exposed.values()) f.write(out, s.cells, s.prefixes[k]);
    });
    return `${out.join('\n')}\n`;
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
    exposition,
    stop: () => clearInterval(timer),
  };
}
