/**
 * The dashboard's product screens in real Chromium against the web analytics data set (sent through the Segment
 * API): the funnel builder asks for and shows the funnel API's funnel (steps, conversion, drop-off, median time,
 * breakdown); product analytics shows the breakdown API's totals and tables; people shows the people API's
 * person for a user id and for an anonymous id, and says what to send for an unknown one.
 */
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH } from '../../test/helpers/browser.ts';
import { api, textOf, type DashboardPage, openDashboard, scopeOf, settled, signIn, numberOf } from '../../test/helpers/dashboard.ts';
import { startTestService, type TestService } from '../../test/helpers/service.ts';
import { loadWebData, PAGE_VIEWS } from '../../test/helpers/web-data.ts';

let svc: TestService;
let browser: Browser;
const pages: DashboardPage[] = [];
const eventually = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000 });

beforeAll(async () => {
  svc = await startTestService();
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
  await loadWebData(svc);
});
afterAll(async () => {
  await browser?.close();
  await svc?.close();
});

async function screen(hash: string): Promise<Page> {
  const d = await openDashboard(browser, svc.url);
  pages.push(d);
  await signIn(d.page, 'rt_acme_test_token');
  await d.page.getByTestId('sign-out').waitFor();
  await d.page.goto(`${svc.url}/${hash}`);
  return d.page;
}

const rowsOf = (page: Page, selector: string, attributes: string[]) =>
  page.locator(selector).evaluateAll((els, attrs) => els.map((e) => Object.fromEntries(attrs.map((a) => [a, e.getAttribute(`data-${a}`)]))), attributes);

describe('funnels', () => {
  it('builds the funnel the funnel API gives: steps, conversion, median time to convert, breakdown', async () => {
    const page = await screen('#/funnels');
    await eventually(() => textOf(page.getByTestId('empty'))).toMatch(/Pick the steps/);
    const inputs = page.getByTestId('funnel-step-input');
    await inputs.nth(0).fill('page');
    await inputs.nth(1).fill('signup');
    await page.getByTestId('add-step').click();
    await inputs.nth(2).fill('purchase');
    await page.getByLabel('Window', { exact: true }).fill('3');
    await page.getByLabel('Window unit').selectOption('hours');
    await page.getByLabel('Mode').selectOption('strict');
    await page.getByLabel(/Break down by/).fill('site.id');
    await page.getByLabel(/Break down by/).press('Enter');
    await page.getByTestId('funnel-result').waitFor();
    await settled(page);
    const range = await scopeOf(page);
    const funnel = await api<{
      steps: Array<{ name: string; count: number; conversion_rate: number | null; median_time_to_convert_s: number | null }>;
      breakdown: Array<{ value: string; steps: Array<{ count: number }> }>;
    }>(svc.url, '/api/v1/analytics/reports/funnel', {
      steps: ['page', 'signup', 'purchase'],
      window: 3 * 3600,
      mode: 'strict',
      breakdown: 'site.id',
      from: range.from,
      to: range.to,
    });
    // People by user id, anonymous visits stitched: 6 visitors view pages, 3 sign up, 2 buy (within 3 hours).
    expect(funnel.steps.map((s) => s.count)).toEqual([6, 3, 2]);
    const tables = await page.getByTestId('funnel-table').all();
    expect(tables).toHaveLength(1 + funnel.breakdown.length);
    const shown = await Promise.all(
      tables.map((t) =>
        t
          .getByTestId('funnel-step')
          .evaluateAll((els) =>
            els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-count'), e.getAttribute('data-conversion'), e.getAttribute('data-median')]),
          ),
      ),
    );
    const asShown = (steps: typeof funnel.steps) =>
      steps.map((s) => [
        s.name,
        String(s.count),
        s.conversion_rate === null ? '' : String(s.conversion_rate),
        s.median_time_to_convert_s === null ? '' : String(s.median_time_to_convert_s),
      ]);
    expect(shown).toEqual([asShown(funnel.steps), ...funnel.breakdown.map((b) => asShown(b.steps as typeof funnel.steps))]);
    expect(await page.locator('[data-testid=funnel-table] caption').allTextContents()).toEqual(funnel.breakdown.map((b) => `site.id = ${b.value}`));
    // Drop-off from the step before, as written.
    expect(await textOf(page.locator('[data-testid=funnel-table]').first().locator('tbody tr:nth-child(2) td:nth-of-type(3)'))).toBe('3 (50%)');
  });

  it('refuses an empty step in the form, and says what to send when nobody did the first step', async () => {
    const page = await screen('#/funnels');
    await page.getByTestId('funnel-step-input').nth(0).fill('page');
    await page.getByTestId('run-funnel').click();
    await eventually(() => textOf(page.getByRole('alert'))).toBe('Every step needs an event name.');
    await page.getByTestId('funnel-step-input').nth(0).fill('never.sent');
    await page.getByTestId('funnel-step-input').nth(1).fill('page');
    await page.getByTestId('run-funnel').click();
    await eventually(() => textOf(page.getByTestId('empty'))).toMatch(/Nobody did never\.sent in this range: send that event/);
  });
});

