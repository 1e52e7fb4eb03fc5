/**
 * The SLOs in Grafana: the dashboard's SLO panels read series the rule file records, the alert rule provisioning
 * has one rule per Prometheus alert with its labels and `for`, and its inline expressions fire exactly when the
 * Prometheus rules do (the same `promtool test rules` cases, run on them); both files are committed as generated.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Panel } from '@grafana/schema';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ALERT_RULES_FILE, alertRulesText, dashboardWithSlos, defaultAlerting } from '../grafana/generate.ts';
import { EVERY_KIND, OPERATIONS_CASE, promtool, SLO_CASE } from '../test/helpers/slo-promtool.ts';
import { GRAFANA_PROMETHEUS_UID, grafanaAlertRules } from './grafana.ts';
import type { AlertingRule } from './rule-types.ts';
import { prometheusRuleGroups } from './rules.ts';

const dir = mkdtempSync(join(tmpdir(), 'sh-grafana-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface GrafanaRule {
  title: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  data: Array<{ refId: string; datasourceUid: string; model: { expr?: string } }>;
}
const grafanaRules = (config = EVERY_KIND) => (grafanaAlertRules(config).groups as Array<{ rules: GrafanaRule[] }>).flatMap((g) => g.rules);
const prometheusAlerts = (config = EVERY_KIND) =>
  prometheusRuleGroups(config)
    .flatMap((g) => g.rules)
    .filter((r): r is AlertingRule => 'alert' in r);

describe('the dashboard', () => {
  const alerting = defaultAlerting();
  const dashboard = dashboardWithSlos(alerting);
  const panels = (dashboard.panels ?? []) as Panel[];
  const sloPanels = panels.filter((p) => p.datasource?.type === 'prometheus');

  it('has the error budget and the burn rate of every SLO, on the Prometheus variable', () => {
    expect(sloPanels.map((p) => p.title)).toEqual(alerting.slos.flatMap((s) => [`${s.name}: error budget left`, `${s.name}: burn rate`]));
    expect(dashboard.templating?.list?.map((v) => v.name)).toEqual(['datasource', 'prometheus', 'tenant', 'site']);
    expect(dashboard.templating?.list?.[1]).toMatchObject({ type: 'datasource', query: 'prometheus', current: { value: GRAFANA_PROMETHEUS_UID } });
  });

  it('reads only series the generated rule file records, for the panel’s SLO and the chosen tenant', () => {
    const recorded = new Set(prometheusRuleGroups(alerting).flatMap((g) => g.rules.flatMap((r) => ('record' in r ? [`${r.record}/${r.labels?.slo}`] : []))));
    for (const p of sloPanels) {
      const slo = p.title!.split(':')[0];
      const targets = (p.targets ?? []) as Array<{ expr: string }>;
      expect(targets.length, p.title).toBeGreaterThan(0);
      for (const { expr } of targets) {
        const m = /^(signalhouse:[a-z_:0-9]+)\{slo="([^"]+)",tenant=~"\$\{tenant:regex\}"\}/.exec(expr);
        expect(m, expr).not.toBeNull();
        expect(m![2]).toBe(slo);
        expect(recorded.has(`${m![1]}/${slo}`), expr).toBe(true);
      }
    }
  });

  it('lays every panel out without overlaps on the 24-column grid', () => {
    const cells = new Set<string>();
    for (const { gridPos: g, title } of panels) {
      expect(g!.x + g!.w, title).toBeLessThanOrEqual(24);
      for (let x = g!.x; x < g!.x + g!.w; x++) {
        for (let y = g!.y; y < g!.y + g!.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });
});

describe('the alert rules', () => {
  it('one Grafana rule per Prometheus alert, with its labels (evaluator: grafana), its `for` and a runbook', () => {
    const grafana = grafanaRules();
    const prometheus = prometheusAlerts();
    expect(grafana.map((r) => r.title.split(' ')[0])).toEqual(prometheus.map((r) => r.alert));
    grafana.forEach((g, i) => {
      expect(g.labels).toEqual({ ...prometheus[i].labels, evaluator: 'grafana' });
      expect(g.for).toBe(prometheus[i].for ?? '0s');
      expect(g.annotations.runbook_url).toBe(prometheus[i].annotations.runbook);
      expect(g.data[0].datasourceUid).toBe(GRAFANA_PROMETHEUS_UID);
      expect(g.annotations.description).not.toContain('$value ');
    });
    expect(new Set(grafana.map((r) => r.title)).size).toBe(grafana.length);
  });

  it('fire exactly when the Prometheus rules do: their expressions pass the rules’ promtool cases', async () => {
    // Grafana's queries as a Prometheus rule file: same alert names and labels, the inline expressions.
    const prometheus = prometheusAlerts();
    const rules = grafanaRules().map((g, i) => ({ alert: g.title.split(' ')[0], expr: g.data[0].model.expr, for: g.for, labels: prometheus[i].labels }));
    expect(rules.every((r) => !r.expr!.includes('signalhouse:'))).toBe(true);
    writeFileSync(join(dir, 'grafana.rules.yml'), stringify({ groups: [{ name: 'grafana', interval: '1m', rules }] }));
    writeFileSync(join(dir, 'tests.yml'), stringify({ rule_files: ['grafana.rules.yml'], evaluation_interval: '1m', tests: [SLO_CASE, OPERATIONS_CASE] }));
    const result = await promtool(dir, 'test', 'rules', 'tests.yml');
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('is committed as generated (run `npm run grafana:dashboard` after changing the SLOs)', () => {
    expect(readFileSync(ALERT_RULES_FILE, 'utf8')).toBe(alertRulesText());
  });
});
