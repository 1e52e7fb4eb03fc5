/**
 * The SLOs in Grafana, from the same definitions as the Prometheus rules (rules.ts):
 *
 * - dashboard panels, per SLO: the error budget left over its window (a stat) and its burn rate over each
 *   burn-rate window (a time series, the alert factors drawn as thresholds), on a Prometheus data source that
 *   loads the generated rule file (the panels read its recorded series);
 * - Grafana-managed alert rules (file provisioning) equivalent to the Prometheus alerts: the same conditions,
 *   labels and `for`, with the recorded series written out inline, so they need only Prometheus's scrape of
 *   `/metrics`, not the rule file. Their labels say `evaluator: grafana`.
 *
 * `npm run grafana:dashboard` writes both for the default signalhouse.yaml (grafana/generate.ts).
 */
import { createHash } from 'node:crypto';
import type { Panel, RowPanel, VariableModel } from '@grafana/schema';
import { type AlertingConfig, formatWindow, type Slo } from './config.ts';
import { OPERATIONAL_ALERTS } from './operations.ts';
import {
  BUDGET_RECORD,
  BURN_ALERT,
  burnAnnotations,
  burnExpr,
  burnLabels,
  burnRatesOf,
  errorRatioRecord,
  INLINE,
  OBJECTIVE_ALERT,
  objectiveAnnotations,
  objectiveExpr,
  objectiveLabels,
  TEMPLATE_TENANT,
} from './rules.ts';

/** The provisioned Prometheus data source (grafana/provisioning/datasources/prometheus.yaml). */
export const GRAFANA_PROMETHEUS_UID = 'signalhouse-prometheus';
const PROMETHEUS = { type: 'prometheus', uid: '${prometheus}' };

/** The dashboard variable choosing the Prometheus data source of the SLO panels. */
export const PROMETHEUS_VARIABLE: VariableModel = {
  name: 'prometheus',
  label: 'Prometheus',
  type: 'datasource',
  query: 'prometheus',
  current: { text: 'Signalhouse Prometheus', value: GRAFANA_PROMETHEUS_UID },
  hide: 0,
};

/** The dashboard's tenant variable as a Prometheus label matcher. */
const tenantIs = (slo: Slo) => `{slo="${slo.name}",tenant=~"\${tenant:regex}"}`;

function budgetPanel(slo: Slo, id: number, gridPos: Panel['gridPos']): Panel {
  return {
    id,
    type: 'stat',
    title: `${slo.name}: error budget left`,
    description: `${slo.description}. The share of its ${formatWindow(slo.windowMs)} error budget (${slo.budget} of the records) not yet spent.`,
    datasource: PROMETHEUS,
    gridPos,
    targets: [{ refId: 'A', datasource: PROMETHEUS, expr: `${BUDGET_RECORD}${tenantIs(slo)}`, instant: true, legendFormat: '{{tenant}}' }],
    fieldConfig: {
      defaults: {
        unit: 'percentunit',
        decimals: 1,
        max: 1,
        thresholds: {
          mode: 'absolute',
          steps: [
            { color: 'red', value: null },
            { color: 'orange', value: 0 },
            { color: 'green', value: 0.25 },
          ],
        },
      },
      overrides: [],
    },
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'none', textMode: 'value' },
  } as Panel;
}

function burnPanel(config: AlertingConfig, slo: Slo, id: number, gridPos: Panel['gridPos']): Panel {
  const pairs = burnRatesOf(config, slo);
  const factors = [...new Set(pairs.map((b) => b.factor))].sort((a, b) => a - b);
  return {
    id,
    type: 'timeseries',
    title: `${slo.name}: burn rate`,
    description: `How fast ${slo.name} spends its error budget: 1 spends it exactly over ${formatWindow(slo.windowMs)}. The lines at ${factors.join('×, ')}× are the alerts' thresholds.`,
    datasource: PROMETHEUS,
    gridPos,
    targets: [...new Set(pairs.map((b) => b.longMs))].map((w, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: PROMETHEUS,
      expr: `${errorRatioRecord(w)}${tenantIs(slo)} / ${slo.budget}`,
      legendFormat: `{{tenant}} ${formatWindow(w)}`,
    })),
    fieldConfig: {
      defaults: {
        unit: 'x',
        min: 0,
        custom: { drawStyle: 'line', spanNulls: false, thresholdsStyle: { mode: 'line' } },
        thresholds: {
          mode: 'absolute',
          steps: [{ color: 'green', value: null }, ...factors.map((f, i) => ({ color: i === factors.length - 1 ? 'red' : 'orange', value: f }))],
        },
      },
      overrides: [],
    },
    options: { legend: { showLegend: true, displayMode: 'list', placement: 'bottom', calcs: [] }, tooltip: { mode: 'multi', sort: 'desc' } },
  } as Panel;
}

