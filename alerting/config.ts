/**
 * The `alerting` section of signalhouse.yaml: SLOs as data over the metric catalog, the burn-rate windows, the
 * tenant label cap of the SLI metrics, the built-in evaluator and where it sends alerts. The core config loader
 * keeps the section as given; this module validates it when the service starts (and when rules are generated),
 * against the catalog and the configured tenants, reporting every problem by its path at once (ConfigError).
 */
import { z } from 'zod';
import { ConfigError } from '../core/config.ts';
import { durationMs } from '../core/units.ts';
import { METRICS, METRICS_BY_NAME, type MetricDef, type SliDef } from '../query/catalog.ts';

export type Severity = 'page' | 'ticket';

export interface BurnRate {
  readonly longMs: number;
  readonly shortMs: number;
  /** How many times faster than "exactly spent at the end of the SLO window" the budget burns. */
  readonly factor: number;
  readonly severity: Severity;
}

/** The SRE workbook's multiwindow, multi-burn-rate alerts: 2% of a 30-day budget in 1 h, 5% in 6 h, 10% in 3 days. */
export const DEFAULT_BURN_RATES: readonly BurnRate[] = [
  { longMs: 3_600_000, shortMs: 300_000, factor: 14.4, severity: 'page' },
  { longMs: 6 * 3_600_000, shortMs: 1_800_000, factor: 6, severity: 'page' },
  { longMs: 3 * 86_400_000, shortMs: 6 * 3_600_000, factor: 1, severity: 'ticket' },
];

/** Latency buckets (ms) every latency SLI has; each SLO adds its threshold. */
export const DEFAULT_LATENCY_BUCKETS_MS = [10, 25, 50, 100, 150, 200, 300, 500, 800, 1000, 1500, 2000, 3000, 5000, 10_000];

export interface Slo {
  readonly name: string;
  readonly description: string;
  readonly metric: MetricDef;
  readonly sli: SliDef;
  /** Latency SLIs: a record is good when its value is at most this (the metric's unit, ms). */
  readonly threshold?: number;
  /** The share of good records the SLO promises, in (0, 1). */
  readonly objective: number;
  /** 1 − objective: the share of records allowed to be bad. */
  readonly budget: number;
  readonly windowMs: number;
  /** The tenants it applies to; undefined: every tenant. */
  readonly tenants?: readonly string[];
  /** Records the objective alert's window must hold before it may fire. */
  readonly minEvents: number;
}

export interface AlertingConfig {
  readonly evaluationIntervalMs: number;
  /** Observe the SLI metrics at ingest (`/metrics`). */
  readonly sliMetrics: boolean;
  readonly tenantLabelLimit: number;
  readonly tenantRerankIntervalMs: number;
  readonly latencyBucketsMs: readonly number[];
  readonly burnRates: readonly BurnRate[];
  /** The objective (percentile threshold) alert: its window and severity. */
  readonly objectiveAlert: { readonly windowMs: number; readonly severity: Severity };
  readonly evaluator: { readonly enabled: boolean };
  readonly alertmanager?: { readonly url: string; readonly timeoutMs: number };
  readonly webhook?: { readonly url: string; readonly headers: Readonly<Record<string, string>>; readonly timeoutMs: number };
  readonly slos: readonly Slo[];
}

/** Shares rounded to 12 digits: "99.9%" is 0.999 and its budget 0.001, not 0.0010000000000000009. */
const round = (x: number) => Number(x.toPrecision(12));

const severity = z.enum(['page', 'ticket']);
const positiveDuration = (min: number) => durationMs.pipe(z.number().min(min, `must be at least ${min} ms`));
const httpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });
const objective = z
  .union([z.number(), z.string().regex(/^\s*\d+(\.\d+)?\s*%\s*$/, 'a share like 0.99 or "99%"')])
  .transform((v) => (typeof v === 'number' ? v : round(Number(v.replace('%', '')) / 100)))
  .pipe(z.number().gt(0, 'must be above 0').lt(1, 'must be below 1 (100% leaves no error budget)'));

const sloSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lowercase letters, digits, "_", "-", "." (at most 64)'),
  description: z.string().max(500).optional(),
  /** A catalog metric (GET /api/v1/analytics/metrics) with an SLI. */
  metric: z.string(),
  /** Latency metrics: a record is good when its value is at most this ("800ms", "1.5s" or a number of ms). */
  threshold: positiveDuration(0.001).optional(),
  /** The share of good records promised; latency metrics default to their percentile (p99: 0.99). */
  objective: objective.optional(),
  window: positiveDuration(60_000).default(30 * 86_400_000),
  /** Tenant ids; absent: every tenant. */
  tenants: z.array(z.string()).min(1).optional(),
  min_events: z.number().int().min(1).default(100),
});

const burnRateSchema = z
  .strictObject({ long: positiveDuration(1000), short: positiveDuration(1000), factor: z.number().positive(), severity })
  .refine((b) => b.short < b.long, { path: ['short'], message: 'must be shorter than long' });

const alertingSchema = z.strictObject({
  evaluation_interval: positiveDuration(1000).default(60_000),
  sli_metrics: z.boolean().default(true),
  tenant_label_limit: z.number().int().min(1).max(100_000).default(200),
  tenant_rerank_interval: positiveDuration(1000).default(600_000),
  latency_buckets: z.array(z.number().positive()).min(1).optional(),
  burn_rates: z.array(burnRateSchema).min(1).optional(),
  objective_alert: z.strictObject({ window: positiveDuration(1000).default(600_000), severity: severity.default('ticket') }).prefault({}),
  evaluator: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
  alertmanager: z.strictObject({ url: httpUrl, timeout: positiveDuration(1).default(5000) }).optional(),
  webhook: z.strictObject({ url: httpUrl, headers: z.record(z.string(), z.string()).default({}), timeout: positiveDuration(1).default(5000) }).optional(),
  slos: z.array(sloSchema).default([]),
});

type RawSlo = z.infer<typeof sloSchema>;

const SLI_METRICS = METRICS.filter((m) => m.sli).map((m) => m.name);

/** The SLO of one entry, or problems pushed (paths from `alerting.slos.<i>`). */
function resolveSlo(raw: RawSlo, i: number, tenantIds: ReadonlySet<string>, problems: string[]): Slo | undefined {
  const at = (field: string) => `alerting.slos.${i}.${field}`;
  const before = problems.length;
  const metric = METRICS_BY_NAME.get(raw.metric);
  if (!metric) problems.push(`${at('metric')}: unknown metric "${raw.metric}" (SLOs take ${SLI_METRICS.join(', ')})`);
  else if (!metric.sli) problems.push(`${at('metric')}: "${raw.metric}" is not a per-record latency or ratio (SLOs take ${SLI_METRICS.join(', ')})`);
  const sli = metric?.sli;
  if (sli?.kind === 'latency' && raw.threshold === undefined) problems.push(`${at('threshold')}: required for a latency metric (e.g. 800ms)`);
  if (sli?.kind === 'ratio' && raw.threshold !== undefined) problems.push(`${at('threshold')}: only latency metrics take a threshold`);
  if (sli?.kind === 'ratio' && raw.objective === undefined) {
    problems.push(`${at('objective')}: required for a ratio metric (${metric!.better === 'higher' ? 'at least' : 'at most'} this share, e.g. 0.98)`);
  }
  raw.tenants?.forEach((t, j) => {
    if (!tenantIds.has(t)) problems.push(`${at(`tenants.${j}`)}: unknown tenant "${t}" (tenants: ${[...tenantIds].join(', ')})`);
    if (raw.tenants!.indexOf(t) !== j) problems.push(`${at(`tenants.${j}`)}: "${t}" is listed twice`);
  });
  if (problems.length > before || !metric || !sli) return undefined;
  // A ratio whose lower values are better (the error rate) promises at most `objective` bad records.
  const good = round(sli.kind === 'latency' ? (raw.objective ?? sli.level) : metric.better === 'higher' ? raw.objective! : 1 - raw.objective!);
  const stated =
    sli.kind === 'latency'
      ? `${percent(good)} of ${metric.name.replace(/\.p\d+$/, '')} within ${raw.threshold} ms`
      : `${metric.name} ${metric.better === 'higher' ? '≥' : '≤'} ${raw.objective}`;
  return {
    name: raw.name,
    description: raw.description ?? `${stated} over ${formatWindow(raw.window)}`,
    metric,
    sli,
    threshold: raw.threshold,
    objective: good,
    budget: round(1 - good),
    windowMs: raw.window,
    tenants: raw.tenants,
    minEvents: raw.min_events,
  };
}

