/**
 * The dashboard in real Chromium, served by a real service holding the catalog's and the web analytics data sets
 * (sent through the envelope, Segment and OTLP APIs): sign-in (a wrong token refused, Enter signs in, the token in
 * sessionStorage only), the SLA overview and the metric explorer showing the report API's numbers for the range and
 * site on screen, a custom range, empty states, and another tenant's numbers never showing.
 */
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH } from '../../test/helpers/browser.ts';
import { FROM, loadCatalogData, TO } from '../../test/helpers/catalog-data.ts';
import { api, textOf, type DashboardPage, openDashboard, scopeOf, settled, signIn, numberOf } from '../../test/helpers/dashboard.ts';
import { startTestService, type TestService } from '../../test/helpers/service.ts';
import { loadWebData } from '../../test/helpers/web-data.ts';

let svc: TestService;
let browser: Browser;
const pages: DashboardPage[] = [];
/** A bounded wait for what the page shows (the page loads its data asynchronously); never a timing assertion. */
const eventually = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000 });

beforeAll(async () => {
  svc = await startTestService();
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
  await loadCatalogData(svc);
  await loadWebData(svc);
});
afterAll(async () => {
  await browser?.close();
  await svc?.close();
});

async function signedIn(token = 'rt_acme_test_token', hash = ''): Promise<DashboardPage> {
  const d = await openDashboard(browser, svc.url);
  pages.push(d);
  await signIn(d.page, token);
  await d.page.getByTestId('sign-out').waitFor();
  if (hash) await d.page.goto(`${svc.url}/${hash}`);
  return d;
}

/** The overview's values by metric, once every card has its value. */
async function overviewValues(d: DashboardPage): Promise<Record<string, number | null>> {
  await settled(d.page);
  await d.page.getByTestId('metric-value').first().waitFor();
  const cards = await d.page.getByTestId('metric').all();
  const out: Record<string, number | null> = {};
  for (const card of cards) out[(await card.getAttribute('data-metric'))!] = numberOf(await card.getByTestId('metric-value').getAttribute('data-value'));
  return out;
}

describe('sign-in', () => {
  it('refuses a wrong token with a clear message, then signs in with Enter and keeps the token out of URLs', async () => {
    const d = await openDashboard(browser, svc.url);
    pages.push(d);
    const { page } = d;
    await signIn(page, 'rt_not_a_token');
    await eventually(() => textOf(page.getByTestId('signin-error'))).toMatch(/refused: unknown read token/);
    await signIn(page, 'wk_acme_test_key');
    await eventually(() => textOf(page.getByTestId('signin-error'))).toMatch(/write keys cannot read/);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    // The token field has the focus on load: a user types and presses Enter.
    await page.reload();
    await page.keyboard.type('rt_acme_test_token');
    await page.keyboard.press('Enter');
    await page.getByTestId('sign-out').waitFor();
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual(['rt_acme_test_token']);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    await page.getByTestId('metric-value').first().waitFor();
    expect(page.url()).not.toContain('rt_acme');
    expect(d.requested.filter((u) => u.includes('rt_acme'))).toEqual([]);

    // Still signed in after a reload (same tab), signed out on request.
    await page.reload();
    await page.getByTestId('sign-out').click();
    await page.getByLabel('Read token').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });
});

