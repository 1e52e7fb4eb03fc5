/**
 * The SLI metrics on a running service: they count exactly what the catalog's SQL counts over the stored events
 * (every SLI, both tenants, events and spans), retried duplicates move none of them, their buckets hold every
 * SLO threshold; and the tenant label cap keeps the top tenants by volume, the rest under `__other__`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogBatch } from '../core/event.ts';
import { METRICS } from '../query/catalog.ts';
import { sloCounts } from '../query/slo.ts';
import { BASE, HOUR, loadCatalogData } from '../test/helpers/catalog-data.ts';
import { testLogEvent } from '../test/helpers/events.ts';
import { parseExposition, sampleKey } from '../test/helpers/prometheus.ts';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { parseAlertingConfig } from './config.ts';
import { prometheusRulesYaml } from './rules.ts';
import { createSliObserver, type SliObserver } from './sli.ts';
import { latencyBoundsMs, latencyMetricName, leLabel, ratioMetricNames, SLIS } from './sli-metrics.ts';
import { OTHER_TENANTS } from './tenant-series.ts';

const ALERTING = {
  // A threshold off the default buckets, which the voice histogram must gain.
  slos: [{ name: 'voice', metric: 'voice.first_response_ms.p99', threshold: 777 }],
};

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ alerting: ALERTING });
  await loadCatalogData(svc);
  await traces(ACME_KEY, [
    // Retrieval spans: latency from the attribute, else from the span's duration (12 ms).
    {
      op: 'retrieval',
      attrs: [
        ['kb.search_latency_ms', '40'],
        ['kb.results_count', '2'],
      ],
    },
    { op: 'retrieval', attrs: [['kb.results_count', '0']] },
    { op: 'retrieval', attrs: [['kb.search_latency_ms', '900']], error: true },
    { op: 'execute_tool', attrs: [['ai.navigation.optimistic', 'true']] },
    { op: 'execute_tool', attrs: [['ai.navigation.optimistic', 'true']], error: true },
  ]);
  await traces(GLOBEX_KEY, [{ op: 'execute_tool', attrs: [], error: true }, { attrs: [] }]);
  await svc.settle();
});
afterAll(async () => {
  await svc?.close();
});

let spanSeq = 0;
async function traces(key: string, spans: Array<{ op?: string; attrs: Array<[string, string]>; error?: boolean }>): Promise<void> {
  const start = BigInt(BASE + HOUR) * 1_000_000n;
  const body = {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: spans.map((s) => ({
              traceId: (++spanSeq).toString(16).padStart(32, 'a'),
              spanId: spanSeq.toString(16).padStart(16, 'b'),
              name: s.op ?? 'http',
              kind: 3,
              startTimeUnixNano: String(start),
              endTimeUnixNano: String(start + 12_000_000n),
              attributes: [...(s.op ? [['gen_ai.operation.name', s.op]] : []), ...s.attrs].map(([key, value]) => ({ key, value: { stringValue: value } })),
              status: { code: s.error ? 2 : 0 },
            })),
          },
        ],
      },
    ],
  };
  const res = await fetch(`${svc.url}/v1/traces`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  });
  expect(res.status).toBe(200);
}

const scrape = async () => parseExposition(await (await fetch(`${svc.url}/metrics`)).text());
const sliSamples = (samples: Map<string, number>) => [...samples].filter(([k]) => k.startsWith('signalhouse_sli_'));
const metricOf = (id: string) => METRICS.find((m) => m.sli?.id === id)!;

describe('the SLI metrics count what the catalog counts', () => {
  it('every SLI, per tenant, at every bucket bound: /metrics equals the catalog SQL over the stored events', async () => {
    const samples = await scrape();
    const config = svc.service.alerting.config;
    let compared = 0;
    for (const sli of SLIS) {
      const metric = metricOf(sli.id);
      const bounds = sli.kind === 'latency' ? latencyBoundsMs(config, sli.id) : [undefined];
      for (const threshold of bounds) {
        const rows = await sloCounts(svc.service.store, metric, { tenants: [], toMs: Date.now() + HOUR, windowsMs: [10 * HOUR], threshold });
        expect(rows.length, sli.id).toBeGreaterThan(0);
        for (const { tenant, windows } of rows) {
          const [{ total, good }] = windows;
          if (sli.kind === 'latency') {
            const name = latencyMetricName(sli.id);
            expect(samples.get(sampleKey(`${name}_count`, { tenant })), `${sli.id} ${tenant} count`).toBe(total);
            expect(samples.get(sampleKey(`${name}_bucket`, { tenant, le: leLabel(threshold!) })), `${sli.id} ${tenant} ≤ ${threshold}`).toBe(good);
          } else {
            const names = ratioMetricNames(sli.id);
            expect(samples.get(sampleKey(names.total, { tenant })), `${sli.id} ${tenant} total`).toBe(total);
            expect(samples.get(sampleKey(names.good, { tenant })), `${sli.id} ${tenant} good`).toBe(good);
          }
          compared++;
        }
      }
    }
    // The data set reaches every SLI: 1,200 first responses for acme, 50 for globex; spans of both.
    expect(samples.get(sampleKey(`${latencyMetricName('voice_first_response')}_count`, { tenant: 'acme' }))).toBe(1200);
    expect(samples.get(sampleKey(`${latencyMetricName('voice_first_response')}_count`, { tenant: 'globex' }))).toBe(50);
    expect(samples.get(sampleKey(ratioMetricNames('ai_optimistic_navigations').total, { tenant: 'acme' }))).toBe(12);
    expect(samples.get(sampleKey(ratioMetricNames('spans').total, { tenant: 'globex' }))).toBe(2);
    expect(compared).toBeGreaterThan(40);
  });

  it('latency buckets hold every SLO threshold; SLIs without an SLO have the default buckets', async () => {
    const samples = await scrape();
    expect(samples.has(sampleKey(`${latencyMetricName('voice_first_response')}_bucket`, { tenant: 'acme', le: '0.777' }))).toBe(true);
    expect(samples.has(sampleKey(`${latencyMetricName('voice_asr_partial_latency')}_bucket`, { tenant: 'acme', le: '0.777' }))).toBe(false);
    expect(samples.has(sampleKey(`${latencyMetricName('voice_asr_partial_latency')}_bucket`, { tenant: 'acme', le: '0.15' }))).toBe(true);
    expect(samples.get(sampleKey(`${latencyMetricName('voice_asr_partial_latency')}_bucket`, { tenant: 'acme', le: '+Inf' }))).toBe(400);
  });

  it('a burst of retried events moves no SLI: duplicates are counted by dedupe, never observed', async () => {
    const batch = {
      events: Array.from({ length: 20 }, (_, i) => ({
        event_id: `retried-${i}`,
        event_name: i % 2 ? 'voice.first_response' : 'ai.tool_call_completed',
        occurred_at: new Date(BASE + HOUR).toISOString(),
        attributes: i % 2 ? { 'voice.turn_id': `r${i}`, 'voice.first_response_ms': 5000 } : { 'gen_ai.tool.name': 'x', 'ai.tool.success': false },
      })),
    };
    const send = () =>
      fetch(`${svc.url}/api/v1/analytics/events/batch`, {
        method: 'POST',
        body: JSON.stringify(batch),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
      });
    expect((await send()).status).toBe(200);
    const once = await scrape();
    const responses = await Promise.all(Array.from({ length: 10 }, send));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    for (let i = 0; i < 5; i++) expect((await send()).status).toBe(200);
    const after = await scrape();
    expect(sliSamples(after)).toEqual(sliSamples(once));
    // The burst did reach the pipeline: 300 repeats passed over by dedupe.
    const dropped = (m: Map<string, number>) =>
      m.get(sampleKey('signalhouse_processor_records_total', { pipeline: 'logs', processor: 'dedupe', outcome: 'dropped' })) ?? 0;
    expect(dropped(after) - dropped(once)).toBe(300);
    // And the first copy counted: 10 first responses of 5 s more than before it.
    const count = (m: Map<string, number>) => m.get(sampleKey(`${latencyMetricName('voice_first_response')}_count`, { tenant: 'acme' }));
    expect(count(once)).toBe(1210);
  });
});

describe("the operators' routes", () => {
  it('serves the Prometheus rule file of the configured SLOs at GET /api/v1/alerts/rules, without a token', async () => {
    const res = await fetch(`${svc.url}/api/v1/alerts/rules`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/yaml; charset=utf-8');
    const text = await res.text();
    expect(text).toBe(prometheusRulesYaml(svc.service.alerting.config));
    expect(text).toContain('signalhouse_sli_voice_first_response_seconds_bucket{le="0.777"}');
  });

  it("every series the rules read is a metric of /metrics: the SLIs and Signalhouse's own", async () => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const types = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const read = new Set([...svc.service.alerting.rules.matchAll(/\b(signalhouse_[a-z0-9_]+)/g)].map((m) => m[1].replace(/_(bucket|count|sum)$/, '')));
    expect([...read].filter((name) => !types.has(name))).toEqual([]);
    expect(read.size).toBe(6);
  });

  it('times ingest and query requests for the operational alerts', async () => {
    const samples = await scrape();
    const count = (kind: string) => samples.get(sampleKey('signalhouse_http_request_duration_seconds_count', { kind }))!;
    expect(count('ingest')).toBeGreaterThanOrEqual(10);
    const res = await fetch(`${svc.url}/api/v1/analytics/metrics`, { headers: { authorization: 'Bearer rt_acme_test_token' } });
    expect(res.status).toBe(200);
    const after = parseExposition(await (await fetch(`${svc.url}/metrics`)).text());
    expect(after.get(sampleKey('signalhouse_http_request_duration_seconds_count', { kind: 'query' }))).toBe(count('query') + 1);
    expect(after.has(sampleKey('signalhouse_http_request_duration_seconds_bucket', { kind: 'ingest', le: '0.2' }))).toBe(true);
  });
});

describe('the tenant label cap', () => {
  const config = parseAlertingConfig({ tenant_label_limit: 3, slos: [{ name: 'kb', metric: 'kb.hit_rate', objective: 0.5, tenants: ['pinned'] }] }, [
    'pinned',
    'a',
    'b',
    'c',
    'd',
  ]);
  const batchOf = (tenantId: string, n: number): LogBatch => ({
    tenantId,
    signal: 'logs',
    rejections: [],
    events: Array.from({ length: n }, () => testLogEvent({ eventName: 'kb.search', attributes: { 'kb.results_count': '1', 'kb.search_latency_ms': '10' } })),
  });
  const totals = async (observer: SliObserver) => {
    const samples = parseExposition(observer.series.exposition());
    const out: Record<string, number> = {};
    for (const [k, v] of samples) {
      const m = /^signalhouse_sli_kb_searches_total\{tenant="(.*)"\}$/.exec(k);
      if (m) out[m[1]] = v;
    }
    return out;
  };

  it('keeps series for the pinned tenant and the top tenants by volume; the rest count under __other__', async () => {
    const observer = createSliObserver(config, ['pinned']);
    for (const [t, n] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['pinned', 1],
    ] as const)
      observer.observe(batchOf(t, n));
    // First come, first labelled: a and b fill the two unpinned places, c is counted under __other__.
    expect(await totals(observer)).toEqual({ a: 1, b: 2, [OTHER_TENANTS]: 3, pinned: 1 });
    // c and d outgrow a: at the ranking, c takes a's place; a and d count under __other__ from then on.
    observer.observe(batchOf('c', 50));
    observer.observe(batchOf('d', 10));
    observer.observe(batchOf('b', 20));
    observer.series.rerank();
    observer.observe(batchOf('a', 5));
    observer.observe(batchOf('c', 1));
    observer.observe(batchOf('d', 1));
    expect(await totals(observer)).toEqual({ b: 22, c: 1, [OTHER_TENANTS]: 3 + 50 + 10 + 5 + 1, pinned: 1 });
    expect(observer.series.labels().sort()).toEqual([OTHER_TENANTS, 'b', 'c', 'pinned']);
    observer.stop();
  });

  it('bounds the series however many tenants send', async () => {
    const observer = createSliObserver(parseAlertingConfig({ tenant_label_limit: 200 }, []), []);
    for (let i = 0; i < 1000; i++) observer.observe(batchOf(`t${i}`, 1 + (i % 7)));
    expect(observer.series.labels()).toHaveLength(201);
    // Nothing is lost on the way: every event is in some series.
    const total = Object.values(await totals(observer)).reduce((a, b) => a + b, 0);
    expect(total).toBe(Array.from({ length: 1000 }, (_, i) => 1 + (i % 7)).reduce((a, b) => a + b, 0));
    // Ranked, the 200 busiest keep series (here: those sending 6 or 7 a batch, 286 of them, ties to the first 200).
    observer.series.rerank();
    const labelled = observer.series.labels();
    expect(labelled).toHaveLength(201);
    expect(labelled.filter((t) => t !== OTHER_TENANTS).every((t) => Number(t.slice(1)) % 7 >= 5)).toBe(true);
    observer.stop();
  });
});
