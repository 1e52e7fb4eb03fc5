/**
 * The built-in evaluator, for installs without Prometheus: every `evaluation_interval` it evaluates the same SLOs
 * and the same alerts as the generated Prometheus rules (rules.ts), from the metric catalog over ClickHouse
 * (query/slo.ts: the catalog's own definitions, by event time, one scan per SLO for all its windows), and sends
 * what fires to Alertmanager and/or a webhook (notify.ts). Its alerts carry the rules' labels with
 * `evaluator: signalhouse`. The state — each SLO's error ratios per tenant and window, firing and lately resolved
 * alerts — is served at `GET /api/v1/alerts` for read tokens (routes.ts).
 *
 * An SLO whose query fails keeps its alerts as they were (they neither fire anew nor resolve) until a query
 * succeeds again; the failure is counted and logged once.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Store } from '../storage/store.ts';
import { sloCounts } from '../query/slo.ts';
import { type AlertingConfig, formatWindow, percent, type Slo, sloWindows } from './config.ts';
import { type AlertRecord, createNotifier, type Notifier } from './notify.ts';
import { BURN_ALERT, burnAnnotations, burnLabels, burnRatesOf, OBJECTIVE_ALERT, objectiveAnnotations, objectiveLabels } from './rules.ts';

export interface WindowStatus {
  /** Records counted in the window. */
  events: number;
  /** Share of them that missed the SLO; null without records. */
  error_ratio: number | null;
  /** error_ratio ÷ the error budget: 1 spends the budget exactly over the SLO's window. */
  burn_rate: number | null;
}

export interface SloStatus {
  slo: string;
  metric: string;
  description: string;
  objective: number;
  windows: Record<string, WindowStatus>;
}

export interface EvaluatorState {
  enabled: boolean;
  interval_ms: number;
  /** When the last evaluation ran (ISO), if one has. */
  evaluated_at: string | null;
  slos: SloStatus[];
  alerts: Array<AlertRecord & { labels: Record<string, string> }>;
}

export interface Evaluator {
  start(): void;
  /** Stops the timer and waits for a running evaluation. */
  stop(): Promise<void>;
  /** One evaluation at `nowMs` (default now). */
  evaluate(nowMs?: number): Promise<void>;
  /** What one tenant may see. */
  state(tenant: string): EvaluatorState;
}

export interface EvaluatorOptions {
  config: AlertingConfig;
  store: Store;
  /** Resolves when what was acknowledged so far is visible to queries. */
  settle(): Promise<void>;
  registry: Registry;
  logger?: Logger;
  notifier?: Notifier;
}

/** How long a resolved alert is still shown and sent (as resolved), at least; and at least three evaluations. */
const RESOLVED_RETENTION_MS = 15 * 60_000;
/** How long an evaluation waits for acknowledged rows to become visible before it reads what is there. */
const SETTLE_TIMEOUT_MS = 5000;

const keyOf = (labels: Record<string, string>) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0000');

