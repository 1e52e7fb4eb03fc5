/**
 * End to end with the real thing: Prometheus (Debian's 2.42) scrapes a running Signalhouse every second and
 * evaluates the rules it serves at GET /api/v1/alerts/rules; Signalhouse's built-in evaluator runs every second
 * too; both send to a real Alertmanager (0.25), which routes every alert to a webhook receiver in this test.
 * The SLO windows are short (burn rate over 20 s and 4 s) so that it all happens in seconds. One tenant's first
 * voice responses turn slow: both paths' alerts arrive with its tenant, SLO and severity labels, none arrives
 * for the healthy tenant, and both resolve once its responses are fast again.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  eventually,
  type RunningProcess,
  startAlertmanager,
  startPrometheus,
  startWebhookReceiver,
  type WebhookAlert,
  type WebhookReceiver,
} from '../test/helpers/prometheus.ts';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../test/helpers/service.ts';

let webhook: WebhookReceiver;
let alertmanager: RunningProcess;
let prometheus: RunningProcess;
let svc: TestService;

beforeAll(async () => {
  webhook = await startWebhookReceiver();
  alertmanager = await startAlertmanager(webhook.url);
  svc = await startTestService({
    alerting: {
      evaluation_interval: '1s',
      burn_rates: [{ long: '20s', short: '4s', factor: 14.4, severity: 'page' }],
      objective_alert: { window: '10s' },
      alertmanager: { url: alertmanager.url },
      slos: [{ name: 'voice-first-response', metric: 'voice.first_response_ms.p99', threshold: '800ms', window: '1h' }],
    },
  });
  const rules = await (await fetch(`${svc.url}/api/v1/alerts/rules`)).text();
  prometheus = await startPrometheus({ target: new URL(svc.url).host, rules, alertmanager: new URL(alertmanager.url).host, intervalS: 1 });
});
afterAll(async () => {
  driving = false;
  await driver;
  await prometheus?.stop();
  await svc?.close();
  await alertmanager?.stop();
  await webhook?.close();
});

/** acme's first responses: slow (2 s) while `acmeSlow`, else fast; globex's always fast. Five of each every 200 ms. */
let acmeSlow = true;
let driving = true;
let seq = 0;
async function drive(): Promise<void> {
  while (driving) {
    const at = new Date().toISOString();
    for (const [key, ms] of [
      [ACME_KEY, acmeSlow ? 2000 : 100],
      [GLOBEX_KEY, 100],
    ] as const) {
      const events = Array.from({ length: 5 }, () => ({
        event_id: `e2e-${++seq}`,
        event_name: 'voice.first_response',
        occurred_at: at,
        attributes: { 'voice.turn_id': `t${seq}`, 'voice.first_response_ms': ms },
      }));
      const res = await fetch(`${svc.url}/api/v1/analytics/events/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ events }),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
let driver: Promise<void> = Promise.resolve();

const BURN = { alertname: 'SignalhouseSLOErrorBudgetBurn', slo: 'voice-first-response', severity: 'page', long_window: '20s', short_window: '4s' };
const matches = (a: WebhookAlert, status: string, labels: Record<string, string>) =>
  a.status === status && Object.entries(labels).every(([k, v]) => a.labels[k] === v);
const arrived = (status: string, labels: Record<string, string>) => () => webhook.received.find((a) => matches(a, status, labels));

it('a breached SLO reaches Alertmanager from Prometheus and from the built-in evaluator, for that tenant only, and resolves', async () => {
  driver = drive();
  const fromPrometheus = await eventually(
    'the Prometheus alert at the webhook',
    arrived('firing', { ...BURN, tenant: 'acme', evaluator: 'prometheus' }),
    60_000,
  );
  const fromSignalhouse = await eventually(
    'the built-in evaluator’s alert at the webhook',
    arrived('firing', { ...BURN, tenant: 'acme', evaluator: 'signalhouse' }),
    60_000,
  );
  expect(fromPrometheus.annotations.summary).toBe('acme: SLO voice-first-response is burning its error budget 14.4× too fast');
  expect(fromSignalhouse.annotations.summary).toBe(fromPrometheus.annotations.summary);
  // The objective alert too: the 10-second window holds far more than 100 records, all slow.
  await eventually('the objective alert', arrived('firing', { alertname: 'SignalhouseSLOObjectiveMissed', tenant: 'acme', severity: 'ticket' }), 30_000);

  acmeSlow = false;
  await eventually('the Prometheus alert resolved', arrived('resolved', { ...BURN, tenant: 'acme', evaluator: 'prometheus' }), 60_000);
  await eventually('the built-in evaluator’s alert resolved', arrived('resolved', { ...BURN, tenant: 'acme', evaluator: 'signalhouse' }), 60_000);
  driving = false;
  await driver;

  // globex kept its SLO all along: not one alert of any kind names it.
  expect(webhook.received.filter((a) => a.labels.tenant === 'globex')).toEqual([]);
  expect(webhook.received.filter((a) => a.labels.tenant === 'acme').length).toBeGreaterThanOrEqual(4);
  // Prometheus read the SLI from /metrics: its recording rule has both tenants.
  const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent('signalhouse:slo_errors:ratio_rate20s')}`);
  const tenants = ((await res.json()).data.result as Array<{ metric: Record<string, string> }>).map((r) => r.metric.tenant).sort();
  expect(tenants).toEqual(['acme', 'globex']);
});