describe('SLA overview', () => {
  it('shows every catalog metric in its group with the summary API value for the range on screen', async () => {
    const d = await signedIn();
    const shown = await overviewValues(d);
    const range = await scopeOf(d.page);
    expect(range.site).toBe('');
    const { metrics } = await api<{ metrics: Record<string, number | null> }>(svc.url, '/api/v1/analytics/reports/summary', { from: range.from, to: range.to });
    expect(shown).toEqual(metrics);
    // The data set gives every metric a value.
    expect(Object.values(shown).filter((v) => v === null)).toEqual([]);
    const catalog = await (await fetch(`${svc.url}/api/v1/analytics/metrics`, { headers: { authorization: 'Bearer rt_acme_test_token' } })).json();
    for (const group of catalog.groups as Array<{ id: string }>) {
      const cards = await d.page
        .locator(`[data-testid=group][data-group="${group.id}"] [data-testid=metric]`)
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-metric')));
      expect(cards, group.id).toEqual(catalog.metrics.filter((m: { group: string }) => m.group === group.id).map((m: { name: string }) => m.name));
    }
    // No alerting on this server (GET /api/v1/alerts answers 404): no SLO lines, and no error either.
    expect(await d.page.getByTestId('slo').count()).toBe(0);
    expect(await d.page.getByTestId('error').count()).toBe(0);
  });

  it('follows a custom range and a site, and says what to send when a range has no data', async () => {
    const d = await signedIn();
    const { page } = d;
    await page.getByTestId('range').selectOption('custom');
    await page.getByLabel('From (UTC)').fill(FROM.slice(0, 16));
    await page.getByLabel('To (UTC)').fill(TO.slice(0, 16));
    await page.getByLabel('To (UTC)').press('Enter');
    await eventually(async () => (await scopeOf(page)).from).toBe(Date.parse(FROM));
    await page.getByTestId('site').selectOption('site-a');
    await eventually(async () => (await scopeOf(page)).site).toBe('site-a');
    const shown = await overviewValues(d);
    const { metrics } = await api<{ metrics: Record<string, number | null> }>(svc.url, '/api/v1/analytics/reports/summary', {
      from: FROM,
      to: TO,
      site_id: 'site-a',
    });
    expect(shown).toEqual(metrics);
    // Only voice.first_response events carry a site in the data set.
    expect(shown['voice.first_response_ms.p50']).not.toBeNull();
    expect(shown['kb.hit_rate']).toBeNull();
    await eventually(() => textOf(page.locator('[data-metric="kb.hit_rate"] [data-testid=metric-empty]'))).toMatch(/send kb\.search events or spans/);

    await page.getByLabel('From (UTC)').fill('2001-01-01T00:00');
    await page.getByLabel('To (UTC)').fill('2001-01-02T00:00');
    await page.getByRole('button', { name: 'Apply' }).click();
    await eventually(() => textOf(page.getByTestId('empty'))).toMatch(/No SLA data in this range\. Send the catalog's events/);
  });
});

describe('metric explorer', () => {
  it('shows the timeseries API points for the metric, grain and range, and the previous period when comparing', async () => {
    const d = await signedIn('rt_acme_test_token', '#/explorer?metric=voice.first_response_ms.p95&grain=1h&compare=1');
    const { page } = d;
    await page.getByTestId('range-value').waitFor();
    const range = await scopeOf(page);
    const body = { metric: 'voice.first_response_ms.p95', grain: '1h', from: range.from, to: range.to };
    const series = await api<{ points: Array<{ t: string; value: number | null }> }>(svc.url, '/api/v1/analytics/reports/timeseries', body);
    const length = range.to - range.from;
    const before = await api<{ points: Array<{ value: number | null }> }>(svc.url, '/api/v1/analytics/reports/timeseries', {
      ...body,
      from: range.from - length,
      to: range.to - length,
    });
    const rows = await page
      .getByTestId('point')
      .evaluateAll((els) => els.map((e) => [e.getAttribute('data-t'), e.getAttribute('data-value'), e.getAttribute('data-previous')]));
    expect(rows.map(([t, v, p]) => ({ t, value: numberOf(v), previous: numberOf(p) }))).toEqual(
      series.points.map((pt, i) => ({ t: pt.t, value: pt.value, previous: before.points[i]?.value ?? null })),
    );
    expect(series.points.filter((p) => p.value !== null).length).toBeGreaterThan(0);
    const summary = await api<{ metrics: Record<string, number> }>(svc.url, '/api/v1/analytics/reports/summary', {
      from: range.from,
      to: range.to,
      metrics: ['voice.first_response_ms.p95'],
    });
    expect(numberOf(await page.getByTestId('range-value').getAttribute('data-value'))).toBe(summary.metrics['voice.first_response_ms.p95']);
    expect(await page.locator('.chart canvas').count()).toBe(1);

    // Another metric and grain from the pickers, without comparing.
    await page.getByTestId('metric-select').selectOption('ai.tool_calls.count');
    await page.getByTestId('grain').selectOption('5m');
    await page.getByTestId('compare').uncheck();
    await eventually(() => page.url()).toMatch(/metric=ai\.tool_calls\.count&grain=5m$/);
    const counts = await api<{ points: Array<{ t: string; value: number | null }> }>(svc.url, '/api/v1/analytics/reports/timeseries', {
      metric: 'ai.tool_calls.count',
      grain: '5m',
      from: range.from,
      to: range.to,
    });
    expect(counts.points.some((p) => p.value === 40)).toBe(false); // spread over buckets, not one
    await eventually(() => page.getByTestId('point').evaluateAll((els) => els.map((e) => [e.getAttribute('data-t'), e.getAttribute('data-value')]))).toEqual(
      counts.points.map((p) => [p.t, p.value === null ? '' : String(p.value)]),
    );
    expect(await page.getByTestId('previous-value').count()).toBe(0);
  });
});

describe('tenants', () => {
  it("shows another tenant only its own numbers, and acme's pages none of globex's", async () => {
    const globex = await signedIn('rt_globex_test_token');
    const shown = await overviewValues(globex);
    // globex sent 50 first responses of 99,999 ms and nothing else.
    expect(shown['voice.first_response_ms.p50']).toBe(99_999);
    expect(shown['ai.tool_calls.count']).toBe(0);
    await globex.page.goto(`${svc.url}/#/product`);
    await globex.page.getByTestId('breakdown-row').first().waitFor();
    const globexPages = await globex.page
      .locator('[data-field="url.path"] [data-testid=breakdown-row]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-value')));
    expect(globexPages).toEqual(['/globex-only']);

    const acme = await signedIn('rt_acme_test_token', '#/product');
    await acme.page.getByTestId('breakdown-row').first().waitFor();
    const values = await acme.page.getByTestId('breakdown-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-value')));
    expect(values).toContain('/pricing');
    expect(values).not.toContain('/globex-only');
    expect(values).not.toContain('globex-secret');
  });

  it('ran every page above without a script error or a Content-Security-Policy violation', () => {
    expect(pages.length).toBeGreaterThan(4);
    expect(pages.flatMap((p) => p.problems)).toEqual([]);
  });
});
