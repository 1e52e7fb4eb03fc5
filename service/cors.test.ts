/**
 * CORS from a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core) loads a page from
 * another origin than the server and sends from it, as a customer's site does. Ingest paths answer any origin
 * (preflights included), a tenant with `allowed_origins` refuses other pages with a readable 403, and the query
 * API answers no CORS unless its origin is configured. Preflight headers are checked over plain HTTP too.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserSite, startBrowserSite } from '../test/helpers/browser.ts';
import { ACME_KEY, startTestService, TENANTS, type TestService } from '../test/helpers/service.ts';

const SHOP_KEY = 'wk_shop_restricted';
const DASHBOARD = 'https://dashboard.example';

let svc: TestService;
let site: BrowserSite;
let page: Page;

beforeAll(async () => {
  svc = await startTestService({
    service: { http: { host: '127.0.0.1', port: 0, query_allowed_origins: [DASHBOARD] } },
    tenants: [...TENANTS, { id: 'shop', write_keys: [SHOP_KEY], allowed_origins: ['https://shop.example'] }],
  });
  site = await startBrowserSite();
  page = await site.browser.newPage();
  await page.goto(site.origin);
}, 120_000);
afterAll(async () => {
  await site?.close();
  await svc?.close();
});

/** Runs `fetch` in the page; resolves with the reply, or `{ error }` when the browser blocked it (CORS). */
function fetchFromPage(url: string, init: { method: string; headers?: Record<string, string>; body?: string }) {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const res = await fetch(url, init);
        return { status: res.status, body: await res.text(), retryAfterReadable: res.headers.has('retry-after') };
      } catch (err) {
        return { error: String(err) };
      }
    },
    { url, init },
  );
}

const logsBody = (id: string, eventName: string) =>
  JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ eventName, attributes: [{ key: 'log.record.uid', value: { stringValue: id } }] }] }] }] });
const stored = async (eventName: string) =>
  Number((await svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {e:String}', { e: eventName }))[0].n);

describe('from a page on another origin', () => {
  it('sends OTLP/JSON with a bearer key (a preflighted request) and reads the reply', async () => {
    const res = await fetchFromPage(`${svc.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
      body: logsBody('cors-1', 'cors.otlp'),
    });
    expect(res).toMatchObject({ status: 200, body: '{}' });
    expect(await stored('cors.otlp')).toBe(1);
  });

  it('sends a Segment batch as text/plain with the write key in the body (no preflight)', async () => {
    const body = JSON.stringify({ writeKey: ACME_KEY, batch: [{ type: 'track', event: 'cors.segment', messageId: 'cors-seg-1', anonymousId: 'a-1' }] });
    const res = await fetchFromPage(`${svc.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    expect(res).toMatchObject({ status: 200 });
    expect(await stored('cors.segment')).toBe(1);
  });

  it("is refused with a readable 403 by a tenant whose allowed origins do not include the page's", async () => {
    const res = await fetchFromPage(`${svc.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${SHOP_KEY}` },
      body: logsBody('cors-2', 'cors.refused'),
    });
    expect(res).toMatchObject({ status: 403 });
    expect('body' in res && res.body).toContain('allowed_origins');
    expect(await stored('cors.refused')).toBe(0);
  });

  it('cannot read the query API: its origin is not configured for it', async () => {
    const res = await fetchFromPage(`${svc.url}/api/v1/analytics/metrics`, { method: 'GET', headers: { authorization: 'Bearer rt_acme_test_token' } });
    expect(res).toEqual({ error: expect.stringContaining('Failed to fetch') });
  });
});

describe('preflights', () => {
  const preflight = (path: string, origin: string) =>
    fetch(`${svc.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,content-encoding' },
    });

  it('on ingest paths allow any origin, the headers asked for, for a day, exposing Retry-After, X-Request-Id and X-RateLimit-*', async () => {
    for (const path of ['/v1/logs', '/v1/traces', '/v1/batch', '/capture', '/api/v1/analytics/events']) {
      const res = await preflight(path, 'https://anywhere.example');
      expect(res.status, path).toBe(204);
      expect(res.headers.get('access-control-allow-origin'), path).toBe('https://anywhere.example');
      expect(res.headers.get('access-control-allow-headers'), path).toBe('authorization,content-type,content-encoding');
      expect(res.headers.get('access-control-max-age'), path).toBe('86400');
    }
    const post = await fetch(`${svc.url}/v1/logs`, {
      method: 'POST',
      body: logsBody('cors-3', 'cors.plain'),
      headers: { origin: 'https://anywhere.example', 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
    });
    expect(post.headers.get('access-control-expose-headers')).toBe('retry-after, x-request-id, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset');
  });

  it('on the query API allow only the configured origins, and operational paths none', async () => {
    expect((await preflight('/api/v1/analytics/reports/summary', DASHBOARD)).headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect((await preflight('/api/v1/analytics/reports/summary', 'https://anywhere.example')).headers.get('access-control-allow-origin')).toBeNull();
    expect((await fetch(`${svc.url}/metrics`, { headers: { origin: DASHBOARD } })).headers.get('access-control-allow-origin')).toBeNull();
  });
});
