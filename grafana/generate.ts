/**
 * Writes the Grafana files generated from the code, where Grafana's provisioning loads them: the dashboard of the
 * metric catalog (query/grafana.ts) with the SLO panels of the default signalhouse.yaml's SLOs
 * (alerting/grafana.ts) to grafana/dashboards/, and Grafana alert rules equivalent to the generated Prometheus
 * ones to grafana/provisioning/alerting/. `npm run grafana:dashboard` after changing the catalog or the SLOs; a
 * test fails while the committed files differ from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Dashboard } from '@grafana/schema';
import { stringify } from 'yaml';
import { loadConfig } from '../core/config.ts';
import { type AlertingConfig, parseAlertingConfig } from '../alerting/config.ts';
import { grafanaAlertRules, PROMETHEUS_VARIABLE, sloPanels } from '../alerting/grafana.ts';
import { grafanaDashboard } from '../query/grafana.ts';

export const DASHBOARD_FILE = fileURLToPath(new URL('./dashboards/signalhouse-sla.json', import.meta.url));
export const ALERT_RULES_FILE = fileURLToPath(new URL('./provisioning/alerting/signalhouse-alerts.yaml', import.meta.url));
const CONFIG_FILE = fileURLToPath(new URL('../signalhouse.yaml', import.meta.url));

/** The SLOs of the default signalhouse.yaml (environment references take their defaults). */
export function defaultAlerting(): AlertingConfig {
  const config = loadConfig(CONFIG_FILE, {});
  return parseAlertingConfig(
    config.alerting,
    config.tenants.map((t) => t.id),
  );
}

/** The catalog dashboard with a row of SLO panels below it, on a Prometheus data source of their own. */
export function dashboardWithSlos(alerting: AlertingConfig): Dashboard {
  const dashboard = grafanaDashboard();
  const panels = dashboard.panels ?? [];
  if (alerting.slos.length === 0) return dashboard;
  const ids = panels.map((p) => p.id ?? 0);
  const bottom = Math.max(0, ...panels.map((p) => (p.gridPos?.y ?? 0) + (p.gridPos?.h ?? 0)));
  const [datasource, ...rest] = dashboard.templating?.list ?? [];
  return {
    ...dashboard,
    description: `${dashboard.description} SLO panels from the SLOs in signalhouse.yaml, on the Prometheus that loads the generated rules.`,
    templating: { list: [datasource, PROMETHEUS_VARIABLE, ...rest] },
    panels: [...panels, ...sloPanels(alerting, Math.max(0, ...ids) + 1, bottom)],
  };
}

export function dashboardText(alerting: AlertingConfig = defaultAlerting()): string {
  return `${JSON.stringify(dashboardWithSlos(alerting), null, 2)}\n`;
}

export function alertRulesText(alerting: AlertingConfig = defaultAlerting()): string {
  const header =
    '# Grafana alert rules equivalent to the Prometheus rules of the SLOs in signalhouse.yaml (alerting/grafana.ts),\n' +
    '# written by `npm run grafana:dashboard`; do not edit. They read the SLI metrics from the Prometheus data source.\n';
  return header + stringify(grafanaAlertRules(alerting), { lineWidth: 0, aliasDuplicateObjects: false });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(DASHBOARD_FILE, dashboardText());
  console.log(`wrote ${DASHBOARD_FILE}`);
  writeFileSync(ALERT_RULES_FILE, alertRulesText());
  console.log(`wrote ${ALERT_RULES_FILE}`);
}
