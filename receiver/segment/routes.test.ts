/**
 * The Segment API's browser wire over plain HTTP, as analytics.js (`@segment/analytics-next`) speaks it: the
 * short paths (`/v1/t`, `/v1/p`, …) and the batch path `/v1/b` with `text/plain` bodies carrying the write key,
 * the settings document it loads first (`/v1/projects/<writeKey>/settings`), and what a hostile or mistaken
 * client gets instead: wrong and missing keys, another origin than the tenant allows, malformed bodies, unknown
 * keys and unusable Host headers.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, GLOBEX_KEY, startTestService, TENANTS, type TestService } from '../../test/helpers/service.ts';
import { segmentReceiverSchema } from './config.ts';
import { addressOfUrl } from './settings.ts';

const SHOP_KEY = 'wk_shop_segment';
const SHOP_ORIGIN = 'https://shop.example';

let svc: TestService;
let host: string;
beforeAll(async () => {
  svc = await startTestService({ tenants: [...TENANTS, { id: 'shop', write_keys: [SHOP_KEY], allowed_origins: [SHOP_ORIGIN] }] });
  host = new URL(svc.url).host;
});
afterAll(async () => {
  await svc?.close();
});

type Row = { TenantId: string; EventId: string; EventName: string; UserId: string; AnonymousId: string; ms: string; LogAttributes: Record<string, string> };
const rowsOf = (idPrefix: string) =>
  svc.rows<Row>(
    `SELECT TenantId, EventId, EventName, UserId, AnonymousId, toString(toUnixTimestamp64Milli(Timestamp)) AS ms, LogAttributes
     FROM signalhouse.otel_logs WHERE startsWith(EventId, {p:String}) ORDER BY EventId`,
    { p: idPrefix },
  );

/** Posts as analytics.js does: `text/plain`, the write key in the body (and, with `basic`, in `Authorization`). */
async function postPlain(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'text/plain', ...headers },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });

/** A GET over raw HTTP, so that the Host header can be anything (fetch sets it itself). */
function get(path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  const { hostname, port } = new URL(svc.url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

const PAGE = {
  path: '/pricing',
  referrer: 'https://www.example.org/blog?ref=1',
  search: '?utm_source=newsletter',
  title: 'Pricing',
  url: 'https://shop.example/pricing?utm_source=newsletter',
};
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

/** A message as analytics.js 1.84 builds it (the segmentio plugin's normalize step included). */
function ajsMessage(type: string, id: string, fields: Record<string, unknown>, writeKey = ACME_KEY) {
  return {
    type,
    messageId: id,
    anonymousId: 'ajs-anon-1',
    userId: null,
    timestamp: new Date().toISOString(),
    context: {
      page: PAGE,
      userAgent: UA,
      userAgentData: { brands: [{ brand: 'Chromium', version: '120' }], mobile: false, platform: 'Linux' },
      locale: 'en-US',
      library: { name: 'analytics.js', version: 'npm:next-1.84.3' },
      campaign: { source: 'newsletter' },
      timezone: 'Europe/Paris',
    },
    integrations: {},
    writeKey,
    sentAt: new Date().toISOString(),
    _metadata: { bundled: ['Segment.io'], unbundled: [], bundledIds: [] },
    ...fields,
  };
}

describe('the short paths analytics.js sends one message to', () => {
  it('store each type from a text/plain body with the write key inside, under the key’s tenant', async () => {
    const sent = [
      ['/v1/t', ajsMessage('track', 'short-t', { event: 'Signed Up', properties: { plan: 'pro' } })],
      ['/v1/p', ajsMessage('page', 'short-p', { name: 'Pricing', properties: { ...PAGE, name: 'Pricing' } })],
      ['/v1/i', ajsMessage('identify', 'short-i', { userId: 'user-1', traits: { plan: 'pro' } })],
      ['/v1/g', ajsMessage('group', 'short-g', { userId: 'user-1', groupId: 'org-1', traits: { size: 3 } })],
      ['/v1/a', ajsMessage('alias', 'short-a', { userId: 'user-1', previousId: 'ajs-anon-1' })],
      ['/v1/s', ajsMessage('screen', 'short-s', { name: 'Home' }, GLOBEX_KEY)],
    ] as const;
    for (const [path, body] of sent) expect(await postPlain(path, body), path).toEqual({ status: 200, body: { success: true } });
    const rows = await rowsOf('short-');
    expect(rows.map((r) => [r.EventId, r.TenantId, r.EventName, r.UserId, r.AnonymousId])).toEqual([
      ['short-a', 'acme', 'alias', 'user-1', 'ajs-anon-1'],
      ['short-g', 'acme', 'group', 'user-1', 'ajs-anon-1'],
      ['short-i', 'acme', 'identify', 'user-1', 'ajs-anon-1'],
      ['short-p', 'acme', 'page', '', 'ajs-anon-1'],
      ['short-s', 'globex', 'screen', '', 'ajs-anon-1'],
      ['short-t', 'acme', 'Signed Up', '', 'ajs-anon-1'],
    ]);
    const track = rows.find((r) => r.EventId === 'short-t')!;
    // The page context through the default processors: enriched (domain, path, campaign) and redacted (URLs to paths).
    expect(track.LogAttributes).toMatchObject({
      plan: 'pro',
      'url.full': '/pricing',
      'url.domain': 'shop.example',
      'url.path': '/pricing',
      'campaign.source': 'newsletter',
      'page.title': 'Pricing',
      'page.referrer': '/blog',
      'user_agent.original': UA,
      locale: 'en-US',
      'library.name': 'analytics.js',
      'library.version': 'npm:next-1.84.3',
    });
    expect(rows.find((r) => r.EventId === 'short-i')!.LogAttributes).toMatchObject({ 'traits.plan': 'pro' });
    expect(rows.find((r) => r.EventId === 'short-g')!.LogAttributes).toMatchObject({ 'group.id': 'org-1', 'group.traits.size': '3' });
    expect(rows.find((r) => r.EventId === 'short-a')!.LogAttributes).toMatchObject({ 'alias.previous_id': 'ajs-anon-1' });
  });

  it('describe a page view once: the page properties analytics.js copies from the context are not stored again', async () => {
    const props = { ...PAGE, name: 'Pricing', plan: 'pro' };
    expect((await postPlain('/v1/p', ajsMessage('page', 'pageprops-1', { name: 'Pricing', properties: props }))).status).toBe(200);
    // Without a page context (a hand-written call), the page properties stand in for it; one that differs from the context is kept as sent.
    const bare = {
      type: 'page',
      messageId: 'pageprops-2',
      anonymousId: 'a',
      writeKey: ACME_KEY,
      properties: { url: 'https://shop.example/a?x=1', title: 'A' },
    };
    expect((await postPlain('/v1/p', bare)).status).toBe(200);
    const differing = ajsMessage('page', 'pageprops-3', { properties: { title: 'Another title' } });
    expect((await postPlain('/v1/p', differing)).status).toBe(200);
    const [full, fromProps, kept] = await rowsOf('pageprops-');
    expect(Object.keys(full.LogAttributes).filter((k) => ['url', 'path', 'title', 'referrer', 'search', 'name'].includes(k))).toEqual([]);
    expect(full.LogAttributes).toMatchObject({ 'page.name': 'Pricing', plan: 'pro', 'url.full': '/pricing', 'url.path': '/pricing', 'page.title': 'Pricing' });
    expect(fromProps.LogAttributes).toMatchObject({ 'url.full': '/a', 'url.domain': 'shop.example', 'page.title': 'A' });
    expect(kept.LogAttributes).toMatchObject({ title: 'Another title', 'page.title': 'Pricing' });
  });

  it('store a repeated message (a retry, same messageId) once', async () => {
    const body = ajsMessage('track', 'retry-1', { event: 'Retried' });
    expect((await postPlain('/v1/t', body, basic(ACME_KEY))).status).toBe(200);
    expect((await postPlain('/v1/t', body, basic(ACME_KEY))).status).toBe(200);
    expect((await rowsOf('retry-')).length).toBe(1);
  });
});

describe('the batch path of the batching delivery strategy, /v1/b', () => {
  it('stores a batch of messages without their own sentAt, corrected by the batch’s sentAt', async () => {
    const now = Date.now();
    // The browser's clock is an hour behind: its times and its sentAt are an hour early.
    const at = (ms: number) => new Date(ms - 3_600_000).toISOString();
    const strip = ({ sentAt: _, ...m }: ReturnType<typeof ajsMessage>) => m;
    const batch = [
      strip(ajsMessage('page', 'b-1', { timestamp: at(now - 2_000), properties: PAGE })),
      strip(ajsMessage('track', 'b-2', { timestamp: at(now - 1_000), event: 'Clicked' })),
      strip(ajsMessage('identify', 'b-3', { timestamp: at(now), userId: 'user-b' })),
    ];
    const res = await postPlain('/v1/b', { writeKey: ACME_KEY, batch, sentAt: at(now) }, basic(ACME_KEY));
    expect(res).toEqual({ status: 200, body: { success: true } });
    const rows = await rowsOf('b-');
    expect(rows.map((r) => [r.EventId, r.EventName, r.UserId])).toEqual([
      ['b-1', 'page', ''],
      ['b-2', 'Clicked', ''],
      ['b-3', 'identify', 'user-b'],
    ]);
    expect(Math.abs(Number(rows[1].ms) - (now - 1_000))).toBeLessThan(2_000);
  });
});

describe('refusals', () => {
  const track = (id: string, writeKey?: string) => ({ type: 'track', event: 'x', messageId: id, anonymousId: 'a', ...(writeKey ? { writeKey } : {}) });

  it('a wrong or missing write key: 401, nothing stored', async () => {
    expect(await postPlain('/v1/t', track('nokey-1', 'wk_not_a_key'))).toMatchObject({
      status: 401,
      body: { error: 'UNAUTHENTICATED', message: 'unknown write key' },
    });
    expect(await postPlain('/v1/b', { batch: [track('nokey-2')] })).toMatchObject({ status: 401, body: { error: 'UNAUTHENTICATED' } });
    expect(await postPlain('/v1/p', { ...track('nokey-3', ''), type: 'page' })).toMatchObject({ status: 401 });
    expect(await rowsOf('nokey-')).toEqual([]);
  });

  it('a body naming another tenant’s key than the Authorization header: 403, nothing stored; the same key is fine', async () => {
    const mixed = await postPlain('/v1/t', track('mixed-1', GLOBEX_KEY), basic(ACME_KEY));
    expect(mixed).toMatchObject({ status: 403, body: { error: 'FORBIDDEN_TENANT' } });
    expect((await postPlain('/v1/b', { writeKey: 'wk_not_a_key', batch: [track('mixed-2')] }, basic(ACME_KEY))).status).toBe(403);
    expect((await postPlain('/v1/t', track('mixed-3', ACME_KEY), basic(ACME_KEY))).status).toBe(200);
    expect((await rowsOf('mixed-')).map((r) => [r.EventId, r.TenantId])).toEqual([['mixed-3', 'acme']]);
  });

  it('a page on another origin than its tenant allows: 403 FORBIDDEN_ORIGIN; its own origin is served', async () => {
    const other = await postPlain('/v1/t', track('origin-1', SHOP_KEY), { origin: 'https://elsewhere.example' });
    expect(other).toMatchObject({ status: 403, body: { error: 'FORBIDDEN_ORIGIN' } });
    expect(other.body.message).toContain('allowed_origins');
    expect((await postPlain('/v1/b', { writeKey: SHOP_KEY, batch: [track('origin-2')] }, { origin: 'https://elsewhere.example' })).status).toBe(403);
    expect((await postPlain('/v1/t', track('origin-3', SHOP_KEY), { origin: SHOP_ORIGIN })).status).toBe(200);
    expect((await rowsOf('origin-')).map((r) => [r.EventId, r.TenantId])).toEqual([['origin-3', 'shop']]);
  });

  it('malformed bodies: 400 with the reason, and 415 for another media type', async () => {
    expect(await postPlain('/v1/t', '{"type":"track",', basic(ACME_KEY))).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST' } });
    expect(await postPlain('/v1/p', '[1,2]', basic(ACME_KEY))).toMatchObject({ status: 400, body: { message: 'body must be a JSON object' } });
    expect(await postPlain('/v1/i', '', basic(ACME_KEY))).toMatchObject({ status: 400 });
    expect(await postPlain('/v1/b', { writeKey: ACME_KEY, batch: { 0: track('bad-1') } })).toMatchObject({
      status: 400,
      body: { message: 'batch must be an array of messages' },
    });
    expect(await postPlain('/v1/b', { writeKey: ACME_KEY, sentAt: 'soon', batch: [track('bad-2')] })).toMatchObject({
      status: 400,
      body: { message: 'sentAt is not a valid timestamp' },
    });
    expect(await postPlain('/v1/t', { writeKey: ACME_KEY, type: 'track', anonymousId: 'a' })).toMatchObject({
      status: 400,
      body: { success: false, rejected: [{ index: 0, error: 'track: event must be a non-empty string' }] },
    });
    const form = await fetch(`${svc.url}/v1/t`, {
      method: 'POST',
      body: JSON.stringify(track('bad-3', ACME_KEY)),
      headers: { 'content-type': 'application/xml' },
    });
    expect(form.status).toBe(415);
    expect(await rowsOf('bad-')).toEqual([]);
  });
});

describe('the settings analytics.js loads, GET /v1/projects/<writeKey>/settings', () => {
  const path = (key: string) => `/v1/projects/${encodeURIComponent(key)}/settings`;

  it('tell it to send here: the write key, this server’s host + /v1 and scheme; no Segment metrics; cacheable for 5 minutes', async () => {
    const res = await fetch(`${svc.url}${path(ACME_KEY)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(await res.json()).toEqual({
      integrations: { 'Segment.io': { apiKey: ACME_KEY, apiHost: `${host}/v1`, protocol: 'http' } },
      metrics: { sampleRate: 0 },
    });
  });

  it('take the host from the Host header, never from forwarded headers', async () => {
    const res = await get(path(GLOBEX_KEY), { host: 'analytics.example:8443', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' });
    expect(res.status).toBe(200);
    expect(res.body.integrations).toEqual({ 'Segment.io': { apiKey: GLOBEX_KEY, apiHost: 'analytics.example:8443/v1', protocol: 'http' } });
    expect((await get(path(GLOBEX_KEY), { host: '[::1]:4318' })).body.integrations).toMatchObject({ 'Segment.io': { apiHost: '[::1]:4318/v1' } });
    const bad = await get(path(GLOBEX_KEY), { host: 'evil.example/collect?x=' });
    expect(bad).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST' } });
    expect(bad.body.message).toContain('public_url');
  });

  it('answer 404 with a JSON error for a key no tenant has, not cached', async () => {
    const res = await fetch(`${svc.url}${path('wk_nobody_has_this')}`);
    expect(res.status).toBe(404);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ error: 'NOT_FOUND', message: 'unknown write key: no tenant has it in its write_keys' });
  });

  it('refuse a page its tenant does not allow (403), and answer CORS to the pages that may load them', async () => {
    expect(await get(path(SHOP_KEY), { host, origin: 'https://elsewhere.example' })).toMatchObject({ status: 403, body: { error: 'FORBIDDEN_ORIGIN' } });
    const allowed = await get(path(SHOP_KEY), { host, origin: SHOP_ORIGIN });
    expect(allowed).toMatchObject({ status: 200, headers: { 'access-control-allow-origin': SHOP_ORIGIN } });
    for (const p of [path(ACME_KEY), '/v1/t', '/v1/b']) {
      const preflight = await fetch(`${svc.url}${p}`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://anywhere.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
      expect(preflight.status, p).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin'), p).toBe('https://anywhere.example');
      expect(preflight.headers.get('access-control-allow-headers'), p).toBe('authorization,content-type');
    }
  });
});

describe('receivers.segment.public_url', () => {
  it('names the address behind a proxy: its host and path prefix + /v1, and its scheme', () => {
    expect(addressOfUrl('https://signalhouse.example.com')).toEqual({ apiHost: 'signalhouse.example.com/v1', protocol: 'https' });
    expect(addressOfUrl('https://example.com:8443/ingest/')).toEqual({ apiHost: 'example.com:8443/ingest/v1', protocol: 'https' });
    expect(addressOfUrl('http://10.0.0.5:4318')).toEqual({ apiHost: '10.0.0.5:4318/v1', protocol: 'http' });
  });

  it('is an http(s) URL without credentials, query or fragment', () => {
    for (const bad of ['signalhouse.example.com', 'ftp://example.com', 'https://u:p@example.com', 'https://example.com/?a=1', 'https://example.com/#x']) {
      expect(segmentReceiverSchema.safeParse({ public_url: bad }).success, bad).toBe(false);
    }
    expect(segmentReceiverSchema.parse({ public_url: 'https://example.com/ingest' }).public_url).toBe('https://example.com/ingest');
  });
});