/** A row of SLO panels starting at `y`, ids from `firstId`: per SLO its budget (8 wide) and burn rate (16 wide). */
export function sloPanels(config: AlertingConfig, firstId: number, y: number): Array<Panel | RowPanel> {
  if (config.slos.length === 0) return [];
  let id = firstId;
  const panels: Array<Panel | RowPanel> = [{ id: id++, type: 'row', title: 'SLOs', collapsed: false, gridPos: { x: 0, y: y++, w: 24, h: 1 }, panels: [] }];
  for (const slo of config.slos) {
    panels.push(budgetPanel(slo, id++, { x: 0, y, w: 8, h: 8 }), burnPanel(config, slo, id++, { x: 8, y, w: 16, h: 8 }));
    y += 8;
  }
  return panels;
}

// ---- alert rules ----------------------------------------------------------------------------------------------

/** Grafana evaluates rule groups every multiple of 10 s. */
const groupInterval = (ms: number) => `${Math.max(10, Math.ceil(ms / 10_000) * 10)}s`;

/** Grafana's templates: the condition's value is `$values.A.Value`. */
const GRAFANA_VALUE = '{{ humanizePercentage $values.A.Value }}';

interface GrafanaRule {
  uid: string;
  title: string;
  condition: 'B';
  data: unknown[];
  noDataState: 'OK';
  execErrState: 'Error';
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** A rule firing for each series `expr` returns (every alert expression returns series only when it fires, valued above 0). */
function rule(title: string, expr: string, forDuration: string | undefined, labels: Record<string, string>, annotations: Record<string, string>): GrafanaRule {
  const { runbook, ...rest } = annotations;
  return {
    uid: `sh-${createHash('sha256').update(title).digest('hex').slice(0, 24)}`,
    title,
    condition: 'B',
    data: [
      {
        refId: 'A',
        relativeTimeRange: { from: 600, to: 0 },
        datasourceUid: GRAFANA_PROMETHEUS_UID,
        model: { refId: 'A', expr, instant: true, range: false },
      },
      {
        refId: 'B',
        relativeTimeRange: { from: 0, to: 0 },
        datasourceUid: '__expr__',
        model: { refId: 'B', type: 'threshold', expression: 'A', conditions: [{ evaluator: { type: 'gt', params: [0] } }] },
      },
    ],
    noDataState: 'OK',
    execErrState: 'Error',
    for: forDuration ?? '0s',
    labels,
    annotations: { ...rest, ...(runbook ? { runbook_url: runbook } : {}) },
  };
}

/** Grafana's alert rule provisioning file (as an object), equivalent to the generated Prometheus alerts. */
export function grafanaAlertRules(config: AlertingConfig): { apiVersion: 1; groups: unknown[] } {
  const interval = groupInterval(config.evaluationIntervalMs);
  const slo: GrafanaRule[] = [];
  for (const s of config.slos) {
    for (const b of burnRatesOf(config, s)) {
      const labels = burnLabels(s, b, 'grafana');
      slo.push(
        rule(`${BURN_ALERT} ${s.name} ${labels.long_window}/${labels.short_window}`, burnExpr(s, b, INLINE), undefined, labels, {
          ...burnAnnotations(s, b, TEMPLATE_TENANT, GRAFANA_VALUE),
        }),
      );
    }
    slo.push(
      rule(`${OBJECTIVE_ALERT} ${s.name}`, objectiveExpr(config, s, INLINE), undefined, objectiveLabels(config, s, 'grafana'), {
        ...objectiveAnnotations(config, s, TEMPLATE_TENANT, GRAFANA_VALUE),
      }),
    );
  }
  const operations = OPERATIONAL_ALERTS.map((r) =>
    rule(
      r.alert,
      r.expr,
      r.for,
      { ...r.labels, evaluator: 'grafana' },
      Object.fromEntries(Object.entries(r.annotations).map(([k, v]) => [k, grafanaTemplate(v)])),
    ),
  );
  const groups = [];
  if (slo.length > 0) groups.push({ orgId: 1, name: 'signalhouse-slo', folder: 'Signalhouse', interval, rules: slo });
  groups.push({ orgId: 1, name: 'signalhouse-operations', folder: 'Signalhouse', interval, rules: operations });
  return { apiVersion: 1, groups };
}

/** Prometheus's `{{ $value | f }}` as Grafana writes it. */
function grafanaTemplate(text: string): string {
  return text.replace(/\{\{ \$value \| (\w+) \}\}/g, '{{ $1 $$values.A.Value }}');
}
