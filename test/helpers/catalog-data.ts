/**
 * One data set for the catalog's report tests, ingested through the real APIs (envelope API batches and OTLP/JSON
 * spans) with the values each metric must give: every catalog metric has data, two sites, and another tenant
 * (globex) whose values would show if tenants mixed. Used by the report API's and the Grafana dashboard's tests.
 */
// node:assert rather than vitest's expect: `npm run ui:screenshots` loads this data outside the test runner.
import assert from 'node:assert/strict';
import { ACME_KEY, GLOBEX_KEY, type TestService } from './service.ts';

export const HOUR = 3_600_000;
export const BASE = Math.floor((Date.now() - 5 * HOUR) / HOUR) * HOUR; // an hour boundary, 4–5 h ago
export const FROM = new Date(BASE).toISOString();
export const TO = new Date(BASE + 4 * HOUR).toISOString();
let seq = 0;

export interface Ev {
  name: string;
  hour: number;
  attrs?: Record<string, unknown>;
  session?: string;
  site?: string;
}

/** Sends events through the envelope API's batch endpoint, `hour` hours after BASE, at minutes that vary per event. */
export async function ingest(svc: TestService, key: string, events: Ev[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    const batch = events.slice(i, i + 500).map((e) => ({
      event_id: `q-${++seq}`,
      event_name: e.name,
      occurred_at: new Date(BASE + e.hour * HOUR + ((seq * 7919) % 3_540_000)).toISOString(),
      session_id: e.session,
      site_id: e.site,
      attributes: e.attrs ?? {},
    }));
    const res = await fetch(`${svc.url}/api/v1/analytics/events/batch`, {
      method: 'POST',
      body: JSON.stringify({ events: batch }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    });
    const body = await res.json();
    assert.equal(body.rejected, 0, JSON.stringify(body.results.filter((r: { status: string }) => r.status === 'rejected').slice(0, 3)));
  }
}

async function spans(svc: TestService, key: string, list: Array<{ op?: string; error: boolean; hour: number }>): Promise<void> {
  const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');
  const body = {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: list.map((s, i) => ({
              traceId: hex(++seq, 32),
              spanId: hex(i + 1, 16),
              name: s.op ?? 'http',
              kind: 3,
              startTimeUnixNano: String(BigInt(BASE + s.hour * HOUR + i) * 1_000_000n),
              endTimeUnixNano: String(BigInt(BASE + s.hour * HOUR + i + 5) * 1_000_000n),
              attributes: s.op ? [{ key: 'gen_ai.operation.name', value: { stringValue: s.op } }] : [],
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
  assert.equal(res.status, 200);
}

/** POSTs a report request with a read token (acme's by default). */
export async function postReport(url: string, path: string, body: unknown, token = 'rt_acme_test_token') {
  const res = await fetch(`${url}/api/v1/analytics/reports/${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: await res.json() };
}

/** Exact quantile with linear interpolation (what t-digest approximates). */
export function exactQuantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}

// A deterministic pseudo-random sequence, so the expected values are reproducible.
let rnd = 42;
const random = () => (rnd = (rnd * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;

/** Long-tailed like real latencies: log-normal around `median` ms. */
const latency = (median: number, spread: number) =>
  Math.round(median * Math.exp(spread * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())));
export const firstResponse = Array.from({ length: 1200 }, () => latency(600, 0.6));
export const asr = Array.from({ length: 400 }, () => latency(120, 0.4));
export const kbLatency = Array.from({ length: 600 }, () => latency(90, 0.7));
export const kbResults = kbLatency.map((_, i) => (i % 4 === 0 ? 0 : 1 + (i % 7)));
export const kbTop = kbLatency.map((_, i) => Number(((i % 10) / 10).toFixed(1)));

/** Sends the data set to a running service and waits until queries see all of it. */
export async function loadCatalogData(svc: TestService): Promise<void> {
  const events: Ev[] = [
    ...firstResponse.map((ms, i) => ({
      name: 'voice.first_response',
      hour: i % 3,
      site: i % 2 ? 'site-a' : 'site-b',
      attrs: { 'voice.turn_id': `t${i}`, 'voice.first_response_ms': ms },
    })),
    ...Array.from({ length: 7 }, (_, i) => ({ name: 'voice.barge_in', hour: i < 5 ? 0 : 2, attrs: { 'voice.turn_id': `b${i}` } })),
    ...asr.map((ms) => ({ name: 'voice.asr_partial', hour: 1, attrs: { 'voice.asr_partial_latency_ms': ms } })),
    // 40 tool calls: every 4th fails; 10 optimistic, of which the failing ones are 3.
    ...Array.from({ length: 40 }, (_, i) => ({
      name: 'ai.tool_call_completed',
      hour: 1,
      attrs: { 'gen_ai.tool.name': 'lookup', 'ai.tool.success': i % 4 !== 0, 'ai.navigation.optimistic': i < 10 },
    })),
    ...[2, 3, 4, 7].map((n) => ({ name: 'ai.tool_chain_completed', hour: 2, attrs: { 'ai.tool_chain.length': n } })),
    ...kbLatency.map((ms, i) => ({
      name: 'kb.search',
      hour: i % 3,
      attrs: { 'kb.results_count': kbResults[i], 'kb.search_latency_ms': ms, 'kb.top_score': kbTop[i] },
    })),
    // Sessions s0–s9 view, s0–s3 check out (s3 twice); s20 checks out without a view.
    ...Array.from({ length: 10 }, (_, i) => ({ name: 'commerce.view', hour: 0, session: `s${i}`, attrs: { 'commerce.product_id': 'p1' } })),
    ...[0, 1, 2, 3, 3, 20].map((i) => ({ name: 'commerce.checkout', hour: 1, session: `s${i}`, attrs: { 'commerce.value': 10 } })),
    // Bookings b0–b7 held (b0 twice), b0–b2 confirmed.
    ...[0, 0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ name: 'booking.slot_hold', hour: 0, attrs: { 'booking.id': `b${i}` } })),
    ...[0, 1, 2].map((i) => ({ name: 'booking.confirmed', hour: 1, attrs: { 'booking.id': `b${i}` } })),
  ];
  await ingest(svc, ACME_KEY, events);
  // 20 execute_tool spans (5 errors) and 10 other spans (2 errors).
  await spans(svc, ACME_KEY, [
    ...Array.from({ length: 20 }, (_, i) => ({ op: 'execute_tool', error: i < 5, hour: 1 })),
    ...Array.from({ length: 10 }, (_, i) => ({ error: i < 2, hour: 2 })),
  ]);
  // Another tenant's data, which acme must never see.
  await ingest(
    svc,
    GLOBEX_KEY,
    Array.from({ length: 50 }, (_, i) => ({ name: 'voice.first_response', hour: 0, attrs: { 'voice.turn_id': `g${i}`, 'voice.first_response_ms': 99_999 } })),
  );
  await svc.settle();
}
