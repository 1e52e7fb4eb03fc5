/**
 * Rate limits end to end on one real service: a bounded load loop on loopback against a tenant's limit (the
 * allowed count within the bucket's bound, the rest 429 with Retry-After and X-RateLimit-*, and only the allowed
 * events stored), per-tenant isolation, per-key overrides, event batches refused whole, every receiver and the
 * query routes, OTLP/HTTP's Status body, gRPC RESOURCE_EXHAUSTED with RetryInfo, a WebSocket nack on an open
 * connection, and the counts in /metrics. Slow refill rates (a token every 100 s) make counts exact without
 * depending on timing; the load loop's bound is computed from the time it measured.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OTLP_GRPC_PATHS } from '../receiver/otlp/grpc.ts';
import { TRACKER_PATH } from '../receiver/tracker/routes.ts';
import { authMetadata, rawClient, statusDetails, unary } from './helpers/grpc.ts';
import { logsProtobuf } from './helpers/otlp.ts';
import { startTestService, type TestService } from './helpers/service.ts';
import { connectWs } from './helpers/websocket.ts';

/** Low enough that even a loaded machine's loop sends more than the bucket admits. */
const FLOOD_RATE = 5;
/** One token a 100 s, with a burst of `n`: `n` requests (or events) pass, the next is refused. */
const exactly = (n: number, kind: 'requests' | 'events') => ({ [`${kind}_per_second`]: 0.01, burst_seconds: n * 100 });
const KEYS = {
  flood: 'wk_acme_flood_key',
  globex: 'wk_globex_test_key',
  small: 'wk_initech_small',
  other: 'wk_initech_other',
  segment: 'wk_initech_segment',
  posthog: 'wk_initech_posthog',
  tracker: 'wk_initech_tracker',
  otlp: 'wk_initech_otlp',
  grpc: 'wk_initech_grpc',
  ws: 'wk_initech_ws',
  reader: 'rt_initech_reader',
  grpcReader: 'rt_initech_grpc_reader',
  admin: 'at_initech_admin',
};
const TENANTS = [
  { id: 'acme', write_keys: [KEYS.flood], read_tokens: ['rt_acme_test_token'], rate_limits: { requests_per_second: FLOOD_RATE } },
  { id: 'globex', write_keys: [KEYS.globex], read_tokens: ['rt_globex_test_token'], rate_limits: { requests_per_second: 100 } },
  {
    id: 'initech',
    write_keys: [KEYS.small, KEYS.other, KEYS.segment, KEYS.posthog, KEYS.tracker, KEYS.otlp, KEYS.grpc, KEYS.ws],
    read_tokens: [KEYS.reader, KEYS.grpcReader],
    admin_tokens: [KEYS.admin],
    rate_limits: {
      keys: [
        { key: KEYS.small, ...exactly(10, 'events') },
        ...[KEYS.segment, KEYS.posthog, KEYS.tracker, KEYS.otlp, KEYS.grpc, KEYS.grpcReader, KEYS.admin].map((key) => ({ key, ...exactly(1, 'requests') })),
        { key: KEYS.ws, ...exactly(3, 'events') },
        { key: KEYS.reader, ...exactly(2, 'requests') },
      ],
    },
  },
];

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ tenants: TENANTS });
});
afterAll(async () => {
  await svc?.close();
});