/** 0.99 → "99%", 0.999 → "99.9%". */
export function percent(share: number): string {
  return `${Number((share * 100).toPrecision(10))}%`;
}

/** A window as people write it: 30d, 6h, 5m, 10s. */
export function formatWindow(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * Validates the `alerting` section (`raw`, as the config file gave it) against the catalog and `tenantIds`.
 * Throws ConfigError listing every problem by path.
 */
export function parseAlertingConfig(raw: unknown, tenantIds: readonly string[]): AlertingConfig {
  const problems: string[] = [];
  const parsed = alertingSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`alerting${issue.path.map((p) => `.${String(p)}`).join('')}: ${issue.message}`);
    throw new ConfigError('alerting', problems);
  }
  const a = parsed.data;
  const burnRates = a.burn_rates?.map((b) => ({ longMs: b.long, shortMs: b.short, factor: b.factor, severity: b.severity })) ?? DEFAULT_BURN_RATES;
  const longest = Math.max(...burnRates.map((b) => b.longMs));
  const tenants = new Set(tenantIds);
  const slos: Slo[] = [];
  const names = new Set<string>();
  a.slos.forEach((s, i) => {
    if (names.has(s.name)) problems.push(`alerting.slos.${i}.name: duplicate SLO name "${s.name}"`);
    names.add(s.name);
    if (s.window < longest) problems.push(`alerting.slos.${i}.window: must be at least the longest burn-rate window (${formatWindow(longest)})`);
    const slo = resolveSlo(s, i, tenants, problems);
    if (slo) slos.push(slo);
  });
  const pinned = new Set(slos.flatMap((s) => s.tenants ?? []));
  if (pinned.size > a.tenant_label_limit) {
    problems.push(`alerting.tenant_label_limit: ${pinned.size} tenants are named by SLOs and always labelled; the limit is ${a.tenant_label_limit}`);
  }
  if (problems.length > 0) throw new ConfigError('alerting', problems);
  return {
    evaluationIntervalMs: a.evaluation_interval,
    sliMetrics: a.sli_metrics,
    tenantLabelLimit: a.tenant_label_limit,
    tenantRerankIntervalMs: a.tenant_rerank_interval,
    latencyBucketsMs: a.latency_buckets ?? DEFAULT_LATENCY_BUCKETS_MS,
    burnRates,
    objectiveAlert: { windowMs: a.objective_alert.window, severity: a.objective_alert.severity },
    evaluator: { enabled: a.evaluator.enabled },
    alertmanager: a.alertmanager && { url: a.alertmanager.url.replace(/\/+$/, ''), timeoutMs: a.alertmanager.timeout },
    webhook: a.webhook && { url: a.webhook.url, headers: a.webhook.headers, timeoutMs: a.webhook.timeout },
    slos,
  };
}

/** Every window the rules and the evaluator compute an error ratio over, shortest first. */
export function sloWindows(config: AlertingConfig): number[] {
  const all = new Set<number>([config.objectiveAlert.windowMs]);
  for (const b of config.burnRates) {
    all.add(b.longMs);
    all.add(b.shortMs);
  }
  return [...all].sort((x, y) => x - y);
}
