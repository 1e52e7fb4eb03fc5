/**
 * The Prometheus rule file, generated from the SLOs (`GET /api/v1/alerts/rules`, `npm run alerts:rules`):
 *
 * - recording rules, per SLO and tenant, of the error ratio (1 − good / total records) over every window the
 *   alerts use, the records in the objective alert's window, and the error budget left over the SLO's window;
 * - multiwindow, multi-burn-rate alerts (the SRE workbook's: the budget burning 14.4× too fast over 1 h and
 *   5 min, 6× over 6 h and 30 min → page; 1× over 3 days and 6 h → ticket): both windows must burn, so an alert
 *   fires fast and stops soon after the burning does;
 * - the objective alert: over a short window the SLI misses its objective (a latency SLO: its percentile is
 *   above the threshold, read exactly from the threshold's bucket), once the window holds `min_events` records,
 *   so quiet tenants do not page on one slow event;
 * - the operational alerts over Signalhouse's own metrics (operations.ts).
 *
 * The SLI metrics and their buckets come from sli-metrics.ts, so a rule always names a series that exists.
 */
import { stringify } from 'yaml';
import { type AlertingConfig, type BurnRate, formatWindow, percent, type Slo, sloWindows } from './config.ts';
import { OPERATIONAL_ALERTS } from './operations.ts';
import type { AlertingRule, RecordingRule, RuleGroup } from './rule-types.ts';
import { latencyMetricName, leLabel, ratioMetricNames } from './sli-metrics.ts';

export const BURN_ALERT = 'SignalhouseSLOErrorBudgetBurn';
export const OBJECTIVE_ALERT = 'SignalhouseSLOObjectiveMissed';

export const errorRatioRecord = (windowMs: number) => `signalhouse:slo_errors:ratio_rate${formatWindow(windowMs)}`;
export const eventsRecord = (windowMs: number) => `signalhouse:slo_events:increase${formatWindow(windowMs)}`;
export const BUDGET_RECORD = 'signalhouse:slo_error_budget:remaining';

/** A number as PromQL and people read it: 14.4 × 0.01 is 0.144, not 0.14400000000000002. */
export const num = (x: number) => String(Number(x.toPrecision(12)));

/** A PromQL string literal of a regex matching exactly these tenant ids (ids are letters, digits, `_`, `-`, `.`). */
function tenantMatcher(tenants: readonly string[] | undefined): string {
  if (!tenants) return '';
  return `tenant=~"${tenants.map((t) => t.replaceAll('.', '\\\\.')).join('|')}"`;
}

/** The good and total series of an SLO, restricted to its tenants. */
export function sloSeries(slo: Slo): { good: string; total: string } {
  const tenants = tenantMatcher(slo.tenants);
  const withTenants = (matchers: string[]) => {
    const all = tenants ? [...matchers, tenants] : matchers;
    return all.length > 0 ? `{${all.join(',')}}` : '';
  };
  if (slo.sli.kind === 'latency') {
    const name = latencyMetricName(slo.sli.id);
    return { good: `${name}_bucket${withTenants([`le="${leLabel(slo.threshold!)}"`])}`, total: `${name}_count${withTenants([])}` };
  }
  const names = ratioMetricNames(slo.sli.id);
  return { good: `${names.good}${withTenants([])}`, total: `${names.total}${withTenants([])}` };
}

const by = (agg: string, series: string, windowMs: number) => `sum by (tenant) (${agg}(${series}[${formatWindow(windowMs)}]))`;

/** An SLO's error ratio per tenant over `windowMs`: what `errorRatioRecord(windowMs)` records. */
export function errorRatioExpr(slo: Slo, windowMs: number): string {
  const { good, total } = sloSeries(slo);
  return `1 - (${by('rate', good, windowMs)} / ${by('rate', total, windowMs)})`;
}

