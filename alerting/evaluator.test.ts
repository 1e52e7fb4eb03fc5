/**
 * The built-in evaluator on a running service, evaluated at chosen instants over events with chosen event times:
 * which alerts fire for which tenant and severity, how they resolve window by window, what the webhook receives
 * (changes only, in Alertmanager's format, again after a failed delivery), and what `GET /api/v1/alerts` shows
 * each read token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../test/helpers/prometheus.ts';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../test/helpers/service.ts';

const MINUTE = 60_000;
const NOW = Date.now();

let svc: TestService;
let webhook: WebhookReceiver;
let seq = 0;

async function send(key: string, events: Array<{ name: string; atMs: number; attrs: Record<string, unknown> }>): Promise<void> {
  const res = await fetch(`${svc.url}/api/v1/analytics/events/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({
      events: events.map((e) => ({ event_id: `ev-${++seq}`, event_name: e.name, occurred_at: new Date(e.atMs).toISOString(), attributes: e.attrs })),
    }),
  });
  expect(res.status).toBe(200);
}

const firstResponses = (n: number, slow: number, atMs: number) =>
  Array.from({ length: n }, (_, i) => ({
    name: 'voice.first_response',
    atMs: atMs + i,
    attrs: { 'voice.turn_id': `t${seq}-${i}`, 'voice.first_response_ms': i < slow ? 2000 : 120 },
  }));
const toolCalls = (n: number, failing: number, atMs: number) =>
  Array.from({ length: n }, (_, i) => ({
    name: 'ai.tool_call_completed',
    atMs: atMs + i,
    attrs: { 'gen_ai.tool.name': 'lookup', 'ai.tool.success': i >= failing },
  }));

beforeAll(async () => {
  webhook = await startWebhookReceiver();
  svc = await startTestService({
    alerting: {
      // The timer would first run in 5 minutes: the tests evaluate at the instants they choose.
      evaluation_interval: '5m',
      webhook: { url: webhook.url },
      slos: [
        { name: 'voice-first-response', metric: 'voice.first_response_ms.p99', threshold: '800ms', min_events: 20 },
        { name: 'tools', metric: 'ai.tool_calls.success_rate', objective: 0.98, tenants: ['acme'], min_events: 20 },
      ],
    },
  });
  // Two minutes before NOW: 40 of acme's 50 first responses are slow; all of globex's are fast.
  await send(ACME_KEY, firstResponses(50, 40, NOW - 2 * MINUTE));
  await send(GLOBEX_KEY, firstResponses(50, 0, NOW - 2 * MINUTE));
  // Tool calls: acme within its 98%; globex failing every one, but that SLO is acme's only.
  await send(ACME_KEY, toolCalls(100, 1, NOW - 2 * MINUTE));
  await send(GLOBEX_KEY, toolCalls(30, 30, NOW - 2 * MINUTE));
});
afterAll(async () => {
  await svc?.close();
  await webhook?.close();
});

const evaluateAt = (ms: number) => svc.service.alerting.evaluator.evaluate(ms);
async function alertsOf(token: string) {
  const res = await fetch(`${svc.url}/api/v1/alerts`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return res.json();
}
const firingNames = (state: { alerts: Array<{ state: string; labels: Record<string, string> }> }) =>
  state.alerts
    .filter((a) => a.state === 'firing')
    .map((a) => `${a.labels.alertname} ${a.labels.slo} ${a.labels.severity} ${a.labels.long_window ?? a.labels.window}`)
    .sort();

const ALL_FOUR = [
  'SignalhouseSLOErrorBudgetBurn voice-first-response page 1h',
  'SignalhouseSLOErrorBudgetBurn voice-first-response page 6h',
  'SignalhouseSLOErrorBudgetBurn voice-first-response ticket 3d',
  'SignalhouseSLOObjectiveMissed voice-first-response ticket 10m',
];

describe('evaluation', () => {
  it('fires every burn-rate pair and the objective alert for the tenant breaking the SLO, nothing for the others', async () => {
    await evaluateAt(NOW);
    const acme = await alertsOf('rt_acme_test_token');
    expect(firingNames(acme)).toEqual(ALL_FOUR);
    const burn = acme.alerts.find((a: { labels: Record<string, string> }) => a.labels.long_window === '1h');
    expect(burn.labels).toEqual({
      alertname: 'SignalhouseSLOErrorBudgetBurn',
      tenant: 'acme',
      slo: 'voice-first-response',
      severity: 'page',
      long_window: '1h',
      short_window: '5m',
      evaluator: 'signalhouse',
    });
    expect(burn.value).toBeCloseTo(0.8, 12);
    expect(burn.annotations.summary).toBe('acme: SLO voice-first-response is burning its error budget 14.4× too fast');
    expect(burn.startsAt).toBe(new Date(NOW).toISOString());
    // Its SLO status: 50 records in every window, 80% of them slow, 80× the 1% budget.
    const voice = acme.slos.find((s: { slo: string }) => s.slo === 'voice-first-response');
    expect(voice.windows['5m']).toEqual({ events: 50, error_ratio: 0.8, burn_rate: expect.closeTo(80, 9) });
    expect(acme.slos.find((s: { slo: string }) => s.slo === 'tools').windows['1h']).toEqual({
      events: 100,
      error_ratio: 0.01,
      burn_rate: expect.closeTo(0.5, 9),
    });

    const globex = await alertsOf('rt_globex_test_token');
    expect(globex.alerts).toEqual([]);
    // globex's failing tool calls are not under an SLO of its own; its voice SLO is met.
    expect(globex.slos.map((s: { slo: string }) => s.slo)).toEqual(['voice-first-response']);
    expect(globex.slos[0].windows['5m'].error_ratio).toBe(0);

    // The webhook got the four as they started firing, in Alertmanager's format.
    expect(webhook.received.map((a) => [a.status, a.labels.tenant, a.labels.alertname, a.endsAt])).toEqual(
      Array(4).fill(['firing', 'acme', expect.stringMatching(/^SignalhouseSLO/), '0001-01-01T00:00:00Z']),
    );
  });

  it('sends the webhook changes only: firing alerts are not sent again while they keep firing', async () => {
    await evaluateAt(NOW + 10_000);
    expect(webhook.received).toHaveLength(4);
    expect(firingNames(await alertsOf('rt_acme_test_token'))).toEqual(ALL_FOUR);
  });

  it('resolves window by window as the slow responses age out, with endsAt; a failed delivery comes again', async () => {
    // Six minutes later the slow responses are 8 minutes old: out of the 5-minute window, in the others.
    webhook.status = 503;
    await evaluateAt(NOW + 6 * MINUTE);
    expect(webhook.received).toHaveLength(4);
    webhook.status = 200;
    await evaluateAt(NOW + 6 * MINUTE + 1000);
    const resolved = webhook.received.slice(4);
    expect(resolved.map((a) => [a.status, a.labels.long_window, a.endsAt])).toEqual([['resolved', '1h', new Date(NOW + 6 * MINUTE).toISOString()]]);
    const acme = await alertsOf('rt_acme_test_token');
    expect(firingNames(acme)).toEqual(ALL_FOUR.filter((a) => !a.endsWith(' 1h')));
    expect(acme.alerts.find((a: { labels: Record<string, string> }) => a.labels.long_window === '1h').state).toBe('resolved');

    // 40 minutes on: out of the 10- and 30-minute windows too; the 3-day ticket still burns over its 6 hours.
    await evaluateAt(NOW + 40 * MINUTE);
    expect(firingNames(await alertsOf('rt_acme_test_token'))).toEqual(['SignalhouseSLOErrorBudgetBurn voice-first-response ticket 3d']);
    expect(
      webhook.received
        .slice(5)
        .map((a) => `${a.status} ${a.labels.long_window ?? a.labels.window}`)
        .sort(),
    ).toEqual(['resolved 10m', 'resolved 6h']);
  });

  it('a resolved alert is shown for 15 minutes, then forgotten', async () => {
    const windowsShown = async () =>
      (await alertsOf('rt_acme_test_token')).alerts.map((a: { labels: Record<string, string> }) => a.labels.long_window ?? a.labels.window).sort();
    // The 1-hour pair resolved 48 minutes before: gone; the two resolved 14 minutes before: still shown.
    await evaluateAt(NOW + 40 * MINUTE + 14 * MINUTE);
    expect(await windowsShown()).toEqual(['10m', '3d', '6h']);
    await evaluateAt(NOW + 40 * MINUTE + 16 * MINUTE);
    expect(await windowsShown()).toEqual(['3d']);
  });
});

describe('GET /api/v1/alerts', () => {
  it('needs a read token: 401 without one or with an unknown token, 403 with a write key', async () => {
    for (const headers of [{}, { authorization: 'Bearer rt_nobody_at_all' }] as Array<Record<string, string>>) {
      const res = await fetch(`${svc.url}/api/v1/alerts`, { headers });
      expect(res.status).toBe(401);
      expect((await res.json()).error).toBe('UNAUTHENTICATED');
    }
    const writeKey = await fetch(`${svc.url}/api/v1/alerts`, { headers: { authorization: `Bearer ${ACME_KEY}` } });
    expect(writeKey.status).toBe(403);
    expect((await writeKey.json()).error).toBe('FORBIDDEN_ROLE');
  });

  it('says how the evaluator runs', async () => {
    const state = await alertsOf('rt_globex_test_token');
    expect(state).toMatchObject({ enabled: true, interval_ms: 300_000, evaluated_at: new Date(NOW + 56 * MINUTE).toISOString() });
  });
});
