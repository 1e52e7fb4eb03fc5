/**
 * People for the privacy tests, sent through the real APIs: Segment batches (identify, alias, track) and OTLP/JSON
 * spans. Alice is stitched: events as anonymous `a-anon-1`, an identify linking it to her, events as `alice`,
 * events as anonymous `a-old-2` and an alias linking that id to her; her spans are in a trace of her own and in
 * one she shares with Bob. Bob is identified too, and one of his events carries Alice's anonymous id (a shared
 * device: it is his, as queries count it). Carol never identifies. Their events share minutes, so the rollup's
 * rows mix them. `withAlice: false` sends the same data without Alice's events and spans: another tenant holding
 * it is what the first must look like once she is erased.
 */
import { expect } from 'vitest';

export const HOUR = 3_600_000;
/** An hour boundary 3–4 h ago: every event falls in [FROM, TO). */
export const BASE = Math.floor((Date.now() - 4 * HOUR) / HOUR) * HOUR;
export const FROM = new Date(BASE).toISOString();
export const TO = new Date(BASE + 3 * HOUR).toISOString();
export const ALICE = { userId: 'alice', anonymousIds: ['a-anon-1', 'a-old-2'] };

type Message = Record<string, unknown>;
const at = (minute: number) => new Date(BASE + minute * 60_000 + 17_000).toISOString();

function segmentMessages(withAlice: boolean): Message[] {
  const m: Message[] = [];
  let seq = 0;
  const track = (who: { userId?: string; anonymousId?: string }, event: string, minute: number, properties: Record<string, unknown>) =>
    m.push({ type: 'track', messageId: `m-${++seq}`, event, ...who, timestamp: at(minute), properties });
  const search = (ms: number, session: string) => ({ 'kb.search_latency_ms': ms, 'kb.results_count': ms % 3, 'session.id': session });
  const tool = (ok: boolean, session: string) => ({ 'gen_ai.tool.name': 'lookup', 'ai.tool.success': ok, 'session.id': session });
  const view = (session: string) => ({ 'session.id': session });

  // Bob and Carol: in both tenants.
  track({ anonymousId: 'b-anon' }, 'commerce.view', 1, view('s-b'));
  m.push({ type: 'identify', messageId: `m-${++seq}`, userId: 'bob', anonymousId: 'b-anon', timestamp: at(2), traits: { plan: 'free' } });
  for (let i = 0; i < 4; i++) track({ userId: 'bob' }, 'kb.search', 3 + i * 20, search(200 + i * 30, 's-b'));
  track({ userId: 'bob' }, 'ai.tool_call_completed', 5, tool(true, 's-b'));
  track({ userId: 'bob' }, 'ai.tool_call_completed', 65, tool(false, 's-b'));
  track({ userId: 'bob', anonymousId: 'a-anon-1' }, 'kb.search', 45, search(310, 's-b2'));
  track({ anonymousId: 'c-anon' }, 'commerce.view', 3, view('s-c'));
  track({ anonymousId: 'c-anon' }, 'commerce.checkout', 25, view('s-c'));
  track({ anonymousId: 'c-anon' }, 'kb.search', 43, search(150, 's-c'));
  track({ anonymousId: 'c-anon' }, 'kb.search', 63, search(170, 's-c'));
  if (!withAlice) return m;
  track({ anonymousId: 'a-anon-1' }, 'commerce.view', 1, view('s-a'));
  track({ anonymousId: 'a-anon-1' }, 'kb.search', 3, search(90, 's-a'));
  m.push({ type: 'identify', messageId: `m-${++seq}`, userId: 'alice', anonymousId: 'a-anon-1', timestamp: at(4), traits: { name: 'Alice A.', plan: 'pro' } });
  for (let i = 0; i < 5; i++) track({ userId: 'alice' }, 'kb.search', 23 + i * 20, search(1000 + i * 100, 's-a'));
  for (let i = 0; i < 3; i++) track({ userId: 'alice' }, 'ai.tool_call_completed', 5 + i * 60, tool(i !== 1, 's-a'));
  track({ userId: 'alice' }, 'commerce.checkout', 25, view('s-a'));
  track({ anonymousId: 'a-old-2' }, 'commerce.view', 125, view('s-a2'));
  track({ anonymousId: 'a-old-2' }, 'commerce.checkout', 130, view('s-a2'));
  m.push({ type: 'alias', messageId: `m-${++seq}`, userId: 'alice', previousId: 'a-old-2', timestamp: at(131) });
  return m;
}

function spans(withAlice: boolean) {
  const span = (trace: number, span: number, minute: number, userId: string, error: boolean) => ({
    traceId: trace.toString(16).padStart(32, '0'),
    spanId: span.toString(16).padStart(16, '0'),
    name: 'lookup',
    kind: 3,
    startTimeUnixNano: String(BigInt(BASE + minute * 60_000) * 1_000_000n),
    endTimeUnixNano: String(BigInt(BASE + minute * 60_000 + 40) * 1_000_000n),
    attributes: [
      { key: 'gen_ai.operation.name', value: { stringValue: 'execute_tool' } },
      { key: 'user.id', value: { stringValue: userId } },
    ],
    status: { code: error ? 2 : 0 },
  });
  const list = [span(2, 1, 5, 'bob', false), span(3, 2, 7, 'bob', false)];
  if (withAlice) list.push(span(1, 3, 5, 'alice', false), span(1, 4, 6, 'alice', true), span(3, 5, 50, 'alice', false));
  return { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'people' }, spans: list }] }] };
}

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