/** An SLO's records per tenant over `windowMs`: what `eventsRecord(windowMs)` records. */
export const eventsExpr = (slo: Slo, windowMs: number) => by('increase', sloSeries(slo).total, windowMs);

function recordingRules(slo: Slo, windows: readonly number[]): RecordingRule[] {
  return windows.map((w) => ({ record: errorRatioRecord(w), expr: errorRatioExpr(slo, w), labels: { slo: slo.name } }));
}

/**
 * The series an alert reads: recorded (the rule file, whose recording rules run beside the alerts) or inline
 * (Grafana's alert rules, which need only Prometheus's scrape of /metrics).
 */
export interface AlertSeries {
  errorRatio(slo: Slo, windowMs: number): string;
  events(slo: Slo, windowMs: number): string;
}

export const RECORDED: AlertSeries = {
  errorRatio: (slo, w) => `${errorRatioRecord(w)}{slo="${slo.name}"}`,
  events: (slo, w) => `${eventsRecord(w)}{slo="${slo.name}"}`,
};

export const INLINE: AlertSeries = {
  errorRatio: (slo, w) => `(${errorRatioExpr(slo, w)})`,
  events: (slo, w) => `(${eventsExpr(slo, w)})`,
};

/** A burn-rate alert's condition: both windows burn faster than `factor`. */
export function burnExpr(slo: Slo, b: BurnRate, series: AlertSeries = RECORDED): string {
  const threshold = num(b.factor * slo.budget);
  return `${series.errorRatio(slo, b.longMs)} > ${threshold}\nand\n${series.errorRatio(slo, b.shortMs)} > ${threshold}`;
}

/** The objective alert's condition: the window misses the objective and holds `min_events` records. */
export function objectiveExpr(config: AlertingConfig, slo: Slo, series: AlertSeries = RECORDED): string {
  const w = config.objectiveAlert.windowMs;
  return `${series.errorRatio(slo, w)} > ${num(slo.budget)}\nand\n${series.events(slo, w)} >= ${slo.minEvents}`;
}

/** The burn-rate pairs that can fire for this SLO: a threshold of 100% bad records or more never can. */
export function burnRatesOf(config: AlertingConfig, slo: Slo): BurnRate[] {
  return config.burnRates.filter((b) => b.factor * slo.budget < 1);
}

/**
 * What a burn-rate alert says, for Prometheus (`tenant`, `value`: template expressions) and for the built-in
 * evaluator (the tenant and the error ratio as text).
 */
export function burnAnnotations(slo: Slo, b: BurnRate, tenant: string, value: string): Record<string, string> {
  const long = formatWindow(b.longMs);
  const short = formatWindow(b.shortMs);
  return {
    summary: `${tenant}: SLO ${slo.name} is burning its error budget ${num(b.factor)}× too fast`,
    description:
      `${value} of the records of the last ${long} (and of the last ${short}) missed "${slo.description}". ` +
      `The budget is ${percent(slo.budget)} of the records over ${formatWindow(slo.windowMs)}; at this rate it is spent in ${formatWindow(Math.round(slo.windowMs / b.factor))}.`,
    runbook: 'docs/alerting.md#slo-error-budget-burn',
  };
}

/** The labels of a burn-rate alert (besides alertname and tenant); `evaluator` tells which path raised it. */
/** Which path raised an alert: Prometheus's rules, the built-in evaluator or Grafana's alert rules. */
export type AlertSource = 'prometheus' | 'signalhouse' | 'grafana';

export function burnLabels(slo: Slo, b: BurnRate, evaluator: AlertSource): Record<string, string> {
  return { severity: b.severity, slo: slo.name, long_window: formatWindow(b.longMs), short_window: formatWindow(b.shortMs), evaluator };
}

export const TEMPLATE_TENANT = '{{ $labels.tenant }}';
const TEMPLATE_VALUE = '{{ $value | humanizePercentage }}';

