/**
 * The tracker API over real HTTP (what `sdk/browser` sends, written out by hand here): the mapping to the
 * identity columns and the page, browser and library attributes, identify and alias into the identity links,
 * retries stored once, the reply contract (partial success, 400 only when every event is refused, 401, 413,
 * 415), 503 with a readable `Retry-After` under overload, and the scripts under /sdk/ with their headers.
 */
import { get, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_PATH } from '../../sdk/browser/src/transport.ts';
import { ACME_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';
import { TRACKER_PATH } from './routes.ts';

let svc: TestService;
beforeAll(async () => {
  // One request at a time: the overload test holds one in flight.
  svc = await startTestService({ service: { http: { host: '127.0.0.1', port: 0, max_concurrent_requests: 1 } } });
});
afterAll(async () => {
  await svc?.close();
});

const CHROME_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const ORIGIN = 'https://shop.example';

async function post(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}${TRACKER_PATH}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'text/plain;charset=UTF-8', 'user-agent': CHROME_UA, origin: ORIGIN, ...headers },
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

type Row = {
  EventId: string;
  EventName: string;
  UserId: string;
  AnonymousId: string;
  SessionId: string;
  ms: string;
  ScopeName: string;
  LogAttributes: Record<string, string>;
};
const rowsOf = (prefix: string) =>
  svc.rows<Row>(
    `SELECT EventId, EventName, UserId, AnonymousId, SessionId, toString(toUnixTimestamp64Milli(Timestamp)) AS ms, ScopeName, LogAttributes
     FROM signalhouse.otel_logs WHERE TenantId = 'acme' AND startsWith(EventId, {p:String}) ORDER BY EventId`,
    { p: prefix },
  );

