/**
 * The generated Prometheus rules, checked and unit-tested by Prometheus's own promtool (Debian's `prometheus`):
 * `promtool check rules` on the default SLOs and on every kind of SLO, and `promtool test rules` on series
 * that break an SLO for one tenant and not for others, recover, stay too quiet to page, and on Signalhouse's own
 * metrics for the operational alerts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseAlertingConfig } from './config.ts';
import { DEFAULT_CONFIG_FILE, RULES_FILE, rulesFileText } from './generate.ts';
import type { RuleGroup } from './rule-types.ts';
import { prometheusRuleGroups, prometheusRulesYaml } from './rules.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'sh-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: dir });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

const EVERY_KIND = parseAlertingConfig(
  {
    slos: [
      { name: 'voice-first-response', metric: 'voice.first_response_ms.p99', threshold: '800ms' },
      { name: 'tools', metric: 'ai.tool_calls.success_rate', objective: '98%', tenants: ['acme'] },
      { name: 'kb', metric: 'kb.search_latency_ms.p95', threshold: 150, tenants: ['acme', 'eu.shop'], min_events: 20 },
      { name: 'errors', metric: 'system.error_rate', objective: 0.01, window: '7d' },
      { name: 'asr', metric: 'voice.asr_partial_latency_ms.p95', threshold: 250, objective: 0.5 },
    ],
  },
  ['acme', 'globex', 'eu.shop'],
);

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

/** The rules without annotations: promtool compares an alert's annotations whole, and the tests name the alerts by labels. */
function withoutAnnotations(groups: RuleGroup[]): string {
  for (const g of groups) for (const r of g.rules) if ('alert' in r) r.annotations = {};
  return stringify({ groups }, { aliasDuplicateObjects: false });
}

const voice = (tenant: string, goodPerMinute: string, totalPerMinute: string) => [
  { series: `signalhouse_sli_voice_first_response_seconds_bucket{le="0.8",tenant="${tenant}",instance="sh:4318",job="signalhouse"}`, values: goodPerMinute },
  { series: `signalhouse_sli_voice_first_response_seconds_count{tenant="${tenant}",instance="sh:4318",job="signalhouse"}`, values: totalPerMinute },
];
const tools = (tenant: string, good: string, total: string) => [
  { series: `signalhouse_sli_ai_tool_calls_good_total{tenant="${tenant}",instance="sh:4318",job="signalhouse"}`, values: good },
  { series: `signalhouse_sli_ai_tool_calls_total{tenant="${tenant}",instance="sh:4318",job="signalhouse"}`, values: total },
];
const own = (series: string, values: string) => ({ series: `${series.replace('}', ',instance="sh:4318",job="signalhouse"}')}`, values });

const burn = (tenant: string, slo: string, severity: string, long: string, short: string) => ({
  exp_labels: { tenant, slo, severity, long_window: long, short_window: short, evaluator: 'prometheus' },
});
const ALL_BURNS = (tenant: string) => [
  burn(tenant, 'voice-first-response', 'page', '1h', '5m'),
  burn(tenant, 'voice-first-response', 'page', '6h', '30m'),
  burn(tenant, 'voice-first-response', 'ticket', '3d', '6h'),
];
const instance = { instance: 'sh:4318', job: 'signalhouse' };

