/**
 * The product APIs over real HTTP: the unmodified `@segment/analytics-node` client, raw Segment-style requests
 * (browser text/plain, body write key, limits, clock skew) and the event envelope API (both its forms).
 */
import { gzipSync } from 'node:zlib';
import { Analytics } from '@segment/analytics-node';
import { PostHog } from 'posthog-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

type Row = Record<string, unknown> & { LogAttributes: Record<string, string> };
const rowsOf = (where: string, params: Record<string, unknown>) =>
  svc.rows<Row>(
    `SELECT toUnixTimestamp64Milli(Timestamp) AS ms, TenantId, EventId, EventName, UserId, AnonymousId, SessionId, LogAttributes, ScopeName, SiteId
     FROM signalhouse.otel_logs WHERE ${where} ORDER BY Timestamp`,
    params,
  );

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: res.status, body: await res.json() };
}
const bearer = (key = ACME_KEY) => ({ authorization: `Bearer ${key}` });

describe('Segment-style tracking API', () => {
  it('stores what the unmodified @segment/analytics-node client sends', async () => {
    const analytics = new Analytics({ writeKey: ACME_KEY, host: svc.url, flushInterval: 50 });
    const errors: unknown[] = [];
    analytics.on('error', (e) => errors.push(e));
    const at = new Date(Date.now() - 60_000);
    analytics.track({
      userId: 'seg-user-1',
      event: 'commerce.checkout',
      messageId: 'seg-msg-1',
      timestamp: at,
      properties: { 'commerce.value': 42.5, items: ['a', 'b'], coupon: { code: 'X' } },
      context: { page: { url: 'https://shop.example/cart?x=1', title: 'Cart' }, ip: '203.0.113.9' },
    });
    analytics.identify({ userId: 'seg-user-1', anonymousId: 'seg-anon-1', traits: { plan: 'pro' }, messageId: 'seg-msg-2' });
    analytics.page({ anonymousId: 'seg-anon-1', name: 'Pricing', properties: { path: '/pricing' }, messageId: 'seg-msg-3' });
    analytics.screen({ userId: 'seg-user-1', name: 'Home', messageId: 'seg-msg-4' });
    analytics.group({ userId: 'seg-user-1', groupId: 'org-9', traits: { size: 12 }, messageId: 'seg-msg-5' });
    analytics.alias({ userId: 'seg-user-1', previousId: 'seg-anon-1', messageId: 'seg-msg-6' });
    await analytics.closeAndFlush({ timeout: 10_000 });
    expect(errors).toEqual([]);

    const rows = await rowsOf("EventId LIKE 'seg-msg-%'", {});
    expect(rows.map((r) => r.EventName).sort()).toEqual(['alias', 'commerce.checkout', 'group', 'identify', 'page', 'screen']);
    const checkout = rows.find((r) => r.EventId === 'seg-msg-1')!;
    expect(checkout).toMatchObject({ TenantId: 'acme', UserId: 'seg-user-1', ScopeName: 'signalhouse/segment' });
    // The SDK sends sentAt with the batch; the clocks agree here, so the time is the client's to the millisecond.
    expect(Math.abs(Number(checkout.ms) - at.getTime())).toBeLessThan(1000);
    // Enriched (domain, path) and redacted (URL cut to its path, IP coarsened to /24) by the default processors.
    expect(checkout.LogAttributes).toMatchObject({
      'commerce.value': '42.5',
      items: '["a","b"]',
      coupon: '{"code":"X"}',
      'url.full': '/cart',
      'url.domain': 'shop.example',
      'url.path': '/cart',
      'page.title': 'Cart',
      'client.address': '203.0.113.0',
      'library.name': '@segment/analytics-node',
      'redaction.masked.keys': 'client.address,url.full',
    });
    expect(rows.find((r) => r.EventId === 'seg-msg-2')).toMatchObject({
      UserId: 'seg-user-1',
      AnonymousId: 'seg-anon-1',
      LogAttributes: expect.objectContaining({ 'traits.plan': 'pro' }),
    });
    expect(rows.find((r) => r.EventId === 'seg-msg-3')!.LogAttributes).toMatchObject({ 'page.name': 'Pricing', 'url.path': '/pricing' });
    expect(rows.find((r) => r.EventId === 'seg-msg-5')!.LogAttributes).toMatchObject({ 'group.id': 'org-9', 'group.traits.size': '12' });
    expect(rows.find((r) => r.EventId === 'seg-msg-6')!.LogAttributes).toMatchObject({ 'alias.previous_id': 'seg-anon-1' });
  });

  it('accepts browser text/plain bodies with the write key in the body', async () => {
    const res = await post('/v1/track', JSON.stringify({ writeKey: GLOBEX_KEY, anonymousId: 'a-1', event: 'docs.opened', messageId: 'plain-1' }), {
      'content-type': 'text/plain',
    });
    expect(res).toEqual({ status: 200, body: { success: true } });
    expect(await rowsOf("EventId = 'plain-1'", {})).toMatchObject([{ TenantId: 'globex', EventName: 'docs.opened' }]);
  });

  it('corrects the event time by the offset between sentAt and the receive time', async () => {
    const now = Date.now();
    // The client's clock is one hour behind: it says it sent the batch an hour ago.
    const res = await post(
      '/v1/batch',
      {
        sentAt: new Date(now - 3_600_000).toISOString(),
        batch: [{ type: 'track', event: 'skewed', userId: 'u', messageId: 'skew-1', timestamp: new Date(now - 3_600_000 - 5_000).toISOString() }],
      },
      bearer(),
    );
    expect(res.status).toBe(200);
    const [row] = await rowsOf("EventId = 'skew-1'", {});
    expect(Math.abs(Number(row.ms) - (now - 5_000))).toBeLessThan(2_000);
  });

  it('answers 202 on the /v1/analytics paths', async () => {
    expect(await post('/v1/analytics/track', { userId: 'u-202', event: 'button_clicked', messageId: 'seed-202' }, bearer())).toEqual({
      status: 202,
      body: { success: true },
    });
    expect(await post('/v1/analytics/identify', { userId: 'u-202', traits: { plan: 'pro' } }, bearer())).toMatchObject({ status: 202 });
  });

  it('refuses bad messages by index and keeps the rest; 400 when all are bad', async () => {
    const big = { type: 'track', userId: 'u', event: 'huge', properties: { blob: 'x'.repeat(33 * 1024) } };
    const res = await post(
      '/v1/batch',
      {
        batch: [
          { type: 'track', userId: 'u', event: 'ok.1', messageId: 'mix-1' },
          { type: 'track', userId: 'u' },
          big,
          { type: 'teleport', userId: 'u' },
          { type: 'page', name: 'no ids' },
          { type: 'track', userId: 'u', event: 'ok.2', messageId: 'mix-2', timestamp: 'yesterday-ish' },
        ],
      },
      bearer(),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      accepted: 1,
      dropped: [],
      rejected: [
        { index: 1, error: 'track: event must be a non-empty string' },
        { index: 2, error: 'event larger than 32768 bytes' },
        { index: 3, error: 'type must be one of track, identify, page, screen, group, alias' },
        { index: 4, error: 'page: userId or anonymousId is required' },
        { index: 5, error: 'timestamp is not a valid timestamp' },
      ],
    });
    expect((await rowsOf("EventId LIKE 'mix-%'", {})).map((r) => r.EventId)).toEqual(['mix-1']);
    const allBad = await post('/v1/track', { event: 'no.ids' }, bearer());
    expect(allBad).toMatchObject({ status: 400, body: { success: false, rejected: [{ index: 0 }] } });
  });

  it('refuses missing keys (401), invalid JSON (400), non-array batches (400) and bodies over 500 KB (413)', async () => {
    expect((await post('/v1/track', { userId: 'u', event: 'x' })).status).toBe(401);
    expect((await post('/v1/track', { userId: 'u', event: 'x', writeKey: 'wk_wrong_key_1' })).status).toBe(401);
    expect(await post('/v1/track', '{"userId":', bearer())).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST' } });
    expect(await post('/v1/batch', { batch: 'nope' }, bearer())).toMatchObject({ status: 400, body: { message: 'batch must be an array of messages' } });
    const huge = { batch: Array.from({ length: 40 }, (_, i) => ({ type: 'track', userId: 'u', event: 'e', properties: { pad: 'y'.repeat(15_000), i } })) };
    expect((await post('/v1/batch', huge, bearer())).status).toBe(413);
  });
});