describe('the tracker API', () => {
  it('is the path the tracker posts to, one no ad-block rule matches', () => {
    expect(TRACKER_PATH).toBe(INGEST_PATH);
    expect(TRACKER_PATH).not.toMatch(/track|beacon|analytics|collect|pixel|event|log|stat/i);
  });

  it('stores each event type with its ids, page, browser and library, the time corrected by sentAt', async () => {
    const now = Date.now();
    // The browser's clock is 10 minutes behind ours.
    const skew = -600_000;
    const base = { anonymousId: 'anon-1', sessionId: 'sess-1', url: 'https://shop.example/pricing?plan=pro', title: 'Pricing' };
    const res = await post({
      writeKey: ACME_KEY,
      sentAt: new Date(now + skew).toISOString(),
      library: { name: '@signalhouse/browser', version: '0.1.0' },
      locale: 'de-DE',
      events: [
        {
          ...base,
          type: 'page',
          messageId: 'map-1',
          timestamp: new Date(now + skew - 3000).toISOString(),
          name: 'Pricing',
          referrer: 'https://search.example/',
        },
        {
          ...base,
          type: 'track',
          messageId: 'map-2',
          timestamp: new Date(now + skew - 2000).toISOString(),
          event: 'plan.chosen',
          properties: { plan: 'pro', seats: 3 },
        },
        { ...base, type: 'identify', messageId: 'map-3', userId: 'user-1', traits: { plan: 'pro' } },
        { type: 'alias', messageId: 'map-4', userId: 'user-1', previousId: 'old-id-1', sessionId: 'sess-1' },
      ],
    });
    expect(res).toMatchObject({ status: 200, body: { success: true } });
    const rows = await rowsOf('map-');
    expect(rows.map((r) => [r.EventId, r.EventName, r.UserId, r.AnonymousId, r.SessionId, r.ScopeName])).toEqual([
      ['map-1', 'page', '', 'anon-1', 'sess-1', 'signalhouse/tracker'],
      ['map-2', 'plan.chosen', '', 'anon-1', 'sess-1', 'signalhouse/tracker'],
      ['map-3', 'identify', 'user-1', 'anon-1', 'sess-1', 'signalhouse/tracker'],
      ['map-4', 'alias', 'user-1', '', 'sess-1', 'signalhouse/tracker'],
    ]);
    expect(Math.abs(Number(rows[0].ms) - (now - 3000))).toBeLessThan(2000);
    // Enriched and redacted by the default processors: the URL cut to its path, the address to its /24.
    expect(rows[0].LogAttributes).toMatchObject({
      'page.name': 'Pricing',
      'url.full': '/pricing',
      'url.domain': 'shop.example',
      'page.title': 'Pricing',
      'page.referrer': '/',
      'referrer.domain': 'search.example',
      'user_agent.original': CHROME_UA,
      'user_agent.name': 'Chrome',
      'client.address': '127.0.0.0',
      locale: 'de-DE',
      'library.name': '@signalhouse/browser',
      'library.version': '0.1.0',
    });
    expect(rows[1].LogAttributes).toMatchObject({ plan: 'pro', seats: '3' });
    expect(rows[2].LogAttributes).toMatchObject({ 'traits.plan': 'pro' });
    expect(rows[3].LogAttributes).toMatchObject({ 'alias.previous_id': 'old-id-1' });
  });

  it('links the anonymous id (identify) and the previous id (alias) to the user', async () => {
    await post({
      writeKey: ACME_KEY,
      events: [
        { type: 'identify', messageId: 'link-1', anonymousId: 'link-anon', userId: 'link-user' },
        { type: 'alias', messageId: 'link-2', userId: 'link-user', previousId: 'link-prev' },
      ],
    });
    const links = await svc.rows(
      "SELECT AnonymousId, UserId FROM signalhouse.identity_links WHERE TenantId = 'acme' AND UserId = 'link-user' ORDER BY AnonymousId",
    );
    expect(links).toEqual([
      { AnonymousId: 'link-anon', UserId: 'link-user' },
      { AnonymousId: 'link-prev', UserId: 'link-user' },
    ]);
  });

  it('stores a retried batch once: the message ids are the event ids the server deduplicates on', async () => {
    const batch = {
      writeKey: ACME_KEY,
      events: [1, 2, 3].map((i) => ({ type: 'track', event: 'retried', messageId: `retry-${i}`, anonymousId: 'a' })),
    };
    expect((await post(batch)).body).toEqual({ success: true });
    expect((await post(batch)).body).toEqual({ success: true });
    expect((await rowsOf('retry-')).map((r) => r.EventId)).toEqual(['retry-1', 'retry-2', 'retry-3']);
  });

  it('refuses bad events by index and stores the rest; 400 only when every event is refused', async () => {
    const res = await post({
      writeKey: ACME_KEY,
      events: [
        { type: 'track', event: 'ok', messageId: 'part-1', anonymousId: 'a' },
        { type: 'track', messageId: 'part-2', anonymousId: 'a' },
        { type: 'teleport', messageId: 'part-3', anonymousId: 'a' },
        { type: 'page', messageId: 'part-4' },
        { type: 'alias', messageId: 'part-5', userId: 'u' },
        { type: 'track', event: 'big', messageId: 'part-6', anonymousId: 'a', properties: { pad: 'x'.repeat(33 * 1024) } },
        7,
      ],
    });
    expect(res).toMatchObject({
      status: 200,
      body: {
        success: true,
        accepted: 1,
        dropped: [],
        rejected: [
          { index: 1, error: 'track: event must be a non-empty string' },
          { index: 2, error: 'type must be one of track, page, identify, alias' },
          { index: 3, error: 'page: userId or anonymousId is required' },
          { index: 4, error: 'alias: userId and previousId are required' },
          { index: 5, error: 'event larger than 32768 bytes' },
          { index: 6, error: 'event must be an object' },
        ],
      },
    });
    expect((await rowsOf('part-')).map((r) => r.EventId)).toEqual(['part-1']);
    expect(await post({ writeKey: ACME_KEY, events: [{ type: 'page', messageId: 'none-1' }] })).toMatchObject({
      status: 400,
      body: { success: false, message: 'every event was refused', rejected: [{ index: 0 }] },
    });
  });

  it('refuses unknown keys (401), bad bodies (400), other content types (415) and bodies over the limit (413)', async () => {
    expect((await post({ writeKey: 'wk_not_a_key', events: [] })).status).toBe(401);
    expect((await post({ events: [] })).status).toBe(401);
    expect((await post('{"writeKey":')).status).toBe(400);
    expect(await post({ writeKey: ACME_KEY, events: 'x' })).toMatchObject({ status: 400, body: { message: 'events must be an array of events' } });
    expect((await post({ writeKey: ACME_KEY, events: [] }, { 'content-type': 'application/xml' })).status).toBe(415);
    const huge = {
      writeKey: ACME_KEY,
      events: Array.from({ length: 40 }, (_, i) => ({ type: 'track', event: 'e', anonymousId: 'a', properties: { i, pad: 'y'.repeat(15_000) } })),
    };
    expect((await post(huge)).status).toBe(413);
    // A Bearer header works as well as the key in the body.
    expect(
      (await post({ events: [{ type: 'track', event: 'bearer', messageId: 'bearer-1', anonymousId: 'a' }] }, { authorization: `Bearer ${ACME_KEY}` })).status,
    ).toBe(200);
  });

  it('answers 503 with a Retry-After the page can read when the server is overloaded', async () => {
    const bytes = Buffer.from(JSON.stringify({ writeKey: ACME_KEY, events: [{ type: 'track', event: 'held', messageId: 'held-1', anonymousId: 'a' }] }));
    const u = new URL(`${svc.url}${TRACKER_PATH}`);
    const held = request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'content-length': bytes.length },
    });
    const heldStatus = new Promise<number>((resolve, reject) => {
      held.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      held.on('error', reject);
    });
    held.write(bytes.subarray(0, 10));
    await expect.poll(async () => (await fetch(`${svc.url}/health`)).status).toBe(503);
    const refused = await post({ writeKey: ACME_KEY, events: [{ type: 'track', event: 'refused', messageId: 'refused-1', anonymousId: 'a' }] });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(refused.headers.get('access-control-expose-headers')).toContain('retry-after');
    held.end(bytes.subarray(10));
    expect(await heldStatus).toBe(200);
    await expect.poll(async () => (await fetch(`${svc.url}/health`)).status).toBe(200);
    expect((await rowsOf('held-')).length).toBe(1);
    expect(await rowsOf('refused-')).toEqual([]);
  });
});

