/**
 * Read after ack: every read path, started right after a 2xx, sees that request's events, although small
 * requests land in a landing slot and move on to their tables only after `landing.move_delay` (1 s here, the
 * default). Each query below is sent without waiting for anything but the ingest reply. Also: a quantile over a
 * handful of values is exact (the sketch answers 422.01 for one value of 420, and 39.85 for the p95 of 10…50).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postReport } from '../test/helpers/catalog-data.ts';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';

let svc: TestService;
const READ = { 'content-type': 'application/json', authorization: 'Bearer rt_acme_test_token' };
const FROM = new Date(Date.now() - 3_600_000).toISOString();
const TO = new Date(Date.now() + 3_600_000).toISOString();

beforeAll(async () => {
  // A long move delay: without the read barrier, nothing would be visible for 30 s.
  svc = await startTestService({ exporters: { clickhouse: { landing: { move_delay: '30s' } } } });
});
afterAll(async () => {
  await svc?.close();
});

let seq = 0;
type Attrs = Record<string, string | number>;
/** One OTLP/JSON request with one event per attribute set, all named `name`; resolves after a 200 refusing none. */
async function send(name: string, events: Attrs[], user = 'u-1'): Promise<void> {
  const now = BigInt(Date.now()) * 1_000_000n;
  const logRecords = events.map((attrs, i) => ({
    timeUnixNano: String(now + BigInt(i)),
    eventName: name,
    attributes: [
      { key: 'log.record.uid', value: { stringValue: `raa-${++seq}` } },
      { key: 'user.id', value: { stringValue: user } },
      ...Object.entries(attrs).map(([key, v]) => ({ key, value: typeof v === 'number' ? { doubleValue: v } : { stringValue: v } })),
    ],
  }));
  const res = await fetch(`${svc.url}/v1/logs`, {
    method: 'POST',
    body: JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords }] }] }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({});
}

const post = async (path: string, body: unknown) => {
  const res = await fetch(`${svc.url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: READ });
  expect(res.status).toBe(200);
  return res.json();
};

describe('read after ack', () => {
  it('a summary sent right after the 2xx counts the event, with an exact quantile', async () => {
    await send('voice.first_response', [{ 'voice.turn_id': 't-1', 'voice.first_response_ms': 420 }]);
    const { status, body } = await postReport(svc.url, 'summary', {
      from: FROM,
      to: TO,
      metrics: ['voice.first_response_ms.p50', 'voice.first_response_ms.p99'],
    });
    expect(status).toBe(200);
    expect(body.metrics).toEqual({ 'voice.first_response_ms.p50': 420, 'voice.first_response_ms.p99': 420 });
    // Over a day (the README's request): the rollup serves that range, and its few values are answered exactly.
    const day = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 86_400_000).toISOString() };
    const long = await postReport(svc.url, 'summary', { ...day, metrics: ['voice.first_response_ms.p50'] });
    expect(long.body.metrics).toEqual({ 'voice.first_response_ms.p50': 420 });
    const sketch = await postReport(svc.url, 'summary', { ...day, metrics: ['voice.first_response_ms.p50'], source: 'rollup' });
    expect(Math.abs(sketch.body.metrics['voice.first_response_ms.p50'] - 420) / 420).toBeLessThan(0.01);
  });

  it('exact quantiles of few values take the element at rank floor(q × (n − 1)), as the sketch does', async () => {
    await send(
      'kb.search',
      [10, 20, 30, 40, 50].map((ms) => ({ 'kb.results_count': 1, 'kb.search_latency_ms': ms })),
    );
    const { body } = await postReport(svc.url, 'summary', { from: FROM, to: TO, metrics: ['kb.search_latency_ms.p95'] });
    expect(body.metrics['kb.search_latency_ms.p95']).toBe(40);
  });

  it('every read path sees what was acknowledged just before it', async () => {
    await send('raa.step1', [{}], 'u-funnel');
    await send('raa.step2', [{}], 'u-funnel');
    const [query, counts, users, funnel, series, realtime] = await Promise.all([
      post('/v1/analytics/query', {
        metrics: ['count'],
        dimensions: ['event_name'],
        filters: [{ field: 'event_name', op: 'in', value: ['raa.step1', 'raa.step2'] }],
        dateRange: { from: FROM, to: TO },
      }),
      post('/api/v1/analytics/counts/events', { from: FROM, to: TO, event_name: 'raa.step2' }),
      post('/api/v1/analytics/counts/users', { from: FROM, to: TO }),
      post('/api/v1/analytics/reports/funnel', { from: FROM, to: TO, steps: ['raa.step1', 'raa.step2'] }),
      post('/api/v1/analytics/reports/timeseries', { from: FROM, to: TO, metric: 'voice.first_response_ms.p50', grain: '1h' }),
      fetch(`${svc.url}/api/v1/analytics/metrics/realtime`, { headers: READ }).then((r) => r.json()),
    ]);
    expect(query.data.rows.map((r: { event_name: string; count: unknown }) => [r.event_name, Number(r.count)]).sort()).toEqual([
      ['raa.step1', 1],
      ['raa.step2', 1],
    ]);
    expect(counts).toEqual({ count: 1 });
    expect(Number(users.unique_users)).toBeGreaterThanOrEqual(2);
    expect(funnel.steps.map((s: { count: number }) => s.count)).toEqual([1, 1]);
    // An hourly grain reads the rollup (fed by the move), which keeps sketches: within their 1%.
    const values = series.points.map((p: { value: number | null }) => p.value).filter((v: number | null) => v !== null);
    expect(values).toHaveLength(1);
    expect(Math.abs(values[0] - 420) / 420).toBeLessThan(0.01);
    expect(realtime.events_per_second).toBeGreaterThan(0);
  });

  it('many requests acknowledged at once are all visible to the next query', async () => {
    await Promise.all(Array.from({ length: 20 }, () => send('raa.burst', [{}, {}, {}])));
    expect(await post('/api/v1/analytics/counts/events', { from: FROM, to: TO, event_name: 'raa.burst' })).toEqual({ count: 60 });
  });
});