describe('promtool test rules', () => {
  it('fires for the tenant breaking its SLO only, by severity; recovers window by window; quiet tenants do not get the objective alert', async () => {
    writeFileSync(join(dir, 'slo.rules.yml'), withoutAnnotations(prometheusRuleGroups(EVERY_KIND)));
    const tests = {
      rule_files: ['slo.rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            // acme: half its first responses slower than 800 ms for 30 minutes, then none.
            ...voice('acme', '0+50x30 1550+100x30', '0+100x30 3100+100x30'),
            // globex: every response within 800 ms.
            ...voice('globex', '0+100x60', '0+100x60'),
            // initech: one slow response a minute, every minute: burning, but too few for the objective alert.
            ...voice('initech', '0+0x60', '0+1x60'),
            // Tool calls: acme within its 98%; globex far below, but the SLO is acme's only.
            ...tools('acme', '0+99x60', '0+100x60'),
            ...tools('globex', '0+50x60', '0+100x60'),
          ],
          alert_rule_test: [
            { eval_time: '15m', alertname: 'SignalhouseSLOErrorBudgetBurn', exp_alerts: [...ALL_BURNS('acme'), ...ALL_BURNS('initech')] },
            {
              eval_time: '15m',
              alertname: 'SignalhouseSLOObjectiveMissed',
              exp_alerts: [{ exp_labels: { tenant: 'acme', slo: 'voice-first-response', severity: 'ticket', window: '10m', evaluator: 'prometheus' } }],
            },
            // Ten minutes after acme recovered: its last 5 minutes are clean, so the fastest pair has stopped; the
            // 30-minute and 6-hour windows still hold the slow responses.
            {
              eval_time: '40m',
              alertname: 'SignalhouseSLOErrorBudgetBurn',
              exp_alerts: [
                burn('acme', 'voice-first-response', 'page', '6h', '30m'),
                burn('acme', 'voice-first-response', 'ticket', '3d', '6h'),
                ...ALL_BURNS('initech'),
              ],
            },
            // And once its last 10 minutes are clean, the objective alert has stopped too.
            { eval_time: '45m', alertname: 'SignalhouseSLOObjectiveMissed', exp_alerts: [] },
          ],
        },
        {
          interval: '1m',
          input_series: [
            // Ingest: 10% of the requests slower than 200 ms; queries all fast.
            own('signalhouse_http_request_duration_seconds_bucket{kind="ingest",le="0.2"}', '0+90x30'),
            own('signalhouse_http_request_duration_seconds_count{kind="ingest"}', '0+100x30'),
            own('signalhouse_http_request_duration_seconds_bucket{kind="query",le="5"}', '0+10x30'),
            own('signalhouse_http_request_duration_seconds_count{kind="query"}', '0+10x30'),
            // 5% of the events refused by validation; no duplicates.
            own('signalhouse_processor_records_total{pipeline="logs",processor="validate",outcome="in"}', '0+100x30'),
            own('signalhouse_processor_records_total{pipeline="logs",processor="validate",outcome="refused"}', '0+5x30'),
            own('signalhouse_processor_records_total{pipeline="logs",processor="dedupe",outcome="in"}', '0+95x30'),
            own('signalhouse_processor_records_total{pipeline="logs",processor="dedupe",outcome="dropped"}', '0+0x30'),
            // One INSERT failed for good at minute 20.
            own('signalhouse_exporter_failed_batches_total{table="otel_logs",retryable="true"}', '0x20 1x10'),
            own('signalhouse_exporter_landing_move_failures_total{retryable="true"}', '0x30'),
          ],
          alert_rule_test: [
            { eval_time: '8m', alertname: 'SignalhouseIngestLatencyHigh', exp_alerts: [] },
            { eval_time: '15m', alertname: 'SignalhouseIngestLatencyHigh', exp_alerts: [{ exp_labels: { severity: 'page', ...instance } }] },
            { eval_time: '15m', alertname: 'SignalhouseValidationFailuresHigh', exp_alerts: [{ exp_labels: { severity: 'ticket', ...instance } }] },
            { eval_time: '15m', alertname: 'SignalhouseDuplicateRateHigh', exp_alerts: [] },
            { eval_time: '15m', alertname: 'SignalhouseQueryLatencyHigh', exp_alerts: [] },
            { eval_time: '15m', alertname: 'SignalhouseStorageErrors', exp_alerts: [] },
            { eval_time: '22m', alertname: 'SignalhouseStorageErrors', exp_alerts: [{ exp_labels: { severity: 'page', ...instance } }] },
          ],
        },
      ],
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