const post = (path: string, key: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${svc.url}${path}`, {
    method: 'POST',
    body: Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
  });
const envelope = (key: string, name: string, n: number) =>
  post('/api/v1/analytics/events/batch', key, { events: Array.from({ length: n }, (_, i) => ({ event_name: name, event_id: `${name}-${i}` })) });
const stored = async (tenant: string, prefix: string) =>
  Number(
    (
      await svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE TenantId = {t:String} AND startsWith(EventName, {p:String})', {
        t: tenant,
        p: prefix,
      })
    )[0].n,
  );

function expectRefusal(res: Response, limit: string, remaining = '0') {
  expect(res.status).toBe(429);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(res.headers.get('x-ratelimit-limit')).toBe(limit);
  expect(res.headers.get('x-ratelimit-remaining')).toBe(remaining);
  expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(1);
}

let floodRefused = 0;

describe('under a bounded load loop', () => {
  it("admits the tenant's rate × time + burst, answers the rest 429 with the headers, and stores only what it admitted", async () => {
    const seconds = 2;
    const started = Date.now();
    let allowed = 0;
    let i = 0;
    const worker = async () => {
      while (Date.now() - started < seconds * 1000) {
        const res = await post('/api/v1/analytics/events', KEYS.flood, { event_name: 'flood.event', event_id: `flood-${i++}` });
        if (res.status === 202) {
          allowed++;
          expect(res.headers.get('x-ratelimit-limit')).toBe(String(FLOOD_RATE));
        } else {
          expectRefusal(res, String(FLOOD_RATE));
          expect(await res.json()).toMatchObject({ error: 'RATE_LIMITED', message: expect.stringMatching(/the tenant's 5 requests per second/) });
          floodRefused++;
        }
        await res.arrayBuffer().catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    const elapsed = (Date.now() - started) / 1000;
    // The bucket starts full (5) and gains 5 a second: never more than that, and the loop never lets it idle
    // for long, so at least half the refill on top of the burst.
    expect(allowed).toBeLessThanOrEqual(FLOOD_RATE + FLOOD_RATE * elapsed + 1);
    expect(allowed).toBeGreaterThanOrEqual(FLOOD_RATE + FLOOD_RATE * seconds * 0.5);
    expect(floodRefused).toBeGreaterThan(0);
    expect(await stored('acme', 'flood.')).toBe(allowed);
  });

  it("leaves another tenant's limit alone", async () => {
    for (let n = 0; n < 10; n++) expect((await post('/api/v1/analytics/events', KEYS.globex, { event_name: 'globex.event' })).status).toBe(202);
  });
});

describe('event buckets and per-key overrides', () => {
  it('refuses a batch over the remaining event tokens whole, and a batch over the burst as too large', async () => {
    const first = await envelope(KEYS.small, 'small.a', 6);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-remaining')).toBe('4');
    const second = await envelope(KEYS.small, 'small.b', 6);
    // 4 tokens left: fewer than the batch's 6, none taken.
    expectRefusal(second, '10', '4');
    expect((await second.json()).message).toMatch(/this key's 0.01 events per second/);
    expect((await envelope(KEYS.small, 'small.c', 4)).status).toBe(200);
    const huge = await envelope(KEYS.small, 'small.d', 11);
    expect(huge.status).toBe(413);
    expect((await huge.json()).message).toMatch(/a batch of 11 events is more than this key's event burst of 10/);
    // The tenant's other key has no limit of its own.
    expect((await envelope(KEYS.other, 'other.a', 50)).status).toBe(200);
    expect(await stored('initech', 'small.')).toBe(10);
    expect(await stored('initech', 'small.b')).toBe(0);
  });

  it('limits the Segment, PostHog (capture and flags) and tracker APIs at their admission', async () => {
    const segment = () => post('/v1/track', KEYS.segment, { userId: 'u1', event: 'segment.rate' });
    const posthog = () => post('/capture', KEYS.posthog, { event: 'posthog.rate', distinct_id: 'd1' });
    const tracker = () => post(TRACKER_PATH, KEYS.tracker, { events: [{ type: 'track', event: 'tracker.rate', anonymousId: 'a1' }] });
    for (const send of [segment, posthog, tracker]) {
      expect((await send()).status).toBe(200);
      expectRefusal(await send(), '1');
    }
    // PostHog's flags requests take the key's request tokens too.
    expectRefusal(await post('/flags', KEYS.posthog, { token: KEYS.posthog, distinct_id: 'd1' }), '1');
  });

  it('answers OTLP/HTTP protobuf with 429, Retry-After and a google.rpc.Status body', async () => {
    const body = logsProtobuf({ records: [{ body: 'hello', eventName: 'otlp.rate' }] });
    const ok = await post('/v1/logs', KEYS.otlp, body, { 'content-type': 'application/x-protobuf' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-remaining')).toBe('0');
    const refused = await post('/v1/logs', KEYS.otlp, body, { 'content-type': 'application/x-protobuf' });
    expectRefusal(refused, '1');
    expect(refused.headers.get('content-type')).toBe('application/x-protobuf');
    const metadata = new grpc.Metadata();
    metadata.set('grpc-status-details-bin', Buffer.from(await refused.arrayBuffer()));
    expect(statusDetails(metadata)).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, message: expect.stringMatching(/rate limit exceeded/) });
  });

  it('answers gRPC with RESOURCE_EXHAUSTED and a RetryInfo saying when a token is back', async () => {
    const client = rawClient(svc.grpcAddress!);
    const message = logsProtobuf({ records: [{ body: 'hello', eventName: 'grpc.rate' }] });
    try {
      expect((await unary(client, OTLP_GRPC_PATHS.logs, message, authMetadata(KEYS.grpc))).code).toBe(grpc.status.OK);
      const refused = await unary(client, OTLP_GRPC_PATHS.logs, message, authMetadata(KEYS.grpc));
      expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const details = statusDetails(refused.metadata);
      expect(details).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, typeUrls: ['type.googleapis.com/google.rpc.RetryInfo'] });
      // One token every 100 s.
      expect(details!.retryDelaySeconds).toBeGreaterThanOrEqual(1);
      expect(details!.retryDelaySeconds).toBeLessThanOrEqual(100);
      // The read methods take the read token's request tokens.
      const count = '/analytics.v1.AnalyticsService/GetEventCount';
      expect((await unary(client, count, Buffer.alloc(0), authMetadata(KEYS.grpcReader))).code).not.toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect((await unary(client, count, Buffer.alloc(0), authMetadata(KEYS.grpcReader))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      client.close();
    }
  });

  it('nacks a WebSocket message over the limit with its retry time, and keeps the connection', async () => {
    const ws = await connectWs(svc.url, { key: KEYS.ws });
    try {
      await ws.next((m) => m.type === 'ready');
      const events = (name: string, n: number) => Array.from({ length: n }, (_, i) => ({ event_name: name, event_id: `${name}-${i}` }));
      ws.send({ type: 'batch', id: 'm1', events: events('ws.a', 3) });
      expect(await ws.answer('m1')).toMatchObject({ type: 'ack', accepted: 3 });
      ws.send({ type: 'batch', id: 'm2', events: events('ws.b', 1) });
      const nack = await ws.answer('m2');
      expect(nack).toMatchObject({ type: 'error', error: 'RATE_LIMITED', retryable: true });
      expect(nack.retry_after_ms).toBeGreaterThanOrEqual(1000);
      ws.send({ type: 'ping', id: 'p1' });
      expect(await ws.next((m) => m.type === 'pong')).toMatchObject({ id: 'p1' });
      expect(ws.socket.readyState).toBe(ws.socket.OPEN);
      expect(await stored('initech', 'ws.b')).toBe(0);
    } finally {
      ws.socket.close();
    }
  });

  it("limits the query and admin routes by their token's own limit", async () => {
    const query = () => fetch(`${svc.url}/api/v1/alerts`, { headers: { authorization: `Bearer ${KEYS.reader}` } });
    expect((await query()).status).toBe(200);
    expect((await query()).status).toBe(200);
    const refused = await query();
    expectRefusal(refused, '2');
    expect(await refused.json()).toMatchObject({ error: 'RATE_LIMITED' });
    // An admin token's own limit, on the admin routes.
    const audit = () => fetch(`${svc.url}/api/v1/audit`, { headers: { authorization: `Bearer ${KEYS.admin}` } });
    expect((await audit()).status).toBe(200);
    expectRefusal(await audit(), '1');
  });
});

it('counts refusals in /metrics by tenant, kind and bucket', async () => {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  const count = (labels: string) => Number(new RegExp(`^signalhouse_rate_limited_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 'NaN');
  expect(count('tenant="acme",kind="requests",reason="tenant"')).toBe(floodRefused);
  // small.b, ws.b; Segment, PostHog capture and flags, tracker, OTLP/HTTP, OTLP/gRPC, the gRPC read, the query
  // and admin routes.
  expect(count('tenant="initech",kind="events",reason="key"')).toBe(2);
  expect(count('tenant="initech",kind="requests",reason="key"')).toBe(9);
  expect(text).not.toMatch(/^signalhouse_rate_limited_total\{tenant="globex"/m);
});