/** Sends the people's events and spans with `writeKey`; every message must be accepted. */
export async function sendPeople(url: string, writeKey: string, withAlice = true): Promise<void> {
  const res = await fetch(`${url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basic(writeKey) },
    body: JSON.stringify({ batch: segmentMessages(withAlice) }),
  });
  expect([res.status, await res.json()]).toEqual([200, { success: true }]);
  const traces = await fetch(`${url}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${writeKey}` },
    body: JSON.stringify(spans(withAlice)),
  });
  expect(traces.status).toBe(200);
}

/** Messages of Alice's, sent after her erasure (suppression) with `writeKey`; returns the reply. */
export async function sendAfterErasure(url: string, writeKey: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const batch = [
    { type: 'track', messageId: 'late-1', event: 'kb.search', userId: 'alice', timestamp: at(150), properties: { 'kb.search_latency_ms': 5 } },
    { type: 'track', messageId: 'late-2', event: 'kb.search', anonymousId: 'a-old-2', timestamp: at(150), properties: { 'kb.search_latency_ms': 5 } },
    { type: 'track', messageId: 'late-3', event: 'commerce.view', userId: 'bob', anonymousId: 'a-anon-1', timestamp: at(150), properties: {} },
  ];
  const res = await fetch(`${url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basic(writeKey) },
    body: JSON.stringify({ batch }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Every read of the query API a dashboard makes, for one tenant's read token; each must answer 200. */
export async function answers(url: string, readToken: string) {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${readToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    return JSON.parse(text) as unknown;
  };
  const range = { from: FROM, to: TO };
  return {
    summaryRaw: await post('/api/v1/analytics/reports/summary', { ...range, source: 'raw' }),
    summaryRollup: await post('/api/v1/analytics/reports/summary', { ...range, source: 'rollup' }),
    timeseries: await post('/api/v1/analytics/reports/timeseries', { ...range, metric: 'kb.search_latency_ms.p95', grain: '1h', source: 'rollup' }),
    toolCalls: await post('/api/v1/analytics/reports/timeseries', { ...range, metric: 'ai.tool_calls.count', grain: '1h', source: 'rollup' }),
    funnel: await post('/api/v1/analytics/reports/funnel', { ...range, steps: ['commerce.view', 'commerce.checkout'] }),
    events: await post('/api/v1/analytics/counts/events', { ...range, group_by: 'hour' }),
    users: await post('/api/v1/analytics/counts/users', range),
    query: await post('/v1/analytics/query', { metrics: ['count', 'unique_users'], dimensions: ['event_name'], dateRange: range }),
    byUser: await post('/v1/analytics/query', { metrics: ['count'], dimensions: ['user_id'], dateRange: range }),
  };
}

type Rows = (sql: string, params: Record<string, unknown>) => Promise<Array<Record<string, unknown>>>;

/** What the store holds for a tenant, table by table (the rollup merged per event and minute). */
export async function stored(rows: Rows, tenant: string) {
  const q = (sql: string) => rows(sql, { tenant });
  return {
    events: await q(
      'SELECT EventId, EventName, UserId, AnonymousId, SessionId, toString(Timestamp) AS t FROM signalhouse.otel_logs WHERE TenantId = {tenant:String} ORDER BY EventId',
    ),
    spans: await q('SELECT TraceId, SpanId, UserId FROM signalhouse.otel_traces WHERE TenantId = {tenant:String} ORDER BY TraceId, SpanId'),
    rollup: await q(`SELECT EventName, toString(Minute) AS m, sum(Events) AS n, sum(Ok) AS ok, sum(ValueSum) AS s, uniqExactMerge(Sessions) AS sessions,
        toString(quantilesDDMerge(0.005, 0.5, 0.95, 0.99)(Value)) AS q
      FROM signalhouse.rollup_1m WHERE TenantId = {tenant:String} GROUP BY EventName, Minute ORDER BY EventName, Minute`),
    traceIndex: await q(
      'SELECT TraceId, toString(min(Start)) AS s, toString(max(End)) AS e FROM signalhouse.otel_traces_trace_id_ts WHERE TenantId = {tenant:String} GROUP BY TraceId ORDER BY TraceId',
    ),
    identities: await q('SELECT UserId, IdentifyCalls FROM signalhouse.identities WHERE TenantId = {tenant:String} ORDER BY UserId'),
    traits: await q('SELECT UserId, Key, Value FROM signalhouse.identity_traits WHERE TenantId = {tenant:String} ORDER BY UserId, Key'),
    links: await q('SELECT AnonymousId, UserId FROM signalhouse.identity_links WHERE TenantId = {tenant:String} ORDER BY AnonymousId'),
  };
}