describe('PostHog capture API', () => {
  it('stores what the unmodified posthog-node client sends (gzip batches)', async () => {
    const posthog = new PostHog(ACME_KEY, { host: svc.url, flushAt: 1, flushInterval: 0 });
    const errors: unknown[] = [];
    posthog.on('error', (e) => errors.push(e));
    posthog.capture({
      distinctId: 'ph-user-1',
      event: 'kb.search',
      uuid: '0190c7a4-0000-7000-8000-000000000001',
      properties: {
        'kb.results_count': 3,
        'kb.search_latency_ms': 84,
        $current_url: 'https://docs.example/a?q=1',
        $session_id: 'ph-sess-1',
        $ip: '198.51.100.7',
      },
    });
    posthog.identify({ distinctId: 'ph-user-1', properties: { $set: { plan: 'team' }, $anon_distinct_id: 'ph-anon-1' } });
    posthog.alias({ distinctId: 'ph-user-1', alias: 'ph-alias-1' });
    await posthog.shutdown();
    expect(errors).toEqual([]);
    const rows = await rowsOf("ScopeName = 'signalhouse/posthog' AND (UserId = 'ph-user-1' OR AnonymousId = 'ph-anon-1')", {});
    expect(rows.map((r) => r.EventName).sort()).toEqual(['$create_alias', '$identify', 'kb.search']);
    const search = rows.find((r) => r.EventName === 'kb.search')!;
    expect(search).toMatchObject({ TenantId: 'acme', EventId: '0190c7a4-0000-7000-8000-000000000001', UserId: 'ph-user-1', SessionId: 'ph-sess-1' });
    expect(search.LogAttributes).toMatchObject({
      'kb.results_count': '3',
      'url.full': '/a',
      'url.domain': 'docs.example',
      'client.address': '198.51.100.0',
      'library.name': 'posthog-node',
    });
    expect(rows.find((r) => r.EventName === '$identify')).toMatchObject({
      UserId: 'ph-user-1',
      AnonymousId: 'ph-anon-1',
      LogAttributes: expect.objectContaining({ 'traits.plan': 'team' }),
    });
    expect(rows.find((r) => r.EventName === '$create_alias')!.LogAttributes).toMatchObject({ 'alias.previous_id': 'ph-alias-1' });
  });

  it('accepts base64 form bodies, gzip-js query compression and arrays; marks anonymous ids', async () => {
    const event = (uuid: string, extra: Record<string, unknown> = {}) => ({
      event: '$pageview',
      distinct_id: 'dev-1',
      uuid,
      properties: { token: GLOBEX_KEY, $device_id: 'dev-1', ...extra },
    });
    const form = `data=${encodeURIComponent(Buffer.from(JSON.stringify([event('ph-b64')])).toString('base64'))}&compression=base64`;
    const b64 = await fetch(`${svc.url}/e/`, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect([b64.status, await b64.json()]).toEqual([200, { status: 1 }]);
    const gz = await fetch(`${svc.url}/i/v0/e/?compression=gzip-js`, {
      method: 'POST',
      body: gzipSync(JSON.stringify({ api_key: GLOBEX_KEY, batch: [event('ph-gz')] })),
      headers: { 'content-type': 'text/plain' },
    });
    expect(gz.status).toBe(200);
    const rows = await rowsOf("EventId IN ('ph-b64', 'ph-gz')", {});
    expect(rows.map((r) => [r.TenantId, r.EventName, r.UserId, r.AnonymousId])).toEqual([
      ['globex', '$pageview', '', 'dev-1'],
      ['globex', '$pageview', '', 'dev-1'],
    ]);
  });

  it('refuses missing keys, undecodable bodies and events without distinct_id', async () => {
    expect((await post('/capture/', { event: 'x', distinct_id: 'd' })).status).toBe(401);
    expect((await post('/capture/', 'not json', { authorization: `Bearer ${ACME_KEY}` })).status).toBe(400);
    const res = await post('/batch/', {
      api_key: ACME_KEY,
      batch: [{ event: 'ok', distinct_id: 'd', uuid: 'ph-ok' }, { event: 'no-id' }, { distinct_id: 'd' }],
    });
    expect(res).toEqual({
      status: 200,
      body: {
        status: 1,
        accepted: 1,
        dropped: [],
        rejected: [
          { index: 1, error: 'distinct_id is required' },
          { index: 2, error: 'event must be a non-empty string' },
        ],
      },
    });
  });
});

describe('identities', () => {
  it('merges traits per key, keeps first and last identify, and links anonymous ids to users', async () => {
    const t0 = Date.now() - 50_000;
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const batch = [
      { type: 'track', anonymousId: 'idn-anon-1', event: 'commerce.view', timestamp: at(0) },
      { type: 'identify', userId: 'idn-user', anonymousId: 'idn-anon-1', traits: { plan: 'free', company: 'Acme' }, timestamp: at(10) },
      { type: 'identify', userId: 'idn-user', traits: { plan: 'pro' }, timestamp: at(20) },
      { type: 'alias', userId: 'idn-user', previousId: 'idn-anon-2', timestamp: at(30) },
      { type: 'track', userId: 'idn-user', event: 'commerce.checkout', timestamp: at(40) },
    ];
    expect((await post('/v1/batch', { batch }, bearer())).status).toBe(200);
    const traits = await svc.rows("SELECT Key, Value FROM signalhouse.identity_traits WHERE TenantId = 'acme' AND UserId = 'idn-user' ORDER BY Key");
    expect(traits).toEqual([
      { Key: 'company', Value: 'Acme' },
      { Key: 'plan', Value: 'pro' },
    ]);
    const [person] = await svc.rows<{ first: string; last: string; calls: string }>(
      "SELECT toUnixTimestamp64Milli(FirstSeen) AS first, toUnixTimestamp64Milli(LastSeen) AS last, IdentifyCalls AS calls FROM signalhouse.identities WHERE TenantId = 'acme' AND UserId = 'idn-user'",
    );
    expect([Number(person.first), Number(person.last), Number(person.calls)]).toEqual([t0 + 10_000, t0 + 20_000, 2]);
    const links = await svc.rows(
      "SELECT AnonymousId, UserId FROM signalhouse.identity_links WHERE TenantId = 'acme' AND UserId = 'idn-user' ORDER BY AnonymousId",
    );
    expect(links).toEqual([
      { AnonymousId: 'idn-anon-1', UserId: 'idn-user' },
      { AnonymousId: 'idn-anon-2', UserId: 'idn-user' },
    ]);
    // Another tenant's identities stay apart.
    expect(await svc.rows("SELECT * FROM signalhouse.identity_links WHERE TenantId = 'globex' AND UserId = 'idn-user'")).toEqual([]);
  });
});

const CHROME_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

describe('event envelope API', () => {
  const envelope = (over: Record<string, unknown> = {}) => ({
    event_id: `env-${Math.random().toString(36).slice(2)}`,
    event_name: 'voice.first_response',
    occurred_at: new Date(Date.now() - 1000).toISOString(),
    tenant_id: 'acme',
    site_id: 'site-1',
    session_id: 'sess-env',
    user_id: 'user-env',
    source: 'voice_ws',
    attributes: { 'voice.turn_id': 't-1', 'voice.first_response_ms': 640 },
    context: {
      page: { url: 'https://app.example/help', referrer: 'https://google.com/' },
      device: { user_agent: CHROME_UA },
      locale: 'de-DE',
      consent: { analytics: true, ads: false },
    },
    ...over,
  });

  it('accepts one event with 202 and stores it field by field', async () => {
    const e = envelope();
    expect(await post('/api/v1/analytics/events', e, bearer())).toEqual({ status: 202, body: { event_id: e.event_id, status: 'accepted' } });
    const [row] = await rowsOf('EventId = {id:String}', { id: e.event_id });
    expect(row).toMatchObject({
      TenantId: 'acme',
      EventName: 'voice.first_response',
      SessionId: 'sess-env',
      UserId: 'user-env',
      SiteId: 'site-1',
      ScopeName: 'signalhouse/envelope',
    });
    expect(Number(row.ms)).toBe(Date.parse(e.occurred_at));
    expect(row.LogAttributes).toEqual({
      'voice.turn_id': 't-1',
      'voice.first_response_ms': '640',
      'url.full': '/help',
      'page.referrer': '/',
      'user_agent.original': CHROME_UA,
      'user_agent.bot': 'false',
      'user_agent.name': 'Chrome',
      'user_agent.version': '126.0.0.0',
      'user_agent.os.name': 'macOS',
      'user_agent.os.version': '10.15.7',
      'user_agent.device.type': 'desktop',
      locale: 'de-DE',
      'consent.analytics': 'true',
      'site.id': 'site-1',
      'event.source': 'voice_ws',
      'url.domain': 'app.example',
      'url.path': '/help',
      'referrer.domain': 'google.com',
      'redaction.masked.keys': 'page.referrer,url.full',
      'redaction.masked.count': '2',
    });
  });

  it('answers a batch with a result per event', async () => {
    const good = envelope();
    const res = await post(
      '/api/v1/analytics/events/batch',
      { batch_id: 'b-1', events: [good, envelope({ event_name: '' }), envelope({ occurred_at: 'not a time' }), envelope({ source: 'fax' })] },
      bearer(),
    );
    expect(res).toEqual({
      status: 200,
      body: {
        batch_id: 'b-1',
        accepted: 1,
        dropped: 0,
        rejected: 3,
        results: [
          { index: 0, event_id: good.event_id, status: 'accepted' },
          { index: 1, status: 'rejected', error: 'event_name must be a non-empty string' },
          { index: 2, status: 'rejected', error: 'occurred_at is not a valid timestamp' },
          { index: 3, status: 'rejected', error: 'source must be one of web, widget, voice_ws, server' },
        ],
      },
    });
  });

  it('refuses a batch naming another tenant (403) and batches over 500 events (413)', async () => {
    const res = await post('/api/v1/analytics/events/batch', { events: [envelope(), envelope({ tenant_id: 'globex' })] }, bearer());
    expect(res).toMatchObject({ status: 403, body: { error: 'FORBIDDEN_TENANT' } });
    const tooMany = { events: Array.from({ length: 501 }, () => ({ event_name: 'x' })) };
    expect(await post('/api/v1/analytics/events/batch', tooMany, bearer())).toMatchObject({ status: 413 });
    expect((await post('/api/v1/analytics/events', envelope({ event_name: 42 }), bearer())).status).toBe(400);
  });

  it('maps the camelCase track API to the same events', async () => {
    expect(
      await post(
        '/api/analytics/track',
        { eventName: 'page_view', properties: { page: '/home' }, userId: 'user123', sessionId: 'session456', eventId: 's3-1' },
        bearer(),
      ),
    ).toMatchObject({ status: 202 });
    const batch = await post(
      '/api/analytics/track/batch',
      { events: [{ eventName: 'button_click', properties: { button: 'signup' }, userId: 'user123', eventId: 's3-2' }] },
      bearer(),
    );
    expect(batch.body).toMatchObject({ accepted: 1, rejected: 0 });
    const rows = await rowsOf("EventId IN ('s3-1', 's3-2')", {});
    expect(rows.map((r) => [r.EventName, r.UserId, r.SessionId])).toEqual([
      ['page_view', 'user123', 'session456'],
      ['button_click', 'user123', ''],
    ]);
  });

  it('serves the event schemas as JSON Schema', async () => {
    const body = await (await fetch(`${svc.url}/api/v1/analytics/schemas`)).json();
    expect(Object.keys(body.events)).toContain('voice.first_response');
    expect(body.events['voice.first_response']).toMatchObject({
      title: 'voice.first_response',
      type: 'object',
      required: ['voice.turn_id', 'voice.first_response_ms'],
    });
    expect(body.events['kb.search'].properties['kb.results_count']).toMatchObject({ type: 'string', pattern: '^-?\\d+$' });
  });

  it('serves the analytics health and stats paths', async () => {
    for (const path of ['/api/v1/analytics/health', '/api/v1/analytics/events/health']) {
      expect(await (await fetch(`${svc.url}${path}`)).json()).toEqual({ status: 'ok' });
    }
    const stats = await (await fetch(`${svc.url}/api/v1/analytics/stats`)).json();
    expect(stats.receivers.envelope.accepted).toBeGreaterThanOrEqual(3);
    expect(stats.receivers.segment.rejected).toBeGreaterThanOrEqual(5);
    expect(stats.accepted).toBe(Object.values(stats.receivers as Record<string, { accepted: number }>).reduce((n, r) => n + r.accepted, 0));
  });
});
