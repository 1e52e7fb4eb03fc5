/**
 * The generated Prometheus rules, checked and unit-tested by Prometheus's own promtool (Debian's `prometheus`):
 * `promtool check rules` on the default SLOs and on every kind of SLO, and `promtool test rules` on series
 * that break an SLO for one tenant and not for others, recover, stay too quiet to page, and on Signalhouse's own
 * metrics for the operational alerts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { EVERY_KIND, OPERATIONS_CASE, own, promtool as promtoolIn, SLO_CASE, tools, voice, withoutAnnotations } from '../test/helpers/slo-promtool.ts';
import { DEFAULT_CONFIG_FILE, RULES_FILE, rulesFileText } from './generate.ts';
import type { RuleGroup } from './rule-types.ts';
import { prometheusRuleGroups, prometheusRulesYaml } from './rules.ts';

const dir = mkdtempSync(join(tmpdir(), 'sh-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const promtool = (...args: string[]) => promtoolIn(dir, ...args);

describe('promtool check rules', () => {
  it('passes for the default SLOs, and the committed rule file is what `npm run alerts:rules` writes', async () => {
    const text = rulesFileText(DEFAULT_CONFIG_FILE, {});
    expect(readFileSync(RULES_FILE, 'utf8')).toBe(text);
    const check = await promtool('check', 'rules', RULES_FILE);
    expect(check.output).toContain('SUCCESS');
    expect(check.code).toBe(0);
  });

  it('passes for every kind of SLO: latency and ratio, per tenant and for all, lower-is-better ratios, dotted tenant ids', async () => {
    const file = join(dir, 'every-kind.rules.yml');
    writeFileSync(file, prometheusRulesYaml(EVERY_KIND));
    const check = await promtool('check', 'rules', file);
    expect(check.output).toContain('SUCCESS');
    expect(check.code).toBe(0);
    // A 50% objective burning 14.4× or 6× would need more than every record to fail: only the 1× pair remains.
    const burns = prometheusRuleGroups(EVERY_KIND)
      .flatMap((g) => g.rules)
      .filter((r) => 'alert' in r && r.labels.slo === 'asr' && r.alert === 'SignalhouseSLOErrorBudgetBurn');
    expect(burns.map((r) => ('alert' in r ? r.labels.long_window : ''))).toEqual(['3d']);
  });
});

describe('promtool test rules', () => {
  it('fires for the tenant breaking its SLO only, by severity; recovers window by window; quiet tenants do not get the objective alert', async () => {
    writeFileSync(join(dir, 'slo.rules.yml'), withoutAnnotations(prometheusRuleGroups(EVERY_KIND)));
    const tests = {
      rule_files: ['slo.rules.yml'],
      evaluation_interval: '1m',
      tests: [SLO_CASE, OPERATIONS_CASE],
    };
    writeFileSync(join(dir, 'tests.yml'), stringify(tests));
    const result = await promtool('test', 'rules', 'tests.yml');
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('a healthy install raises nothing', async () => {
    writeFileSync(join(dir, 'healthy.rules.yml'), withoutAnnotations(prometheusRuleGroups(EVERY_KIND)));
    const alertnames = [
      ...new Set(
        prometheusRuleGroups(EVERY_KIND)
          .flatMap((g) => g.rules)
          .flatMap((r) => ('alert' in r ? [r.alert] : [])),
      ),
    ];
    const tests = {
      rule_files: ['healthy.rules.yml'],
      tests: [
        {
          interval: '1m',
          input_series: [
            ...voice('acme', '0+100x60', '0+100x60'),
            ...tools('acme', '0+100x60', '0+100x60'),
            own('signalhouse_http_request_duration_seconds_bucket{kind="ingest",le="0.2"}', '0+100x60'),
            own('signalhouse_http_request_duration_seconds_count{kind="ingest"}', '0+100x60'),
            own('signalhouse_exporter_failed_batches_total{table="otel_logs",retryable="true"}', '0x60'),
          ],
          alert_rule_test: alertnames.map((alertname) => ({ eval_time: '30m', alertname, exp_alerts: [] })),
        },
      ],
    };
    writeFileSync(join(dir, 'healthy.yml'), stringify(tests));
    expect(alertnames.length).toBeGreaterThanOrEqual(8);
    const result = await promtool('test', 'rules', 'healthy.yml');
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });
});

it('the rule file parses as YAML with one group per purpose', () => {
  const doc = parse(prometheusRulesYaml(EVERY_KIND)) as { groups: RuleGroup[] };
  expect(doc.groups.map((g) => [g.name, g.interval])).toEqual([
    ['signalhouse-slo', '1m'],
    ['signalhouse-slo-budget', '1m'],
    ['signalhouse-operations', '1m'],
  ]);
});
