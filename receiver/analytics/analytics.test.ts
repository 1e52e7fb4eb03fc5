/**
 * The analytics service (`analytics.v1.AnalyticsService`) through a client generated from its .proto
 * (test/fixtures/analytics.proto) with @grpc/proto-loader: every RPC, events stored field by field through the
 * default pipeline, its error list as gRPC codes, the per-user rate limit (RESOURCE_EXHAUSTED with RetryInfo),
 * and counts equal to the HTTP count API's.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authMetadata, healthCheckRequest, rawClient, statusDetails, unary } from '../../test/helpers/grpc.ts';
import { ACME_KEY, startTestService, TENANTS, type TestService } from '../../test/helpers/service.ts';

const READ_TOKEN = 'rt_acme_test_token';
const GLOBEX_TOKEN = 'rt_globex_test_token';
const ADMIN_TOKEN = 'at_acme_test_token';
/** Events per user a minute: one token back every 20 s, far longer than the test takes. */
const RATE = 3;

/** The identity provider of bearer JWTs (`auth.jwt`, with its static public key). */
const idp = await generateKeyPair('ES256');
const impostor = await generateKeyPair('ES256');
const jwt = (claims: Record<string, unknown>, options: { key?: CryptoKey; expires?: string } = {}) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer('https://idp.test')
    .setAudience('signalhouse')
    .setSubject('dashboards')
    .setExpirationTime(options.expires ?? '10m')
    .sign(options.key ?? idp.privateKey);

interface Reply<T> {
  err?: grpc.ServiceError;
  res?: T;
  trailers: grpc.Metadata;
}
type Method = (req: unknown, metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null, res: unknown) => void) => grpc.ClientUnaryCall;