function burnAlert(slo: Slo, b: BurnRate): AlertingRule {
  return {
    alert: BURN_ALERT,
    expr: burnExpr(slo, b),
    labels: burnLabels(slo, b, 'prometheus'),
    annotations: burnAnnotations(slo, b, TEMPLATE_TENANT, TEMPLATE_VALUE),
  };
}

export function objectiveAnnotations(config: AlertingConfig, slo: Slo, tenant: string, value: string): Record<string, string> {
  const w = formatWindow(config.objectiveAlert.windowMs);
  const what =
    slo.sli.kind === 'latency'
      ? `p${num(slo.objective * 100)} of ${slo.metric.name.replace(/\.p\d+$/, '')} is above ${num(slo.threshold!)} ms`
      : `${slo.metric.name} missed ${slo.metric.better === 'higher' ? num(slo.objective) : num(slo.budget)}`;
  return {
    summary: `${tenant}: ${what} over the last ${w}`,
    description:
      `${value} of the records of the last ${w} missed "${slo.description}" ` +
      `(at most ${percent(slo.budget)} may; alerts once the window holds ${slo.minEvents} records).`,
    runbook: 'docs/alerting.md#slo-objective-missed',
  };
}

export function objectiveLabels(config: AlertingConfig, slo: Slo, evaluator: AlertSource): Record<string, string> {
  return { severity: config.objectiveAlert.severity, slo: slo.name, window: formatWindow(config.objectiveAlert.windowMs), evaluator };
}

function objectiveAlert(config: AlertingConfig, slo: Slo): AlertingRule {
  return {
    alert: OBJECTIVE_ALERT,
    expr: objectiveExpr(config, slo),
    labels: objectiveLabels(config, slo, 'prometheus'),
    annotations: objectiveAnnotations(config, slo, TEMPLATE_TENANT, TEMPLATE_VALUE),
  };
}

export function prometheusRuleGroups(config: AlertingConfig): RuleGroup[] {
  const interval = formatWindow(config.evaluationIntervalMs);
  const windows = sloWindows(config);
  const groups: RuleGroup[] = [];
  if (config.slos.length > 0) {
    const rules: Array<RecordingRule | AlertingRule> = [];
    for (const slo of config.slos) {
      rules.push(...recordingRules(slo, windows));
      const w = config.objectiveAlert.windowMs;
      rules.push({ record: eventsRecord(w), expr: eventsExpr(slo, w), labels: { slo: slo.name } });
    }
    for (const slo of config.slos) {
      for (const b of burnRatesOf(config, slo)) rules.push(burnAlert(slo, b));
      rules.push(objectiveAlert(config, slo));
    }
    groups.push({ name: 'signalhouse-slo', interval, rules });
    // The SLO windows are long (30 days): evaluated once a minute at most, and apart from the alerts.
    const budget: RecordingRule[] = [];
    for (const slo of config.slos) {
      const labels = { slo: slo.name };
      if (!windows.includes(slo.windowMs)) budget.push(...recordingRules(slo, [slo.windowMs]));
      budget.push({ record: BUDGET_RECORD, expr: `1 - ${errorRatioRecord(slo.windowMs)}{slo="${slo.name}"} / ${num(slo.budget)}`, labels });
    }
    groups.push({ name: 'signalhouse-slo-budget', interval: formatWindow(Math.max(config.evaluationIntervalMs, 60_000)), rules: budget });
  }
  groups.push({ name: 'signalhouse-operations', interval, rules: OPERATIONAL_ALERTS });
  return groups;
}

export function prometheusRulesYaml(config: AlertingConfig): string {
  const header =
    '# Prometheus rules for Signalhouse, generated from the SLOs in signalhouse.yaml (GET /api/v1/alerts/rules, npm run alerts:rules).\n' +
    '# Do not edit: change the SLOs and generate again. What each alert means and what to do: docs/alerting.md.\n';
  return header + stringify({ groups: prometheusRuleGroups(config) }, { lineWidth: 0, aliasDuplicateObjects: false });
}
