/**
 * A small, known web analytics data set sent through the Segment API (`POST /v1/batch`, as a site's tracker
 * would): visitors with their browsers, addresses (countries by the bundled DB-IP database) and sites; page views
 * with referrers and UTM campaigns; identify calls linking anonymous visitors to users, with traits; and a
 * signup → purchase funnel. What each report must answer is counted here from the same definitions, without the
 * query layer: events per value, and people per value (a visitor's user id when identified, else the anonymous id).
 * Another tenant (globex) gets data whose values would show if tenants mixed.
 */
// node:assert rather than vitest's expect: `npm run ui:screenshots` loads this data outside the test runner.
import assert from 'node:assert/strict';
import { BASE, HOUR } from './catalog-data.ts';
import { ACME_KEY, GLOBEX_KEY, type TestService } from './service.ts';

const UA = {
  chromeWindows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  firefoxLinux: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  safariIphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  safariMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
};
/** Addresses and the countries DB-IP Lite gives them. */
const IP = { us: '8.8.8.8', gb: '81.2.69.160', jp: '133.242.0.3', br: '200.160.2.3' };

export interface Visitor {
  anon: string;
  /** Set when the visitor identifies (after their first page view). */
  user?: string;
  traits?: Record<string, string>;
  ua: keyof typeof UA;
  ip: keyof typeof IP;
  site: string;
}

export const VISITORS: readonly Visitor[] = [
  { anon: 'anon-1', user: 'user-1', traits: { plan: 'pro', name: 'Ada' }, ua: 'chromeWindows', ip: 'us', site: 'shop' },
  { anon: 'anon-2', ua: 'firefoxLinux', ip: 'gb', site: 'shop' },
  { anon: 'anon-3', user: 'user-3', traits: { plan: 'free' }, ua: 'safariIphone', ip: 'jp', site: 'shop' },
  { anon: 'anon-4', ua: 'safariMac', ip: 'br', site: 'docs' },
  { anon: 'anon-5', user: 'user-5', traits: { plan: 'pro' }, ua: 'chromeWindows', ip: 'gb', site: 'shop' },
  { anon: 'anon-6', ua: 'chromeWindows', ip: 'us', site: 'docs' },
];

export interface PageView {
  visitor: number;
  path: string;
  referrer?: string;
  campaign?: { source: string; medium: string; name: string };
  hour: number;
}

const spring = { source: 'newsletter', medium: 'email', name: 'spring-sale' };
const launch = { source: 'twitter', medium: 'social', name: 'launch' };
export const PAGE_VIEWS: readonly PageView[] = [
  { visitor: 0, path: '/', referrer: 'https://www.google.com/search?q=signalhouse', hour: 0 },
  { visitor: 0, path: '/pricing', hour: 0 },
  { visitor: 0, path: '/pricing', hour: 1 },
  { visitor: 1, path: '/', referrer: 'https://news.ycombinator.com/item?id=1', hour: 0 },
  { visitor: 1, path: '/docs', hour: 1 },
  { visitor: 2, path: '/', campaign: spring, hour: 1 },
  { visitor: 2, path: '/pricing', campaign: spring, hour: 1 },
  { visitor: 3, path: '/docs', referrer: 'https://www.google.com/', hour: 2 },
  { visitor: 3, path: '/docs/api', hour: 2 },
  { visitor: 4, path: '/', campaign: launch, referrer: 'https://t.co/abc', hour: 2 },
  { visitor: 4, path: '/pricing', hour: 2 },
  { visitor: 5, path: '/', referrer: 'https://www.google.com/search?q=x', hour: 3 },
];

/** The funnel: signup then purchase, as track calls; visitors 0, 2 and 4 sign up, 0 and 4 buy. */
export const SIGNUPS = [0, 2, 4];
export const PURCHASES = [0, 4];
export const PAGE_VIEW_EVENT = 'page';

export const person = (v: Visitor) => v.user ?? v.anon;