describe('the scripts under /sdk/', () => {
  it('serves the tracker and its modules as JavaScript for pages on any origin, compressed and cacheable', async () => {
    for (const file of ['signalhouse.js', 'signalhouse.autocapture.js', 'signalhouse.vitals.js', 'signalhouse.errors.js']) {
      const res = await fetch(`${svc.url}/sdk/${file}`, { headers: { 'accept-encoding': 'br, gzip' } });
      expect(res.status, file).toBe(200);
      expect(res.headers.get('content-type'), file).toBe('text/javascript; charset=utf-8');
      expect(res.headers.get('content-encoding'), file).toBe('br');
      expect(res.headers.get('access-control-allow-origin'), file).toBe('*');
      expect(res.headers.get('cross-origin-resource-policy'), file).toBe('cross-origin');
      expect(res.headers.get('cache-control'), file).toBe('public, max-age=3600');
      expect(res.headers.get('vary'), file).toContain('accept-encoding');
      expect((await res.text()).length, file).toBeGreaterThan(100);
    }
    const plain = await fetch(`${svc.url}/sdk/signalhouse.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toContain('signalhouse');
    const etag = plain.headers.get('etag');
    expect(etag).toBeTruthy();
    // A revalidation (node:http: fetch adds `Cache-Control: no-cache` to conditional requests).
    const revalidated = await new Promise<number | undefined>((resolve, reject) =>
      get(`${svc.url}/sdk/signalhouse.js`, { headers: { 'accept-encoding': 'identity', 'if-none-match': etag! } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject),
    );
    expect(revalidated).toBe(304);
  });

  it('serves nothing else from the build', async () => {
    for (const path of ['/sdk/', '/sdk/esm/index.js', '/sdk/signalhouse.js.br', '/sdk/types/index.d.ts', '/sdk/../package.json', '/sdk/%2e%2e/package.json']) {
      expect((await fetch(`${svc.url}${path}`)).status, path).toBe(404);
    }
  });
});