describe('product analytics', () => {
  it('shows the breakdown API totals and tables for the range and site on screen', async () => {
    const page = await screen('#/product');
    for (const site of ['', 'shop']) {
      if (site) await page.getByTestId('site').selectOption(site);
      await eventually(async () => (await scopeOf(page)).site).toBe(site);
      await settled(page);
      const range = await scopeOf(page);
      const body = { from: range.from, to: range.to, ...(site ? { site_id: site } : {}), limit: 10 };
      type Result = {
        total: { events: number; people: number };
        breakdowns: Array<{ field: string; rows: Array<{ value: string; events: number; people: number }> }>;
      };
      const events = await api<Result>(svc.url, '/api/v1/analytics/reports/breakdown', {
        ...body,
        fields: ['event_name', 'geo.country.iso_code', 'user_agent.name', 'user_agent.os.name', 'user_agent.device.type'],
      });
      const views = await api<Result>(svc.url, '/api/v1/analytics/reports/breakdown', {
        ...body,
        fields: ['url.path', 'referrer.domain', 'campaign.name', 'campaign.source', 'campaign.medium'],
        event_names: ['page', '$pageview', 'page_view'],
      });
      expect(numberOf(await page.getByTestId('total-events').getAttribute('data-value'))).toBe(events.total.events);
      expect(numberOf(await page.getByTestId('total-people').getAttribute('data-value'))).toBe(events.total.people);
      expect(numberOf(await page.getByTestId('total-pageviews').getAttribute('data-value'))).toBe(views.total.events);
      for (const b of [...events.breakdowns, ...views.breakdowns]) {
        const shown = await rowsOf(page, `[data-testid=breakdown][data-field="${b.field}"] [data-testid=breakdown-row]`, ['value', 'events', 'people']);
        expect(shown, `${site} ${b.field}`).toEqual(b.rows.map((r) => ({ value: r.value, events: String(r.events), people: String(r.people) })));
      }
    }
    // The known data set, on screen: every page view over all sites, / first.
    await page.getByTestId('site').selectOption('');
    await settled(page);
    expect(numberOf(await page.getByTestId('total-pageviews').getAttribute('data-value'))).toBe(PAGE_VIEWS.length);
    expect(await page.locator('[data-field="url.path"] [data-testid=breakdown-row]').first().getAttribute('data-value')).toBe('/');
    expect(
      await page
        .locator('[data-field="geo.country.iso_code"] [data-testid=breakdown-row]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-value')).sort()),
    ).toEqual(['BR', 'GB', 'JP', 'US']);
  });
});

describe('people', () => {
  it('shows the people API person for a user id and for their anonymous id', async () => {
    const page = await screen('#/people');
    await eventually(() => textOf(page.getByTestId('empty'))).toMatch(/Enter the id of a user/);
    for (const id of ['user-1', 'anon-1']) {
      await page.getByLabel('User id or anonymous id').fill(id);
      await page.getByLabel('User id or anonymous id').press('Enter');
      await eventually(() => page.url()).toContain(`id=${id}`);
      await page.getByTestId('person').waitFor();
      await settled(page);
      const range = await scopeOf(page);
      const person = await api<{
        user_id: string;
        anonymous_ids: string[];
        traits: Array<{ key: string; value: string }>;
        events: Array<{ event_id: string; event_name: string }>;
      }>(svc.url, '/api/v1/analytics/people', { id, from: range.from, to: range.to, limit: 100 });
      expect(person.user_id).toBe('user-1');
      expect(await textOf(page.getByTestId('person-user'))).toBe(person.user_id);
      expect(await textOf(page.getByTestId('person-anonymous-ids'))).toBe(person.anonymous_ids.join(', '));
      expect(await rowsOf(page, '[data-testid=trait]', ['key', 'value'])).toEqual(person.traits.map((t) => ({ key: t.key, value: t.value })));
      expect(await rowsOf(page, '[data-testid=person-event]', ['event-id', 'event-name'])).toEqual(
        person.events.map((e) => ({ 'event-id': e.event_id, 'event-name': e.event_name })),
      );
    }
  });

  it('says what to send for an id nobody has', async () => {
    const page = await screen('#/people?id=nobody-at-all');
    await eventually(() => textOf(page.getByTestId('empty'))).toMatch(/No person nobody-at-all: .*Send an identify call/);
  });

  it('ran every page above without a script error or a Content-Security-Policy violation', () => {
    expect(pages.length).toBeGreaterThan(4);
    expect(pages.flatMap((p) => p.problems)).toEqual([]);
  });
});