let svc: TestService;
let client: grpc.Client & Record<string, Method>;
beforeAll(async () => {
  svc = await startTestService({
    receivers: { analytics: { rate_limit: { events_per_user_per_minute: RATE } } },
    tenants: [{ ...TENANTS[0], admin_tokens: [ADMIN_TOKEN] }, TENANTS[1]],
    auth: { jwt: { public_key: await exportSPKI(idp.publicKey), issuer: 'https://idp.test', audience: 'signalhouse' } },
  });
  const definition = protoLoader.loadSync(join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'analytics.proto'), {
    keepCase: true,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { analytics: { v1: { AnalyticsService: grpc.ServiceClientConstructor } } };
  client = new pkg.analytics.v1.AnalyticsService(svc.grpcAddress!, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Method>;
});
afterAll(async () => {
  client?.close();
  await svc?.close();
});

function rpc<T>(method: string, req: unknown, key?: string): Promise<Reply<T>> {
  return new Promise((resolve) => {
    let trailers = new grpc.Metadata();
    let result: Omit<Reply<T>, 'trailers'> | undefined;
    let ended = false;
    const done = () => {
      if (result && ended) resolve({ ...result, trailers });
    };
    const call = client[method](req, authMetadata(key), (err, res) => {
      result = err ? { err } : { res: res as T };
      done();
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
      ended = true;
      done();
    });
  });
}

const now = () => Math.floor(Date.now() / 1000);
const str = (v: string) => ({ string_value: v });

describe('analytics.v1.AnalyticsService', () => {
  it('answers HealthCheck without a key, and grpc.health.v1 knows the service', async () => {
    expect(await rpc('HealthCheck', {})).toMatchObject({ res: { status: 'ok' } });
    const raw = rawClient(svc.grpcAddress!);
    const check = await unary(raw, '/grpc.health.v1.Health/Check', healthCheckRequest('analytics.v1.AnalyticsService'));
    raw.close();
    expect(check).toMatchObject({ code: 0, response: Buffer.from([0x08, 0x01]) }); // SERVING
  });

  it('stores TrackEvent and IdentifyUser calls through the pipeline, field by field, after the commit', async () => {
    const t = now() - 600;
    const tracked = await rpc<{ success: boolean; event_id: string }>(
      'TrackEvent',
      {
        event_name: 'grpc.checkout_completed',
        user_id: 'grpc-user-1',
        properties: { plan: str('pro'), amount: { number_value: 42.5 }, first: { bool_value: true }, __proto__: str('kept') },
        timestamp: t,
      },
      ACME_KEY,
    );
    expect(tracked.err).toBeUndefined();
    expect(tracked.res).toEqual({ success: true, event_id: expect.stringMatching(/^h:[0-9a-f]{32}$/) });
    const identified = await rpc('IdentifyUser', { user_id: 'grpc-user-1', properties: { plan: str('pro'), seats: { number_value: 3 } } }, ACME_KEY);
    expect(identified.res).toEqual({ success: true });
    const anonymous = await rpc<{ success: boolean }>('TrackEvent', { event_name: 'grpc.page_seen', properties: {} }, ACME_KEY);
    expect(anonymous.res?.success).toBe(true);

    const rows = await svc.rows<Record<string, unknown>>(
      `SELECT toUnixTimestamp(Timestamp) AS ts, TenantId, EventName, EventId, UserId, AnonymousId, ScopeName, LogAttributes
       FROM signalhouse.otel_logs WHERE TenantId = 'acme' AND (UserId = 'grpc-user-1' OR EventName = 'grpc.page_seen') ORDER BY EventName`,
    );
    expect(rows).toEqual([
      {
        ts: t,
        TenantId: 'acme',
        EventName: 'grpc.checkout_completed',
        EventId: tracked.res!.event_id,
        UserId: 'grpc-user-1',
        AnonymousId: '',
        ScopeName: 'signalhouse/analytics',
        LogAttributes: { plan: 'pro', amount: '42.5', first: 'true', __proto__: 'kept' },
      },
      expect.objectContaining({ EventName: 'grpc.page_seen', UserId: '', ScopeName: 'signalhouse/analytics', LogAttributes: {} }),
      expect.objectContaining({ EventName: 'identify', UserId: 'grpc-user-1', LogAttributes: { 'traits.plan': 'pro', 'traits.seats': '3' } }),
    ]);
  });

  it('stores a retried TrackEvent (same timestamp) once, and says so', async () => {
    const req = { event_name: 'grpc.retried', user_id: 'grpc-user-2', properties: { n: { number_value: 1 } }, timestamp: now() - 60 };
    const first = await rpc<{ success: boolean; event_id: string }>('TrackEvent', req, ACME_KEY);
    const second = await rpc<{ success: boolean; event_id: string }>('TrackEvent', req, ACME_KEY);
    expect(second.res).toEqual(first.res);
    expect(second.trailers.get('signalhouse-outcome')).toEqual(['duplicate']);
    const [row] = await svc.rows<{ n: string }>("SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = 'grpc.retried'");
    expect(Number(row.n)).toBe(1);
  });

  it('answers an event dropped for missing consent with success false and says why', async () => {
    const r = await rpc<{ success: boolean; event_id: string }>(
      'TrackEvent',
      { event_name: 'grpc.no_consent', user_id: 'grpc-user-3', properties: { 'consent.analytics': { bool_value: false } } },
      ACME_KEY,
    );
    expect(r.err).toBeUndefined();
    expect(r.res?.success).toBe(false);
    expect([r.trailers.get('signalhouse-outcome'), r.trailers.get('signalhouse-reason')]).toEqual([['dropped'], ['consent']]);
    const [row] = await svc.rows<{ n: string }>("SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = 'grpc.no_consent'");
    expect(Number(row.n)).toBe(0);
  });

  it('answers the service’s errors with their gRPC codes, and stores nothing of them', async () => {
    const codeOf = async (method: string, req: unknown, key?: string) => {
      const r = await rpc(method, req, key);
      return { code: r.err?.code, details: r.err?.details };
    };
    const bad = 'grpc.bad_call';
    expect(await codeOf('TrackEvent', { event_name: '', user_id: 'u' }, ACME_KEY)).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'invalid event name: event_name must be a non-empty string',
    });
    expect(await codeOf('IdentifyUser', { user_id: '', properties: { plan: str('x') } }, ACME_KEY)).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'invalid user ID: user_id must be a non-empty string',
    });
    expect(await codeOf('TrackEvent', { event_name: bad, properties: { empty: {} } }, ACME_KEY)).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'invalid properties: "empty" has no value (set string_value, number_value or bool_value)',
    });
    expect((await codeOf('TrackEvent', { event_name: bad, timestamp: -5 }, ACME_KEY)).code).toBe(grpc.status.INVALID_ARGUMENT);
    const big = await rpc('TrackEvent', { event_name: bad, properties: { blob: str('x'.repeat(40_000)) } }, ACME_KEY);
    expect(big.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(statusDetails(big.err!.metadata)).toBeUndefined(); // permanent: no RetryInfo
    expect((await codeOf('TrackEvent', { event_name: bad })).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await codeOf('TrackEvent', { event_name: bad }, READ_TOKEN)).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await codeOf('GetEventCount', { start_time: now() - 60, end_time: now() })).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await codeOf('GetEventCount', { start_time: now(), end_time: now() - 60 }, READ_TOKEN)).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'invalid time range: end_time must be after start_time',
    });
    expect((await codeOf('GetUserCount', {}, READ_TOKEN)).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await codeOf('GetEventCount', { start_time: now() - 60, end_time: now(), group_by: 'month' }, READ_TOKEN)).code).toBe(grpc.status.INVALID_ARGUMENT);
    const raw = rawClient(svc.grpcAddress!);
    for (const method of ['TrackEvent', 'IdentifyUser', 'GetEventCount', 'GetUserCount']) {
      const key = method.startsWith('Get') ? READ_TOKEN : ACME_KEY;
      const r = await unary(raw, `/analytics.v1.AnalyticsService/${method}`, Buffer.from([0x0a, 0x05, 0x61]), authMetadata(key));
      expect({ method, code: r.code }).toEqual({ method, code: grpc.status.INVALID_ARGUMENT });
    }
    raw.close();
    const [row] = await svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {e:String}', { e: bad });
    expect(Number(row.n)).toBe(0);
  });

  it('limits events per user (token bucket): RESOURCE_EXHAUSTED with RetryInfo, other users and anonymous events unaffected', async () => {
    const track = (user: string, i: number) => rpc('TrackEvent', { event_name: 'grpc.rate', user_id: user, properties: { i: { number_value: i } } }, ACME_KEY);
    for (let i = 0; i < RATE; i++) expect((await track('grpc-rate-user', i)).err).toBeUndefined();
    const limited = await track('grpc-rate-user', RATE);
    expect(limited.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(limited.err?.details).toBe(`rate limit exceeded: more than ${RATE} events a minute for this user`);
    const details = statusDetails(limited.err!.metadata);
    expect(details).toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      message: limited.err!.details,
      typeUrls: ['type.googleapis.com/google.rpc.RetryInfo'],
    });
    // Until the next token: at most 20 s (60 s / 3), whole seconds.
    expect(details!.retryDelaySeconds).toBeGreaterThanOrEqual(1);
    expect(details!.retryDelaySeconds).toBeLessThanOrEqual(20);
    expect((await rpc('IdentifyUser', { user_id: 'grpc-rate-user' }, ACME_KEY)).err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect((await track('grpc-rate-other', 0)).err).toBeUndefined();
    expect((await rpc('TrackEvent', { event_name: 'grpc.rate' }, ACME_KEY)).err).toBeUndefined();
    const [row] = await svc.rows<{ n: string }>("SELECT count() AS n FROM signalhouse.otel_logs WHERE UserId = 'grpc-rate-user'");
    expect(Number(row.n)).toBe(RATE);
  });
});

