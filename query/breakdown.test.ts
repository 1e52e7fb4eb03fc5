/**
 * Breakdowns against a known web data set sent through the Segment API: top pages, referrers, campaigns,
 * countries, browsers, OS and devices (the enrich processor's attributes), event names and site ids, each with
 * events and stitched people, as counted independently from the data set; site and event filters, limits,
 * other tenants, and hostile fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FROM, postReport, TO } from '../test/helpers/catalog-data.ts';
import { startTestService, type TestService } from '../test/helpers/service.ts';
import { expectedPageBreakdown, loadWebData, PAGE_VIEW_EVENT, PAGE_VIEWS, PURCHASES, SIGNUPS, VISITORS } from '../test/helpers/web-data.ts';

let svc: TestService;
const breakdown = (body: Record<string, unknown>, token?: string) => postReport(svc.url, 'breakdown', { from: FROM, to: TO, ...body }, token);

beforeAll(async () => {
  svc = await startTestService();
  await loadWebData(svc);
});
afterAll(async () => {
  await svc?.close();
});

type Row = { value: string; events: number; people: number };
const asMap = (rows: Row[]) => new Map(rows.map((r) => [r.value, { events: r.events, people: r.people }]));
const rowsOf = (body: { breakdowns: Array<{ field: string; rows: Row[] }> }, field: string) => body.breakdowns.find((b) => b.field === field)!.rows;

describe('breakdown', () => {
  it('counts page views per page, referrer and campaign, with stitched people', async () => {
    const { status, body } = await breakdown({
      fields: ['url.path', 'referrer.domain', 'campaign.name', 'campaign.source'],
      event_names: [PAGE_VIEW_EVENT],
      limit: 100,
    });
    expect(status).toBe(200);
    expect(body.total).toEqual({ events: PAGE_VIEWS.length, people: VISITORS.length });
    expect(body.breakdowns.map((b: { field: string }) => b.field)).toEqual(['url.path', 'referrer.domain', 'campaign.name', 'campaign.source']);
    expect(asMap(rowsOf(body, 'url.path'))).toEqual(expectedPageBreakdown((p) => p.path));
    expect(asMap(rowsOf(body, 'referrer.domain'))).toEqual(expectedPageBreakdown((p) => (p.referrer ? new URL(p.referrer).hostname : undefined)));
    expect(asMap(rowsOf(body, 'campaign.name'))).toEqual(expectedPageBreakdown((p) => p.campaign?.name));
    expect(asMap(rowsOf(body, 'campaign.source'))).toEqual(expectedPageBreakdown((p) => p.campaign?.source));
    // Most events first, ties by value.
    const pages = rowsOf(body, 'url.path');
    expect(pages.map((r: Row) => r.value)).toEqual(['/', '/pricing', '/docs', '/docs/api']);
  });

  it('breaks every event down by country, browser, OS, device, event name and site', async () => {
    const { body } = await breakdown({
      fields: ['geo.country.iso_code', 'user_agent.name', 'user_agent.os.name', 'user_agent.device.type', 'event_name', 'site_id'],
    });
    const views = (pick: (v: (typeof VISITORS)[number]) => string) => expectedPageBreakdown((p) => pick(VISITORS[p.visitor]));
    expect(asMap(rowsOf(body, 'geo.country.iso_code'))).toEqual(views((v) => ({ us: 'US', gb: 'GB', jp: 'JP', br: 'BR' })[v.ip]));
    expect(asMap(rowsOf(body, 'user_agent.name'))).toEqual(
      views((v) => ({ chromeWindows: 'Chrome', firefoxLinux: 'Firefox', safariIphone: 'Safari', safariMac: 'Safari' })[v.ua]),
    );
    expect(asMap(rowsOf(body, 'user_agent.os.name'))).toEqual(
      views((v) => ({ chromeWindows: 'Windows', firefoxLinux: 'Linux', safariIphone: 'iOS', safariMac: 'macOS' })[v.ua]),
    );
    expect(rowsOf(body, 'user_agent.device.type')).toEqual([
      { value: 'desktop', events: PAGE_VIEWS.filter((p) => VISITORS[p.visitor].ua !== 'safariIphone').length, people: 5 },
      { value: 'mobile', events: 2, people: 1 },
    ]);
    const identified = VISITORS.filter((v) => v.user).length;
    expect(asMap(rowsOf(body, 'event_name'))).toEqual(
      new Map([
        ['page', { events: PAGE_VIEWS.length, people: VISITORS.length }],
        ['identify', { events: identified, people: identified }],
        ['signup', { events: SIGNUPS.length, people: SIGNUPS.length }],
        ['purchase', { events: PURCHASES.length, people: PURCHASES.length }],
      ]),
    );
    expect(rowsOf(body, 'site_id').map((r: Row) => r.value)).toEqual(['shop', 'docs']);
    expect(body.total.events).toBe(PAGE_VIEWS.length + identified + SIGNUPS.length + PURCHASES.length);
  });

  it('filters by site, keeps the top values per field, and answers empty tables for an empty range', async () => {
    const site = await breakdown({ fields: ['url.path'], event_names: [PAGE_VIEW_EVENT], site_id: 'docs' });
    const docsViews = PAGE_VIEWS.filter((p) => VISITORS[p.visitor].site === 'docs');
    expect(site.body.total).toEqual({ events: docsViews.length, people: 2 });
    expect(rowsOf(site.body, 'url.path').map((r: Row) => r.value)).toEqual(['/', '/docs', '/docs/api']);
    const top = await breakdown({ fields: ['url.path', 'user_agent.name'], event_names: [PAGE_VIEW_EVENT], limit: 1 });
    expect(rowsOf(top.body, 'url.path')).toEqual([{ value: '/', events: 5, people: 5 }]);
    expect(rowsOf(top.body, 'user_agent.name')).toHaveLength(1);
    const empty = await breakdown({ fields: ['url.path'], from: '2001-01-01', to: '2001-01-02' });
    expect(empty.body).toEqual({ total: { events: 0, people: 0 }, breakdowns: [{ field: 'url.path', rows: [] }] });
  });

  it("never shows another tenant's values", async () => {
    const acme = await breakdown({ fields: ['url.path', 'campaign.name'], limit: 100 });
    const values = acme.body.breakdowns.flatMap((b: { rows: Row[] }) => b.rows.map((r) => r.value));
    expect(values).not.toContain('/globex-only');
    expect(values).not.toContain('globex-secret');
    const globex = await breakdown({ fields: ['url.path'] }, 'rt_globex_test_token');
    expect(globex.body).toEqual({
      total: { events: 5, people: 5 },
      breakdowns: [{ field: 'url.path', rows: [{ value: '/globex-only', events: 5, people: 5 }] }],
    });
  });

  it('refuses bad requests with every problem by its path, and binds hostile names as data', async () => {
    expect((await breakdown({ fields: ['url.path'] }, 'wk_acme_test_key')).status).toBe(403);
    const bad = await breakdown({ fields: [], limit: 1000, event_names: [], extra: 1, to: FROM });
    expect(bad.status).toBe(400);
    for (const path of ['fields', 'limit', 'event_names', '(body)', 'to']) expect(bad.body.message).toContain(`${path}:`);
    const hostile = await breakdown({ fields: ["x'] OR 1=1 --", '__proto__', 'constructor'], event_names: ["page') OR ('1'='1"] });
    expect(hostile).toEqual({
      status: 200,
      body: {
        total: { events: 0, people: 0 },
        breakdowns: [
          { field: "x'] OR 1=1 --", rows: [] },
          { field: '__proto__', rows: [] },
          { field: 'constructor', rows: [] },
        ],
      },
    });
  });
});
