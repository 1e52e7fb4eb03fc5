/**
 * The PostHog browser wire over plain HTTP, hostile inputs included: the remote config (JSON and script) and
 * flags (`/flags`, `/decide`) posthog-js asks for, capture bodies as posthog-js ≥ 1.2xx sends them (gzip bytes
 * with no compression named, base64 beacons, its query parameters), the mapping of what it sends (`$set` beside
 * the properties, `$device_id`, a pageview's title), CORS on every one of these paths, and clear 4xx replies
 * (never a 500) to unknown keys, bad parameters and malformed bodies.
 */
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, startTestService, TENANTS, type TestService } from '../../test/helpers/service.ts';
import { baseRemoteConfig } from './remote-config.ts';

const SHOP_KEY = 'wk_shop_sdk_routes';
const SHOP = 'https://shop.example';
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ tenants: [...TENANTS, { id: 'shop', write_keys: [SHOP_KEY], allowed_origins: [SHOP] }] });
});
afterAll(async () => {
  await svc?.close();
});

async function call(method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}${path}`, { method, body: typeof body === 'string' || body === undefined ? body : Buffer.from(body), headers });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
const gzipText = (doc: unknown) => ({ body: gzipSync(JSON.stringify(doc)), headers: { 'content-type': 'text/plain' } });
const base64Form = (doc: unknown) => ({
  body: `data=${encodeURIComponent(Buffer.from(JSON.stringify(doc)).toString('base64'))}`,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
});
const flagsBody = (extra: object = {}) => ({ token: ACME_KEY, distinct_id: 'd-1', groups: {}, person_properties: { $lib: 'web' }, ...extra });

const CONFIG_KEYS = { supportedCompression: ['gzip', 'gzip-js'], autocapture_opt_out: false, elementsChainAsString: true, sessionRecording: false };

describe('remote config: /array/<key>/config and config.js', () => {
  it('answers the JSON config posthog-js reads, to any origin', async () => {
    const res = await call('GET', `/array/${ACME_KEY}/config`, undefined, { origin: 'https://anywhere.example' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://anywhere.example');
    expect(res.headers.get('vary')).toMatch(/origin/i);
    expect(res.json).toMatchObject({
      ...CONFIG_KEYS,
      token: ACME_KEY,
      hasFeatureFlags: false,
      capturePerformance: false,
      heatmaps: false,
      captureDeadClicks: false,
      autocaptureExceptions: false,
      siteApps: [],
    });
    expect(res.json).not.toHaveProperty('surveys');
  });

  it('answers config.js: a script that leaves the same config where posthog-js looks for it', async () => {
    const json = (await call('GET', `/array/${ACME_KEY}/config`)).json;
    const res = await call('GET', `/array/${ACME_KEY}/config.js`, undefined, { origin: 'https://anywhere.example' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/javascript/);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://anywhere.example');
    const window: { _POSTHOG_REMOTE_CONFIG?: Record<string, { config: unknown; siteApps: unknown }> } = {};
    runInNewContext(res.text, { window });
    expect(JSON.parse(JSON.stringify(window._POSTHOG_REMOTE_CONFIG))).toEqual({ [ACME_KEY]: { config: json, siteApps: [] } });
  });

  it.each(['config', 'config.js'])('%s: refuses an unknown key with 401, whatever its name or length', async (file) => {
    const keys = ['wk_unknown', '__proto__', 'constructor', 'toString', '%00', encodeURIComponent('"];alert(1)//'), 'a%2Fb', 'k'.repeat(5000)];
    for (const key of keys) {
      const res = await call('GET', `/array/${key}/${file}`);
      expect(res.status, key.slice(0, 20)).toBe(401);
      expect(res.json, key.slice(0, 20)).toMatchObject({ error: 'UNAUTHENTICATED', message: 'unknown write key' });
    }
  });

  it('answers 404 for other files under /array', async () => {
    for (const path of ['/array/', `/array/${ACME_KEY}`, `/array/${ACME_KEY}/config.json`, `/array/${ACME_KEY}/array.js`, '/array/config']) {
      expect((await call('GET', path)).json, path).toMatchObject({ error: 'NOT_FOUND', message: expect.stringContaining('/array/<key>/config') });
    }
  });

  it('opts posthog-js out of autocapture when the receiver says so', () => {
    expect(baseRemoteConfig({ autocapture: false })).toMatchObject({ autocapture_opt_out: true });
    expect(baseRemoteConfig({ autocapture: true })).toMatchObject({ autocapture_opt_out: false });
  });

  it("refuses a page whose origin the key's tenant does not allow with 403", async () => {
    expect((await call('GET', `/array/${SHOP_KEY}/config`, undefined, { origin: SHOP })).status).toBe(200);
    const res = await call('GET', `/array/${SHOP_KEY}/config.js`, undefined, { origin: 'https://elsewhere.example' });
    expect(res).toMatchObject({ status: 403, json: { error: 'FORBIDDEN_ORIGIN' } });
  });
});

describe('flags: /flags and /decide', () => {
  it('/flags/?v=2 as posthog-js sends it (gzip text/plain): no flags, in the v2 shape, without the config', async () => {
    const { body, headers } = gzipText(flagsBody());
    const res = await call('POST', '/flags/?v=2', body, { ...headers, origin: 'https://anywhere.example' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://anywhere.example');
    expect(res.json).toEqual({ flags: {}, featureFlags: {}, featureFlagPayloads: {}, errorsWhileComputingFlags: false, requestId: expect.any(String) });
  });

  it('/flags with config=true, and /decide in each version, answer the config with the flags in that version’s shape', async () => {
    const json = (path: string, doc: unknown) => call('POST', path, JSON.stringify(doc), { 'content-type': 'application/json' }).then((r) => r.json);
    expect(await json('/flags/?v=2&config=true', flagsBody())).toMatchObject({
      ...CONFIG_KEYS,
      hasFeatureFlags: false,
      flags: {},
      errorsWhileComputingFlags: false,
    });
    expect(await json('/flags?v=1', flagsBody())).toMatchObject({ featureFlags: {}, featureFlagPayloads: {}, errorsWhileComputingFlags: false });
    expect(await json('/flags?v=1', flagsBody())).not.toHaveProperty('flags');
    const decide1 = await json('/decide/', flagsBody());
    expect(decide1).toMatchObject({ ...CONFIG_KEYS, featureFlags: [], config: { enable_collect_everything: true }, isAuthenticated: false, siteApps: [] });
    expect(decide1).not.toHaveProperty('errorsWhileComputingFlags');
    expect(await json('/decide/?v=2', flagsBody())).toMatchObject({ featureFlags: {} });
    const { body, headers } = base64Form(flagsBody());
    const decide3 = (await call('POST', '/decide/?v=3&ip=1&_=1700000000000&ver=1.96.0', body, headers)).json;
    expect(decide3).toMatchObject({ ...CONFIG_KEYS, featureFlags: {}, featureFlagPayloads: {}, errorsWhileComputingFlags: false });
    expect(decide3).not.toHaveProperty('flags');
    expect(await json('/decide/?v=4', flagsBody())).toMatchObject({ featureFlags: {}, flags: {}, errorsWhileComputingFlags: false });
    // A version newer than any known gets the newest shape.
    expect(await json('/flags/?v=9', flagsBody())).toMatchObject({ flags: {} });
  });

  it('takes the key from a Bearer header, and answers disable_flags without a person', async () => {
    const res = await call('POST', '/flags/?v=2', JSON.stringify({ distinct_id: 'd' }), { authorization: `Bearer ${ACME_KEY}`, 'content-type': 'text/plain' });
    expect(res).toMatchObject({ status: 200, json: { flags: {} } });
    expect((await call('POST', '/flags/?v=2', JSON.stringify({ token: ACME_KEY, disable_flags: true }))).json).toMatchObject({ flags: {} });
  });

  it('refuses bad parameters and bodies with 400, missing or unknown keys with 401, never a 500', async () => {
    const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = { 'content-type': 'text/plain' }) =>
      call('POST', path, body, headers);
    const ok = JSON.stringify(flagsBody());
    const cases: Array<[string, Promise<{ status: number; json?: Record<string, unknown> }>, number, RegExp]> = [
      ['v not a number', post('/flags/?v=abc', ok), 400, /v must be a version number/],
      ['v negative', post('/decide/?v=-1', ok), 400, /v must be a version number/],
      ['v repeated', post('/flags/?v=2&v=3', ok), 400, /v must be given at most once/],
      ['compression repeated', post('/flags/?v=2&compression=base64&compression=gzip-js', ok), 400, /at most once/],
      ['unknown compression', post('/flags/?v=2&compression=lz64', ok), 415, /unsupported compression "lz64"/],
      ['not JSON', post('/flags/?v=2', '{"token":'), 400, /invalid JSON body/],
      ['an array', post('/flags/?v=2', JSON.stringify([flagsBody()])), 400, /must be a JSON object/],
      ['corrupt gzip', post('/flags/?v=2', Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3])), 400, /invalid gzip body/],
      ['bad base64 percent-encoding', post('/flags/?v=2&compression=base64', '%E0%A4%A'), 400, /percent-encoding/],
      ['no distinct_id', post('/flags/?v=2', JSON.stringify({ token: ACME_KEY })), 400, /distinct_id is required/],
      ['distinct_id an object', post('/flags/?v=2', JSON.stringify(flagsBody({ distinct_id: { id: 1 } }))), 400, /distinct_id is required/],
      ['groups not an object', post('/flags/?v=2', JSON.stringify(flagsBody({ groups: 'g' }))), 400, /groups must be an object/],
      ['flag_keys not strings', post('/flags/?v=2', JSON.stringify(flagsBody({ flag_keys: [1] }))), 400, /flag_keys must be an array of strings/],
      ['no key', post('/flags/?v=2', JSON.stringify({ distinct_id: 'd' })), 401, /missing write key/],
      ['unknown key', post('/flags/?v=2', JSON.stringify(flagsBody({ token: 'wk_nope' }))), 401, /unknown write key/],
      ['key not a string', post('/decide/?v=3', JSON.stringify(flagsBody({ token: { k: 1 } }))), 401, /missing write key/],
      [
        'origin not allowed',
        call('POST', '/flags/?v=2', JSON.stringify(flagsBody({ token: SHOP_KEY })), { origin: 'https://elsewhere.example' }),
        403,
        /allowed_origins/,
      ],
    ];
    for (const [name, pending, status, message] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(status);
      expect(String(res.json?.message), name).toMatch(message);
    }
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    expect((await post('/flags/?v=2', bomb)).json).toMatchObject({ error: 'PAYLOAD_TOO_LARGE' });
  });

  it('reads prototype-named keys as plain keys, and pollutes nothing', async () => {
    const body =
      '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"token":"' +
      ACME_KEY +
      '","distinct_id":"d","person_properties":{"__proto__":{"polluted":1}}}';
    const res = await call('POST', '/flags/?v=2&__proto__=1&constructor=2', body, { 'content-type': 'text/plain' });
    expect(res).toMatchObject({ status: 200, json: { flags: {} } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('capture as posthog-js sends it', () => {
  type Row = { EventName: string; TenantId: string; SessionId: string; UserId: string; AnonymousId: string; LogAttributes: Record<string, string> };
  const stored = (prefix: string) =>
    svc.rows<Row>(
      'SELECT EventId, EventName, TenantId, SessionId, UserId, AnonymousId, LogAttributes FROM signalhouse.otel_logs WHERE startsWith(EventId, {p:String}) ORDER BY EventId',
      { p: prefix },
    );
  const event = (uuid: string, extra: Record<string, unknown> = {}) => ({
    uuid,
    event: 'wire.test',
    properties: { distinct_id: 'dev-1', $device_id: 'dev-1', $session_id: 'sess-1', token: ACME_KEY },
    ...extra,
  });
  const batch = (...events: unknown[]) => ({ api_key: ACME_KEY, batch: events, sent_at: new Date().toISOString() });

  it('stores gzip bytes sent as text/plain with no compression named (fetch and sendBeacon), and the older query forms', async () => {
    const gz = gzipText(batch(event('wire-gz-1')));
    expect((await call('POST', '/e/', gz.body, { ...gz.headers, origin: 'https://anywhere.example' })).status).toBe(200);
    const legacy = gzipText(batch(event('wire-gz-2')));
    expect((await call('POST', '/e/?ip=1&_=1700000000000&ver=1.96.0&compression=gzip-js', legacy.body, legacy.headers)).status).toBe(200);
    const beacon = base64Form(batch(event('wire-gz-3')));
    expect((await call('POST', '/e/?compression=base64', beacon.body, beacon.headers)).status).toBe(200);
    expect((await call('POST', '/i/v0/e/', gzipText(batch(event('wire-gz-4'))).body, { 'content-type': 'text/plain' })).status).toBe(200);
    const rows = await stored('wire-gz-');
    expect(rows.map((r) => [r.TenantId, r.SessionId, r.AnonymousId])).toEqual(Array(4).fill(['acme', 'sess-1', 'dev-1']));
  });

  it('refuses malformed compressed bodies and unknown compressions, storing nothing', async () => {
    const cases: Array<[string, string, string | Uint8Array, Record<string, string>, number]> = [
      ['corrupt gzip', '/e/', Buffer.from([0x1f, 0x8b, 8, 0, 9, 9, 9, 9]), { 'content-type': 'text/plain' }, 400],
      ['truncated gzip', '/e/', gzipSync(JSON.stringify(batch(event('wire-bad-1')))).subarray(0, 20), { 'content-type': 'text/plain' }, 400],
      ['gzip named, JSON sent', '/e/?compression=gzip-js', JSON.stringify(batch(event('wire-bad-2'))), { 'content-type': 'text/plain' }, 400],
      ['base64 of garbage', '/e/?compression=base64', 'data=AAAA', { 'content-type': 'application/x-www-form-urlencoded' }, 400],
      ['unknown compression', '/e/?compression=lz64', JSON.stringify(batch(event('wire-bad-3'))), { 'content-type': 'text/plain' }, 415],
      ['unknown form compression', '/e/', 'data=e30%3D&compression=brotli', { 'content-type': 'application/x-www-form-urlencoded' }, 415],
    ];
    for (const [name, path, body, headers, status] of cases) {
      const res = await call('POST', path, body, headers);
      expect(res.status, name).toBe(status);
      expect(res.json, name).toHaveProperty('message');
    }
    expect(await stored('wire-bad-')).toEqual([]);
  });

  it('maps $set / $set_once beside the properties to traits, $device_id to the anonymous id, and a pageview’s title', async () => {
    const identified = event('wire-map-1', {
      event: '$identify',
      properties: { distinct_id: 'user-9', $device_id: 'dev-9', $anon_distinct_id: 'dev-9', $session_id: 's-9', $set: { plan: 'inner' } },
      $set: { plan: 'team', PROTO: 'p' },
      $set_once: { plan: 'once', first_seen: 'monday' },
    });
    const after = event('wire-map-2', { properties: { distinct_id: 'user-9', $device_id: 'dev-9', $is_identified: true, $session_id: 's-9' } });
    const pageview = event('wire-map-3', {
      event: '$pageview',
      properties: { distinct_id: 'dev-9', $device_id: 'dev-9', title: 'Pricing', $browser_language: 'en-GB', $elements_chain: 'button:text="x"' },
    });
    const custom = event('wire-map-4', { properties: { distinct_id: 'dev-9', $device_id: 'dev-9', title: 'kept as sent' } });
    // A `__proto__` key in `$set`, as JSON text carries it (an object literal would set the prototype instead).
    const body = JSON.stringify(batch(identified, after, pageview, custom)).replace('"PROTO"', '"__proto__"');
    const res = await call('POST', '/e/', body, { 'content-type': 'text/plain' });
    expect(res).toMatchObject({ status: 200, json: { status: 1 } });
    const rows = await stored('wire-map-');
    expect(rows.map((r) => [r.EventName, r.UserId, r.AnonymousId])).toEqual([
      ['$identify', 'user-9', 'dev-9'],
      ['wire.test', 'user-9', 'dev-9'],
      ['$pageview', '', 'dev-9'],
      ['wire.test', '', 'dev-9'],
    ]);
    expect(rows[0].LogAttributes).toMatchObject({ 'traits.plan': 'team', 'traits.first_seen': 'monday', 'traits.__proto__': 'p' });
    expect(rows[2].LogAttributes).toMatchObject({ 'page.title': 'Pricing', locale: 'en-GB', $elements_chain: 'button:text="x"' });
    expect(rows[2].LogAttributes).not.toHaveProperty('title');
    expect(rows[3].LogAttributes).toMatchObject({ title: 'kept as sent' });
  });

  it('refuses an event whose $set beside the properties is not an object, and keeps the rest', async () => {
    const res = await call('POST', '/batch/', JSON.stringify(batch(event('wire-set-1', { $set: 'x' }), event('wire-set-2'))), {
      'content-type': 'application/json',
    });
    expect(res).toMatchObject({ status: 200, json: { accepted: 1, rejected: [{ index: 0, error: 'traits must be an object' }] } });
    expect((await stored('wire-set-')).length).toBe(1);
  });
});

describe('CORS on the paths posthog-js uses', () => {
  it('answers preflights on each of them, for any origin and the headers asked for', async () => {
    for (const path of ['/e/', '/i/v0/e/', '/flags/', '/decide/', `/array/${ACME_KEY}/config`, `/array/${ACME_KEY}/config.js`]) {
      const res = await fetch(`${svc.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://anywhere.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      expect(res.status, path).toBe(204);
      expect(res.headers.get('access-control-allow-origin'), path).toBe('https://anywhere.example');
      expect(res.headers.get('access-control-allow-headers'), path).toBe('content-type');
    }
  });
});