export function createEvaluator(opts: EvaluatorOptions): Evaluator {
  const { config, store } = opts;
  const windows = sloWindows(config);
  const notifier = opts.notifier ?? createNotifier(config, opts.registry, opts.logger);
  const registers = [opts.registry];
  const evaluations = new Counter({ name: 'signalhouse_alerting_evaluations_total', help: 'Evaluations of the SLOs by the built-in evaluator.', registers });
  const failures = new Counter({
    name: 'signalhouse_alerting_evaluation_failures_total',
    help: 'SLO queries of the built-in evaluator that failed (their alerts are kept as they were).',
    labelNames: ['slo'],
    registers,
  });
  for (const slo of config.slos) failures.inc({ slo: slo.name }, 0);
  const firingGauge = new Gauge({ name: 'signalhouse_alerting_firing_alerts', help: 'Alerts the built-in evaluator has firing.', registers });
  const alerts = new Map<string, AlertRecord>();
  const statuses = new Map<string, Map<string, SloStatus>>(); // slo → tenant → status
  const failingSlos = new Set<string>();
  let evaluatedAt: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const ratioOf = (c: { total: number; good: number }) => (c.total > 0 ? (c.total - c.good) / c.total : null);

  /** The alerts `slo` raises now, by key, and its status per tenant. */
  async function evaluateSlo(slo: Slo, nowMs: number, firing: Map<string, AlertRecord>): Promise<void> {
    const rows = await sloCounts(store, slo.metric, { tenants: slo.tenants ?? [], toMs: nowMs, windowsMs: windows, threshold: slo.threshold });
    const perTenant = new Map<string, SloStatus>();
    const startsAt = new Date(nowMs).toISOString();
    const raise = (labels: Record<string, string>, annotations: Record<string, string>, value: number) => {
      firing.set(keyOf(labels), { labels, annotations, state: 'firing', startsAt, value });
    };
    for (const row of rows) {
      const at = (w: number) => row.windows[windows.indexOf(w)];
      const status: SloStatus = { slo: slo.name, metric: slo.metric.name, description: slo.description, objective: slo.objective, windows: {} };
      for (const w of windows) {
        const ratio = ratioOf(at(w));
        status.windows[formatWindow(w)] = { events: at(w).total, error_ratio: ratio, burn_rate: ratio === null ? null : ratio / slo.budget };
      }
      perTenant.set(row.tenant, status);
      for (const b of burnRatesOf(config, slo)) {
        const threshold = b.factor * slo.budget;
        const long = ratioOf(at(b.longMs));
        const short = ratioOf(at(b.shortMs));
        if (long === null || short === null || !(long > threshold && short > threshold)) continue;
        const labels = { alertname: BURN_ALERT, tenant: row.tenant, ...burnLabels(slo, b, 'signalhouse') };
        raise(labels, burnAnnotations(slo, b, row.tenant, percent(long)), long);
      }
      const w = at(config.objectiveAlert.windowMs);
      const ratio = ratioOf(w);
      if (ratio !== null && ratio > slo.budget && w.total >= slo.minEvents) {
        const labels = { alertname: OBJECTIVE_ALERT, tenant: row.tenant, ...objectiveLabels(config, slo, 'signalhouse') };
        raise(labels, objectiveAnnotations(config, slo, row.tenant, percent(ratio)), ratio);
      }
    }
    statuses.set(slo.name, perTenant);
  }

  async function settled(): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([opts.settle().catch(() => undefined), new Promise<void>((resolve) => (t = setTimeout(resolve, SETTLE_TIMEOUT_MS)))]);
    clearTimeout(t);
  }

  async function evaluate(nowMs = Date.now()): Promise<void> {
    await settled();
    const firing = new Map<string, AlertRecord>();
    const failed = new Set<string>();
    for (const slo of config.slos) {
      try {
        await evaluateSlo(slo, nowMs, firing);
        if (failingSlos.delete(slo.name)) opts.logger?.info({ slo: slo.name }, 'SLO evaluation works again');
      } catch (err) {
        failed.add(slo.name);
        failures.inc({ slo: slo.name });
        if (!failingSlos.has(slo.name)) opts.logger?.warn({ slo: slo.name, err }, 'SLO evaluation failed; its alerts stay as they were');
        failingSlos.add(slo.name);
      }
    }
    const changed: AlertRecord[] = [];
    const now = new Date(nowMs).toISOString();
    for (const [key, raised] of firing) {
      const known = alerts.get(key);
      if (known?.state === 'firing') {
        known.annotations = raised.annotations;
        known.value = raised.value;
      } else {
        alerts.set(key, raised);
        changed.push(raised);
      }
    }
    const retention = Math.max(RESOLVED_RETENTION_MS, 3 * config.evaluationIntervalMs);
    for (const [key, a] of alerts) {
      if (a.state === 'firing' && !firing.has(key) && !failed.has(a.labels.slo)) {
        a.state = 'resolved';
        a.endsAt = now;
        changed.push(a);
      } else if (a.state === 'resolved' && nowMs - Date.parse(a.endsAt!) > retention) alerts.delete(key);
    }
    evaluatedAt = now;
    evaluations.inc();
    firingGauge.set([...alerts.values()].filter((a) => a.state === 'firing').length);
    await notifier.send([...alerts.values()], changed, nowMs);
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = evaluate()
        .catch((err) => opts.logger?.error({ err }, 'alert evaluation failed'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, config.evaluationIntervalMs);
    timer.unref();
  }

  return {
    start() {
      if (config.slos.length === 0 || !config.evaluator.enabled) return;
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
    evaluate,
    state(tenant) {
      const slos: SloStatus[] = [];
      for (const slo of config.slos) {
        const s = statuses.get(slo.name)?.get(tenant);
        if (s) slos.push(s);
      }
      return {
        enabled: config.evaluator.enabled && config.slos.length > 0,
        interval_ms: config.evaluationIntervalMs,
        evaluated_at: evaluatedAt,
        slos,
        alerts: [...alerts.values()].filter((a) => a.labels.tenant === tenant).map((a) => ({ ...a, labels: { ...a.labels } })),
      };
    },
  };
}
