/**
 * promtool for the alerting tests: the runner, a set of SLOs of every kind, and unit-test cases for
 * `promtool test rules` (series that break an SLO for one tenant, recover, stay too quiet for the objective
 * alert; Signalhouse's own metrics for the operational alerts). The Prometheus rules and Grafana's inline
 * alert expressions are held to the same cases.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { parseAlertingConfig } from '../../alerting/config.ts';
import type { RuleGroup } from '../../alerting/rule-types.ts';

const run = promisify(execFile);

export async function promtool(cwd: string, ...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

export const EVERY_KIND = parseAlertingConfig(
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

/** The rules without annotations: promtool compares an alert's annotations whole, and the tests name the alerts by labels. */
export function withoutAnnotations(groups: RuleGroup[]): string {
  for (const g of groups) for (const r of g.rules) if ('alert' in r) r.annotations = {};
  return stringify({ groups }, { aliasDuplicateObjects: false });
}

export const voice = (tenant: string, goodPerMinute: string, totalPerMinute: string) => [
  { series: `signalhouse_sli_voice_first_response_seconds_bucket{le="0.8",tenant="${tenant}",instance="sh:4318",job="signalhouse"}`, values: goodPerMinute },
  { series: `signalhouse_sli_voice_first_response_seconds_count{tenant="${tenant}",instance="sh:4318",job="signalhouse"}`, values: totalPerMinute },
];
export const tools = (tenant: string, good: string, total: string) => [
  { series: `signalhouse_sli_ai_tool_calls_good_total{tenant="${tenant}",instance="sh:4318",job="signalhouse"}`, values: good },
  { series: `signalhouse_sli_ai_tool_calls_total{tenant="${tenant}",instance="sh:4318",job="signalhouse"}`, values: total },
];
export const own = (series: string, values: string) => ({ series: `${series.replace('}', ',instance="sh:4318",job="signalhouse"}')}`, values });

const burn = (tenant: string, slo: string, severity: string, long: string, short: string) => ({
  exp_labels: { tenant, slo, severity, long_window: long, short_window: short, evaluator: 'prometheus' },
});
const ALL_BURNS = (tenant: string) => [
  burn(tenant, 'voice-first-response', 'page', '1h', '5m'),
  burn(tenant, 'voice-first-response', 'page', '6h', '30m'),
  burn(tenant, 'voice-first-response', 'ticket', '3d', '6h'),
];
const instance = { instance: 'sh:4318', job: 'signalhouse' };

/** An SLO breached by acme, met by globex, burned by quiet initech; acme recovers at minute 31. */
export const SLO_CASE = {
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
};

/** Signalhouse's own metrics: slow ingest, validation failures, one failed INSERT. */
export const OPERATIONS_CASE = {
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
};
