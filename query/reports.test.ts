/**
 * Reports against data ingested through the real APIs: every catalog metric is compared with a value computed
 * independently here (exact quantiles vs t-digest within 1%), time series buckets and gaps, site filters, and
 * tenant safety (read tokens, other tenants' data, hostile fields).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asr,
  BASE,
  exactQuantile,
  firstResponse,
  FROM,
  HOUR,
  kbLatency,
  kbResults,
  kbTop,
  loadCatalogData,
  postReport,
  TO,
} from '../test/helpers/catalog-data.ts';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';

let svc: TestService;
const report = (path: string, body: unknown, token?: string) => postReport(svc.url, path, body, token);

beforeAll(async () => {
  svc = await startTestService();
  await loadCatalogData(svc);
});
afterAll(async () => {
  await svc?.close();
});

describe('summary', () => {
  it('matches values computed independently, for every metric in the catalog', async () => {
    const { status, body } = await report('summary', { from: FROM, to: TO });
    expect(status).toBe(200);
    const m = body.metrics as Record<string, number | null>;
    const within1pct = (name: string, exact: number) =>
      expect(Math.abs(m[name]! - exact) / exact, `${name}: ${m[name]} vs exact ${exact}`).toBeLessThanOrEqual(0.01);
    within1pct('voice.first_response_ms.p50', exactQuantile(firstResponse, 0.5));
    within1pct('voice.first_response_ms.p95', exactQuantile(firstResponse, 0.95));
    within1pct('voice.first_response_ms.p99', exactQuantile(firstResponse, 0.99));
    within1pct('voice.asr_partial_latency_ms.p95', exactQuantile(asr, 0.95));
    within1pct('kb.search_latency_ms.p95', exactQuantile(kbLatency, 0.95));
    expect(m['voice.barge_in_count']).toBe(7);
    expect(m['ai.tool_calls.count']).toBe(40 + 20);
    expect(m['ai.tool_calls.success_rate']).toBeCloseTo((30 + 15) / 60, 10);
    expect(m['ai.navigation_optimism_rate']).toBeCloseTo(7 / 10, 10);
    expect(m['ai.tool_chain_length.avg']).toBeCloseTo(4, 10);
    expect(m['kb.hit_rate']).toBeCloseTo(kbResults.filter((r) => r > 0).length / kbResults.length, 10);
    expect(m['kb.relevance_score.avg']).toBeCloseTo(kbTop.reduce((a, b) => a + b, 0) / kbTop.length, 6);
    // The catalog's definition: sessions with a checkout (s0–s3, s20) / sessions with a view (s0–s9).
    expect(m['commerce.conversion_rate']).toBeCloseTo(5 / 10, 10);
    expect(m['booking.hold_to_confirm_rate']).toBeCloseTo(3 / 8, 10);
    expect(m['system.error_rate']).toBeCloseTo(7 / 30, 10);
  });

  it('filters by site and answers null where there is no data', async () => {
    const { body } = await report('summary', {
      from: FROM,
      to: TO,
      site_id: 'site-a',
      metrics: ['voice.first_response_ms.p50', 'voice.barge_in_count', 'kb.hit_rate'],
    });
    within(
      body.metrics['voice.first_response_ms.p50'],
      exactQuantile(
        firstResponse.filter((_, i) => i % 2 === 1),
        0.5,
      ),
    );
    expect(body.metrics['voice.barge_in_count']).toBe(0);
    expect(body.metrics['kb.hit_rate']).toBeNull();
    const empty = await report('summary', {
      from: new Date(BASE - 48 * HOUR).toISOString(),
      to: new Date(BASE - 47 * HOUR).toISOString(),
      metrics: ['voice.first_response_ms.p95', 'ai.tool_calls.success_rate'],
    });
    expect(empty.body.metrics).toEqual({ 'voice.first_response_ms.p95': null, 'ai.tool_calls.success_rate': null });
  });
});

function within(value: number, exact: number) {
  expect(Math.abs(value - exact) / exact).toBeLessThanOrEqual(0.01);
}

describe('rollups', () => {
  it('answer a long range from the sketch when it holds many values, exactly from the raw events when it holds few', async () => {
    // 8 hours: the rollup's range. voice.first_response holds 1,200 values there, voice.asr_partial 400.
    const long = { from: new Date(BASE - 2 * HOUR).toISOString(), to: new Date(BASE + 6 * HOUR).toISOString() };
    const metrics = ['voice.first_response_ms.p50', 'voice.asr_partial_latency_ms.p95'];
    const auto = (await report('summary', { ...long, metrics })).body.metrics;
    const raw = (await report('summary', { ...long, metrics, source: 'raw' })).body.metrics;
    const rollup = (await report('summary', { ...long, metrics, source: 'rollup' })).body.metrics;
    expect(auto['voice.first_response_ms.p50']).toBe(rollup['voice.first_response_ms.p50']);
    expect(auto['voice.asr_partial_latency_ms.p95']).toBe(raw['voice.asr_partial_latency_ms.p95']);
    expect(auto['voice.asr_partial_latency_ms.p95']).not.toBe(rollup['voice.asr_partial_latency_ms.p95']);
  });

  it('give the same answers as the raw events for every metric (quantiles within 1%)', async () => {
    const raw = (await report('summary', { from: FROM, to: TO, source: 'raw' })).body.metrics as Record<string, number | null>;
    const rollup = (await report('summary', { from: FROM, to: TO, source: 'rollup' })).body.metrics as Record<string, number | null>;
    expect(Object.keys(rollup).sort()).toEqual(Object.keys(raw).sort());
    for (const [name, value] of Object.entries(raw)) {
      if (value === null) expect(rollup[name], name).toBeNull();
      else if (name.includes('_ms.p')) expect(Math.abs(rollup[name]! - value) / value, name).toBeLessThanOrEqual(0.01);
      else expect(rollup[name], name).toBeCloseTo(value, 9);
    }
  });

  it('agree with the raw events over ranges that start and end inside an hour (minutes + whole hours)', async () => {
    const range = { from: new Date(BASE + 25 * 60_000).toISOString(), to: new Date(BASE + 2 * HOUR + 40 * 60_000).toISOString() };
    const raw = (await report('summary', { ...range, source: 'raw' })).body.metrics as Record<string, number | null>;
    const rollup = (await report('summary', { ...range, source: 'rollup' })).body.metrics as Record<string, number | null>;
    // Events spread over each hour, so the head and tail minutes hold some and leave some out.
    expect(raw['voice.barge_in_count']).toBeGreaterThan(0);
    expect(raw['voice.first_response_ms.p50']).not.toBeNull();
    for (const [name, value] of Object.entries(raw)) {
      if (value === null) expect(rollup[name], name).toBeNull();
      else if (name.includes('_ms.p')) expect(Math.abs(rollup[name]! - value) / value, name).toBeLessThanOrEqual(0.01);
      else expect(rollup[name], name).toBeCloseTo(value, 9);
    }
    for (const grain of ['5m', '1h']) {
      for (const metric of ['voice.barge_in_count', 'ai.tool_calls.count', 'kb.hit_rate']) {
        const r = await report('timeseries', { metric, ...range, grain, source: 'raw' });
        expect((await report('timeseries', { metric, ...range, grain, source: 'rollup' })).body, `${metric} ${grain}`).toEqual(r.body);
      }
    }
  });

  it('serve time series and site filters the same way', async () => {
    for (const metric of ['voice.barge_in_count', 'ai.tool_calls.success_rate', 'kb.hit_rate']) {
      const raw = await report('timeseries', { metric, from: FROM, to: TO, grain: '1h', source: 'raw' });
      const rollup = await report('timeseries', { metric, from: FROM, to: TO, grain: '1h', source: 'rollup' });
      expect(rollup.body, metric).toEqual(raw.body);
    }
    const site = { from: FROM, to: TO, site_id: 'site-a', metrics: ['voice.first_response_ms.p50'] };
    const raw = (await report('summary', { ...site, source: 'raw' })).body.metrics['voice.first_response_ms.p50'];
    within((await report('summary', { ...site, source: 'rollup' })).body.metrics['voice.first_response_ms.p50'], raw);
  });

  it('are chosen automatically for long ranges and coarse grains', async () => {
    // Same answer either way; the automatic choice is exercised through the API without a source field.
    const auto = await report('timeseries', { metric: 'voice.barge_in_count', from: FROM, to: TO, grain: '1h' });
    expect(auto.body.points.map((p: { value: number | null }) => p.value)).toEqual([5, null, 2, null]);
  });
});

describe('timeseries', () => {
  it('buckets by grain, aligned to the epoch, with empty buckets as null', async () => {
    const { status, body } = await report('timeseries', { metric: 'voice.barge_in_count', from: FROM, to: TO, grain: '1h' });
    expect(status).toBe(200);
    expect(body).toEqual({
      metric: 'voice.barge_in_count',
      grain: '1h',
      points: [0, 1, 2, 3].map((h) => ({ t: new Date(BASE + h * HOUR).toISOString(), value: [5, null, 2, null][h] })),
    });
  });

  it('computes quantiles per bucket', async () => {
    const { body } = await report('timeseries', { metric: 'voice.first_response_ms.p95', from: FROM, to: TO, grain: '1h' });
    for (let h = 0; h < 3; h++)
      within(
        body.points[h].value,
        exactQuantile(
          firstResponse.filter((_, i) => i % 3 === h),
          0.95,
        ),
      );
    expect(body.points[3].value).toBeNull();
  });
});

describe('overview', () => {
  it("gives every metric's summary and time series, as the summary and timeseries reports do, on every path", async () => {
    const long = { from: new Date(BASE - 20 * HOUR).toISOString(), to: new Date(BASE + 6 * HOUR).toISOString() };
    for (const [range, grain] of [
      [{ from: FROM, to: TO }, '1h'],
      [{ from: FROM, to: TO, site_id: 'site-a' }, '5m'],
      [long, '1h'],
    ] as const) {
      for (const source of [undefined, 'raw', 'rollup'] as const) {
        const label = `${JSON.stringify(range)} ${grain} ${source}`;
        const withSource = source ? { source } : {};
        const overview = await report('overview', { ...range, grain, ...withSource });
        expect(overview.status, label).toBe(200);
        const summary = await report('summary', { ...range, ...withSource });
        const names = Object.keys(summary.body.metrics);
        expect(Object.keys(overview.body.metrics), label).toEqual(names);
        for (const name of names) expect(overview.body.metrics[name].value, `${label} ${name}`).toBe(summary.body.metrics[name]);
        // Every series on the automatic path; on the forced ones, a quantile, a rate and a count.
        for (const name of source ? ['voice.first_response_ms.p95', 'ai.tool_calls.success_rate', 'voice.barge_in_count'] : names) {
          const series = await report('timeseries', { ...range, grain, metric: name, ...withSource });
          expect(overview.body.metrics[name].points, `${label} ${name}`).toEqual(series.body.points);
        }
      }
    }
  });

  it('answers only the metrics asked for, and refuses too many points', async () => {
    const { body } = await report('overview', { from: FROM, to: TO, grain: '1h', metrics: ['voice.barge_in_count'] });
    expect(body).toEqual({
      grain: '1h',
      metrics: { 'voice.barge_in_count': { value: 7, points: [5, null, 2, null].map((value, h) => ({ t: new Date(BASE + h * HOUR).toISOString(), value })) } },
    });
    const many = await report('overview', { from: new Date(BASE - 30 * HOUR).toISOString(), to: TO, grain: '1m' });
    expect(many.status).toBe(400);
    expect(many.body.message).toBe('grain: 2040 points requested, at most 1000: use a coarser grain');
  });
});

describe('tenant safety and validation', () => {
  it("never shows another tenant's rows", async () => {
    const acme = await report('summary', { from: FROM, to: TO, metrics: ['voice.first_response_ms.p99'] });
    expect(acme.body.metrics['voice.first_response_ms.p99']).toBeLessThan(99_999);
    const globex = await report('summary', { from: FROM, to: TO, metrics: ['voice.first_response_ms.p50', 'kb.hit_rate'] }, 'rt_globex_test_token');
    within(globex.body.metrics['voice.first_response_ms.p50'], 99_999);
    expect(globex.body.metrics['kb.hit_rate']).toBeNull();
  });

  it('requires a read token: unknown and missing tokens get 401, a write key 403 (it only ingests)', async () => {
    for (const token of ['rt_nobody', '']) {
      const res = await report('summary', { from: FROM, to: TO }, token);
      expect(res.status).toBe(401);
    }
    const write = await report('summary', { from: FROM, to: TO }, ACME_KEY);
    expect([write.status, write.body]).toEqual([403, { error: 'FORBIDDEN_ROLE', message: 'a write key only ingests: this route needs a read token' }]);
  });

  it('refuses hostile and malformed fields with 400, and binds the rest', async () => {
    const bad = [
      [{ metric: "voice.barge_in_count' OR 1=1 --", from: FROM, to: TO, grain: '1h' }, /metric: unknown metric/],
      [{ metric: 'voice.barge_in_count', from: FROM, to: TO, grain: '2h' }, /grain: Invalid option/],
      [{ metric: 'voice.barge_in_count', from: TO, to: FROM, grain: '1h' }, /to: must be after from/],
      [{ metric: 'voice.barge_in_count', from: 'yesterday', to: TO, grain: '1h' }, /from: must be an ISO 8601 time/],
      [{ metric: 'voice.barge_in_count', from: '2000-01-01T00:00:00Z', to: TO, grain: '1m' }, /grain: \d+ points requested, at most 10000/],
      [{ metric: 'voice.barge_in_count', from: FROM, to: TO, grain: '1h', tenant_id: 'globex' }, /Unrecognized key: "tenant_id"/],
    ] as const;
    for (const [body, message] of bad) {
      const res = await report('timeseries', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.message).toMatch(message);
    }
    // A site id is a bound value: quotes and SQL in it just match no rows.
    const res = await report('summary', { from: FROM, to: TO, site_id: "site-a' OR '1'='1", metrics: ['voice.barge_in_count'] });
    expect(res).toEqual({ status: 200, body: { metrics: { 'voice.barge_in_count': 0 } } });
  });

  it('lists the catalog', async () => {
    const res = await fetch(`${svc.url}/api/v1/analytics/metrics`, { headers: { authorization: 'Bearer rt_acme_test_token' } });
    const body = await res.json();
    expect(body.metrics).toHaveLength(15);
    expect(body.metrics[0]).toEqual({
      name: 'voice.first_response_ms.p50',
      description: expect.any(String),
      unit: 'ms',
      better: 'lower',
      group: 'voice',
      events: ['voice.first_response'],
      spans: null,
    });
    expect(body.metrics.find((m: { name: string }) => m.name === 'ai.tool_calls.count')).toMatchObject({
      events: ['ai.tool_call_completed'],
      spans: 'execute_tool',
    });
    expect(body.metrics.find((m: { name: string }) => m.name === 'system.error_rate')).toMatchObject({ events: [], spans: '*' });
    expect(body.groups.map((g: { id: string }) => g.id)).toEqual(['voice', 'ai_tools', 'knowledge_base', 'business', 'system']);
    // Every metric in a listed group, the groups in the catalog's order.
    const groupOf = new Map<string, number>(body.groups.map((g: { id: string }, i: number) => [g.id, i]));
    const order = body.metrics.map((m: { group: string }) => groupOf.get(m.group));
    expect(order).toEqual([...order].sort((a: number, b: number) => a - b));
    type Listed = { name: string; group: string };
    const business = body.metrics.filter((m: Listed) => m.name.startsWith('commerce.') || m.name.startsWith('booking.'));
    expect(business.map((m: Listed) => m.group)).toEqual(['business', 'business']);
  });
});
