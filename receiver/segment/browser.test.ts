/**
 * The unmodified `@segment/analytics-next` in real headless Chromium, on a page served from another origin than
 * Signalhouse, bundled by esbuild as a site's own bundler would, and given only our address:
 * `AnalyticsBrowser.load({ writeKey, cdnURL })`. It loads its settings from us, then sends page views, custom
 * events and identifies to the apiHost those settings name (one request per event, or batches with the
 * batching delivery strategy), and they land under the key's tenant with the page, the anonymous id and the
 * user id. It contacts no other host.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserSite, startBrowserSite } from '../../test/helpers/browser.ts';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
let site: BrowserSite;

beforeAll(async () => {
  const [service, bundle] = await Promise.all([
    startTestService(),
    build({
      stdin: {
        contents: "import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;",
        resolveDir: fileURLToPath(new URL('../..', import.meta.url)),
        loader: 'js',
      },
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2020',
      write: false,
      logLevel: 'silent',
    }),
  ]);
  svc = service;
  site = await startBrowserSite({
    '/analytics.js': { type: 'text/javascript', body: bundle.outputFiles[0].text },
    // Chromium asks for one; a 404 would be a console error, and the tests expect none.
    '/favicon.ico': { type: 'image/x-icon', body: '' },
    '/shop/pricing': { type: 'text/html', body: '<!doctype html><title>Pricing</title><script src="/analytics.js"></script><h1>Pricing</h1>' },
  });
}, 180_000);
afterAll(async () => {
  await site?.close();
  await svc?.close();
});

/** A fresh browser profile (its own cookies and localStorage: its own anonymous id) and what the page did. */
async function openShop(): Promise<{ context: BrowserContext; page: Page; requests: URL[]; errors: string[] }> {
  const context = await site.browser.newContext();
  const page = await context.newPage();
  const requests: URL[] = [];
  const errors: string[] = [];
  page.on('request', (r) => void requests.push(new URL(r.url())));
  page.on('requestfailed', (r) => void errors.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on('console', (m) => void (m.type() === 'error' && errors.push(`${m.location().url}: ${m.text()}`)));
  page.on('pageerror', (e) => void errors.push(e.message));
  await page.goto(`${site.origin}/shop/pricing?utm_source=newsletter`);
  return { context, page, requests, errors };
}

type Row = { EventId: string; TenantId: string; EventName: string; UserId: string; AnonymousId: string; LogAttributes: Record<string, string> };

/** The rows of one anonymous id, once `count` of them are visible or 30 s have passed (the browser sends on its own time). */
async function rowsOfVisitor(anonymousId: string, count: number): Promise<Row[]> {
  const query = () =>
    svc.rows<Row>(
      'SELECT EventId, TenantId, EventName, UserId, AnonymousId, LogAttributes FROM signalhouse.otel_logs WHERE AnonymousId = {a:String} ORDER BY Timestamp, EventId',
      { a: anonymousId },
    );
  const deadline = Date.now() + 30_000;
  let rows = await query();
  while (rows.length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    rows = await query();
  }
  return rows;
}

const ourPaths = (requests: URL[]) => requests.filter((u) => u.origin === svc.url).map((u) => u.pathname);
const otherOrigins = (requests: URL[]) => [...new Set(requests.map((u) => u.origin))].filter((o) => o !== svc.url && o !== site.origin);

describe('@segment/analytics-next, configured by host only', () => {
  it('loads its settings from us and lands page views, custom events and identifies under the key’s tenant', async () => {
    const { context, page, requests, errors } = await openShop();
    const anonymousId = await page.evaluate(
      async ({ writeKey, cdnURL }) => {
        const { AnalyticsBrowser } = window as unknown as { AnalyticsBrowser: typeof import('@segment/analytics-next').AnalyticsBrowser };
        const [analytics] = await AnalyticsBrowser.load({ writeKey, cdnURL });
        await analytics.page();
        await analytics.track('Signed Up', { plan: 'pro', seats: 3 });
        await analytics.identify('user-42', { plan: 'pro' });
        await analytics.track('Upgraded', { from: 'free' });
        return analytics.user().anonymousId() as string;
      },
      { writeKey: ACME_KEY, cdnURL: svc.url },
    );
    expect(anonymousId).toMatch(/^[0-9a-f-]{36}$/);

    const rows = await rowsOfVisitor(anonymousId, 4);
    expect(rows.map((r) => [r.TenantId, r.EventName, r.UserId, r.AnonymousId])).toEqual([
      ['acme', 'page', '', anonymousId],
      ['acme', 'Signed Up', '', anonymousId],
      ['acme', 'identify', 'user-42', anonymousId],
      ['acme', 'Upgraded', 'user-42', anonymousId],
    ]);
    expect(new Set(rows.map((r) => r.EventId)).size).toBe(4);
    const [pageView, signedUp, identify, upgraded] = rows;
    // The page as the browser saw it: the URL (cut to its path by the redact processor, its host and campaign
    // kept by enrichment), the title and the browser's user agent.
    expect(pageView.LogAttributes).toMatchObject({
      'url.full': '/shop/pricing',
      'url.path': '/shop/pricing',
      'url.domain': '127.0.0.1',
      'campaign.source': 'newsletter',
      'page.title': 'Pricing',
      'library.name': 'analytics.js',
      'user_agent.original': expect.stringContaining('Chrome/'),
    });
    // analytics.js copies the page into the page call's properties too: described once, not twice.
    expect(Object.keys(pageView.LogAttributes).filter((k) => ['url', 'path', 'title', 'search', 'referrer'].includes(k))).toEqual([]);
    expect(signedUp.LogAttributes).toMatchObject({ plan: 'pro', seats: '3', 'url.path': '/shop/pricing' });
    expect(identify.LogAttributes).toMatchObject({ 'traits.plan': 'pro' });
    expect(upgraded.LogAttributes).toMatchObject({ from: 'free' });

    // Settings first, then one request per event to the short paths; no other host (no Segment CDN, API or metrics).
    expect(ourPaths(requests)).toEqual([`/v1/projects/${ACME_KEY}/settings`, '/v1/p', '/v1/t', '/v1/i', '/v1/t']);
    expect(otherOrigins(requests)).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it('sends batches to /v1/b with the batching delivery strategy', async () => {
    const { context, page, requests, errors } = await openShop();
    const anonymousId = await page.evaluate(
      async ({ writeKey, cdnURL }) => {
        const { AnalyticsBrowser } = window as unknown as { AnalyticsBrowser: typeof import('@segment/analytics-next').AnalyticsBrowser };
        const [analytics] = await AnalyticsBrowser.load(
          { writeKey, cdnURL },
          { integrations: { 'Segment.io': { deliveryStrategy: { strategy: 'batching', config: { size: 4, timeout: 60_000 } } } } },
        );
        await analytics.page();
        await analytics.track('Added To Cart', { sku: 'sku-1' });
        await analytics.identify('user-77');
        await analytics.track('Checked Out');
        return analytics.user().anonymousId() as string;
      },
      { writeKey: GLOBEX_KEY, cdnURL: svc.url },
    );
    const rows = await rowsOfVisitor(anonymousId, 4);
    expect(rows.map((r) => [r.TenantId, r.EventName, r.UserId])).toEqual([
      ['globex', 'page', ''],
      ['globex', 'Added To Cart', ''],
      ['globex', 'identify', 'user-77'],
      ['globex', 'Checked Out', 'user-77'],
    ]);
    expect(rows[0].LogAttributes).toMatchObject({ 'url.path': '/shop/pricing', 'page.title': 'Pricing' });
    // Four events, one batch: the size reached, long before its timeout.
    expect(ourPaths(requests)).toEqual([`/v1/projects/${GLOBEX_KEY}/settings`, '/v1/b']);
    expect(otherOrigins(requests)).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);
});