/** Events and people per value of `key` over the page views (what a breakdown of page views must give). */
export function expectedPageBreakdown(key: (p: PageView) => string | undefined): Map<string, { events: number; people: number }> {
  const out = new Map<string, { events: number; people: Set<string> }>();
  for (const p of PAGE_VIEWS) {
    const value = key(p);
    if (value === undefined) continue;
    const row = out.get(value) ?? { events: 0, people: new Set<string>() };
    row.events++;
    row.people.add(person(VISITORS[p.visitor]));
    out.set(value, row);
  }
  return new Map([...out].map(([k, r]) => [k, { events: r.events, people: r.people.size }]));
}

const minute = (i: number) => ((i * 7) % 50) * 60_000 + 60_000;
const at = (hour: number, i: number) => new Date(BASE + hour * HOUR + minute(i)).toISOString();
let seq = 0;

function pageMessage(p: PageView, i: number) {
  const v = VISITORS[p.visitor];
  const query = p.campaign ? `?utm_source=${p.campaign.source}&utm_medium=${p.campaign.medium}&utm_campaign=${p.campaign.name}` : '';
  return {
    type: 'page',
    messageId: `web-${++seq}`,
    anonymousId: v.anon,
    // After identifying, later events carry the user id too (as analytics.js does).
    userId: v.user && i > PAGE_VIEWS.findIndex((q) => q.visitor === p.visitor) ? v.user : undefined,
    timestamp: at(p.hour, i),
    properties: { 'site.id': v.site },
    context: { page: { url: `https://${v.site}.example${p.path}${query}`, path: p.path, referrer: p.referrer }, userAgent: UA[v.ua], ip: IP[v.ip] },
  };
}

async function segmentBatch(svc: TestService, key: string, batch: unknown[]): Promise<void> {
  const res = await fetch(`${svc.url}/v1/batch`, {
    method: 'POST',
    body: JSON.stringify({ batch }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await res.json(), { success: true });
}

/** Sends the data set (and globex's) and waits until queries see all of it. */
export async function loadWebData(svc: TestService): Promise<void> {
  const messages: unknown[] = PAGE_VIEWS.map(pageMessage);
  VISITORS.forEach((v, i) => {
    if (!v.user) return;
    // Identified right after the first page view.
    const first = PAGE_VIEWS.findIndex((p) => p.visitor === i);
    messages.push({
      type: 'identify',
      messageId: `web-id-${i}`,
      anonymousId: v.anon,
      userId: v.user,
      traits: v.traits,
      timestamp: new Date(Date.parse(at(PAGE_VIEWS[first].hour, first)) + 1000).toISOString(),
      properties: {},
    });
  });
  SIGNUPS.forEach((visitor, i) => {
    messages.push({
      type: 'track',
      event: 'signup',
      messageId: `web-signup-${i}`,
      anonymousId: VISITORS[visitor].anon,
      timestamp: at(2, 40 + i),
      properties: { 'site.id': VISITORS[visitor].site, plan: VISITORS[visitor].traits?.plan ?? 'none' },
    });
  });
  PURCHASES.forEach((visitor, i) => {
    messages.push({
      type: 'track',
      event: 'purchase',
      messageId: `web-purchase-${i}`,
      userId: VISITORS[visitor].user,
      timestamp: at(3, 44 + i),
      properties: { 'site.id': VISITORS[visitor].site, value: 42 },
    });
  });
  await segmentBatch(svc, ACME_KEY, messages);
  // Another tenant: pages, a campaign and a country acme has none of.
  await segmentBatch(
    svc,
    GLOBEX_KEY,
    Array.from({ length: 5 }, (_, i) => ({
      type: 'page',
      messageId: `globex-${i}`,
      anonymousId: `globex-anon-${i}`,
      timestamp: at(1, i),
      context: { page: { url: 'https://globex.example/globex-only?utm_campaign=globex-secret', path: '/globex-only' }, userAgent: UA.firefoxLinux, ip: IP.jp },
    })),
  );
  await svc.settle();
}