describe('GetEventCount and GetUserCount', () => {
  const http = async (path: string, body: unknown, token = READ_TOKEN) => {
    const res = await fetch(`${svc.url}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    return res.json();
  };
  type Counts = { counts: Array<{ event_name: string; timestamp: string; count: string }> };

  it('counts as the HTTP count API does, by hour, day and week, per event name and in total', async () => {
    // Events over the last 20 hours (inside the validate processor's clock-skew tolerance), a user each.
    const base = now() - 20 * 3600;
    for (let i = 0; i < 24; i++) {
      const event = i % 3 === 0 ? 'grpc.count_a' : 'grpc.count_b';
      const r = await rpc('TrackEvent', { event_name: event, user_id: `grpc-count-${i}`, timestamp: base + i * 3000 + 7 }, ACME_KEY);
      expect(r.err).toBeUndefined();
    }
    const start = base - 3600;
    const end = now() + 3600;
    const range = { from: start * 1000, to: end * 1000 };
    const seconds = (t: string) => Date.parse(t) / 1000;
    for (const group_by of ['hour', 'day', 'week'] as const) {
      for (const event_name of ['grpc.count_a', 'grpc.count_b']) {
        const g = await rpc<Counts>('GetEventCount', { event_name, start_time: start, end_time: end, group_by }, READ_TOKEN);
        const h = (await http('/api/v1/analytics/counts/events', { ...range, group_by, event_name })) as { counts: Array<{ t: string; count: number }> };
        expect(h.counts.length).toBeGreaterThan(0);
        expect(g.res!.counts).toEqual(h.counts.map((c) => ({ event_name, timestamp: String(seconds(c.t)), count: String(c.count) })));
      }
      // Every event: one count per event name and bucket, which add up to the HTTP API's count per bucket.
      const all = await rpc<Counts>('GetEventCount', { start_time: start, end_time: end, group_by }, READ_TOKEN);
      const perBucket = new Map<string, number>();
      for (const c of all.res!.counts) perBucket.set(c.timestamp, (perBucket.get(c.timestamp) ?? 0) + Number(c.count));
      const h = (await http('/api/v1/analytics/counts/events', { ...range, group_by })) as { counts: Array<{ t: string; count: number }> };
      expect(Object.fromEntries(perBucket)).toEqual(Object.fromEntries(h.counts.map((c) => [String(seconds(c.t)), c.count])));
    }
    // No group_by: one count per event name over the range.
    const totals = await rpc<Counts>('GetEventCount', { event_name: 'grpc.count_a', start_time: start, end_time: end }, READ_TOKEN);
    const total = (await http('/api/v1/analytics/counts/events', { ...range, event_name: 'grpc.count_a' })) as { count: number };
    expect(total.count).toBe(8);
    expect(totals.res!.counts).toEqual([{ event_name: 'grpc.count_a', timestamp: String(start), count: '8' }]);

    const users = await rpc<{ unique_users: string }>('GetUserCount', { start_time: start, end_time: end }, READ_TOKEN);
    const httpUsers = (await http('/api/v1/analytics/counts/users', range)) as { unique_users: number };
    expect(httpUsers.unique_users).toBeGreaterThanOrEqual(24);
    expect(users.res).toEqual({ unique_users: String(httpUsers.unique_users) });
    // Another tenant's token counts that tenant's events only.
    expect((await rpc<Counts>('GetEventCount', { event_name: 'grpc.count_a', start_time: start, end_time: end }, GLOBEX_TOKEN)).res).toEqual({ counts: [] });
    expect((await rpc('GetUserCount', { start_time: start, end_time: end }, GLOBEX_TOKEN)).res).toEqual({ unique_users: '0' });
  });
});

describe('authentication of every call, by the rules of the HTTP API', () => {
  const range = () => ({ start_time: now() - 3600, end_time: now() + 60 });
  const status = async (method: string, req: unknown, key?: string) => {
    const r = await rpc(method, req, key);
    return { code: r.err?.code ?? grpc.status.OK, details: r.err?.details ?? '' };
  };

  it('reads with a read token or a bearer JWT granting read, for the JWT’s tenant', async () => {
    const tracked = await rpc('TrackEvent', { event_name: 'grpc.jwt_read', user_id: 'jwt-reader', timestamp: now() - 60 }, ACME_KEY);
    expect(tracked.err).toBeUndefined();
    const counts = { event_name: 'grpc.jwt_read', ...range() };
    const expected = { counts: [{ event_name: 'grpc.jwt_read', timestamp: String(counts.start_time), count: '1' }] };
    expect((await rpc('GetEventCount', counts, READ_TOKEN)).res).toEqual(expected);
    expect((await rpc('GetEventCount', counts, await jwt({ tenant: 'acme', role: 'read' }))).res).toEqual(expected);
    expect((await rpc('GetEventCount', counts, await jwt({ tenant: 'acme', role: ['admin', 'read'] }))).res).toEqual(expected);
    // A JWT for another tenant reads that tenant's events only.
    expect((await rpc('GetEventCount', counts, await jwt({ tenant: 'globex', role: 'read' }))).res).toEqual({ counts: [] });
    const users = await rpc<{ unique_users: string }>('GetUserCount', range(), await jwt({ tenant: 'acme', role: 'read' }));
    expect(users.err).toBeUndefined();
    expect(Number(users.res!.unique_users)).toBeGreaterThanOrEqual(1);
  });

  it('refuses another role’s credential on a read call with PERMISSION_DENIED, an unknown one with UNAUTHENTICATED', async () => {
    for (const method of ['GetEventCount', 'GetUserCount']) {
      expect(await status(method, range(), ACME_KEY)).toEqual({
        code: grpc.status.PERMISSION_DENIED,
        details: 'a write key only ingests: this route needs a read token',
      });
      expect(await status(method, range(), ADMIN_TOKEN)).toEqual({
        code: grpc.status.PERMISSION_DENIED,
        details: 'an admin token only runs the admin routes (privacy jobs, the audit log): this route needs a read token',
      });
      expect(await status(method, range(), await jwt({ tenant: 'acme', role: 'admin' }))).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      expect(await status(method, range(), await jwt({ tenant: 'initech', role: 'read' }))).toEqual({
        code: grpc.status.PERMISSION_DENIED,
        details: 'the token\'s "tenant" claim names no configured tenant',
      });
      expect(await status(method, range(), 'rt_nobody_has_this')).toEqual({ code: grpc.status.UNAUTHENTICATED, details: 'unknown read token' });
      expect(await status(method, range())).toEqual({
        code: grpc.status.UNAUTHENTICATED,
        details: 'missing read token: send the metadata "authorization: Bearer <read token>"',
      });
      const forged = await status(method, range(), await jwt({ tenant: 'acme', role: 'read' }, { key: impostor.privateKey }));
      expect(forged.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(forged.details).toMatch(/^invalid bearer token: /);
      const expired = await status(method, range(), await jwt({ tenant: 'acme', role: 'read' }, { expires: '-1h' }));
      expect(expired.code).toBe(grpc.status.UNAUTHENTICATED);
    }
  });

  it('ingests with a write key only: a read token, an admin token or a JWT is an unknown write key, as over HTTP', async () => {
    const event = { event_name: 'grpc.auth_refused', user_id: 'nobody' };
    for (const key of [READ_TOKEN, ADMIN_TOKEN, await jwt({ tenant: 'acme', role: 'read' })]) {
      expect(await status('TrackEvent', event, key)).toEqual({ code: grpc.status.UNAUTHENTICATED, details: 'unknown write key' });
      expect(await status('IdentifyUser', { user_id: 'nobody' }, key)).toEqual({ code: grpc.status.UNAUTHENTICATED, details: 'unknown write key' });
    }
    expect(await status('TrackEvent', event)).toEqual({
      code: grpc.status.UNAUTHENTICATED,
      details: 'missing write key: send the metadata "authorization: Bearer <write key>"',
    });
    expect(await status('HealthCheck', {}, 'rt_nobody_has_this')).toEqual({ code: grpc.status.OK, details: '' });
    const [row] = await svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {e:String}', { e: 'grpc.auth_refused' });
    expect(Number(row.n)).toBe(0);
  });
});
