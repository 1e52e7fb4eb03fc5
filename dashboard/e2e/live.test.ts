/**
 * Live events in real Chromium: an event sent through the envelope API appears on the screen once acknowledged,
 * as stored (its attributes the stored row's, redaction included); the name filter keeps other events out; another
 * tenant's events never show; pause holds the list still.
 */
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH } from '../../test/helpers/browser.ts';
import { type DashboardPage, openDashboard, signIn, textOf } from '../../test/helpers/dashboard.ts';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
let browser: Browser;
const pages: DashboardPage[] = [];
const eventually = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000 });

beforeAll(async () => {
  svc = await startTestService();
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  await svc?.close();
});

async function liveScreen(): Promise<Page> {
  const d = await openDashboard(browser, svc.url);
  pages.push(d);
  await signIn(d.page, 'rt_acme_test_token');
  await d.page.getByTestId('sign-out').waitFor();
  await d.page.getByRole('link', { name: 'Live events' }).click();
  await d.page.locator('[data-testid=live-status][data-state=live][data-filter=""]').waitFor();
  return d.page;
}

let seq = 0;
async function send(key: string, event: Record<string, unknown>): Promise<string> {
  const id = `e2e-live-${++seq}`;
  const res = await fetch(`${svc.url}/api/v1/analytics/events`, {
    method: 'POST',
    body: JSON.stringify({ event_id: id, ...event }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  });
  expect(res.status).toBe(202);
  return id;
}
const shownIds = (page: Page) => page.getByTestId('live-event').evaluateAll((els) => els.map((e) => e.getAttribute('data-event-id')));

describe('live events', () => {
  it('shows an event after its acknowledgement exactly as stored, redaction included', async () => {
    const page = await liveScreen();
    await eventually(() => textOf(page.getByTestId('empty'))).toMatch(/Waiting for events\. Send one/);
    const id = await send(ACME_KEY, {
      event_name: 'checkout',
      user_id: 'u-7',
      site_id: 'shop',
      attributes: { email: 'grace@example.com', total: 99.5 },
      context: { ip: '81.2.69.160', page: { url: 'https://shop.example/pay?card=4111111111111111', path: '/pay' } },
    });
    await eventually(() => shownIds(page)).toEqual([id]);
    const item = page.locator(`[data-testid=live-event][data-event-id="${id}"]`);
    expect(await item.getAttribute('data-event-name')).toBe('checkout');
    await item.locator('summary').click();
    const shown = Object.fromEntries(
      await item.getByTestId('live-attribute').evaluateAll((els) => els.map((e) => [e.getAttribute('data-key'), e.getAttribute('data-value')])),
    );
    const [row] = await svc.rows<{ attrs: Record<string, string> }>('SELECT LogAttributes AS attrs FROM signalhouse.otel_logs WHERE EventId = {id:String}', {
      id,
    });
    expect(shown).toEqual(row.attrs);
    expect(shown).toMatchObject({ email: '****', 'client.address': '81.2.69.0', 'url.full': '/pay', 'geo.country.iso_code': 'GB' });
  });

  it("filters by event name, and never shows another tenant's events", async () => {
    const page = await liveScreen();
    await page.getByLabel(/Event names/).fill('wanted, also.wanted');
    await page.getByLabel(/Event names/).press('Enter');
    await eventually(() => textOf(page.getByTestId('scope'))).toMatch(/only wanted, also\.wanted/);
    // The server has confirmed the filter for the new connection.
    await page.locator('[data-testid=live-status][data-state=live][data-filter="wanted,also.wanted"]').waitFor();
    await send(ACME_KEY, { event_name: 'unwanted' });
    await send(GLOBEX_KEY, { event_name: 'wanted', attributes: { tenant: 'globex' } });
    const first = await send(ACME_KEY, { event_name: 'wanted' });
    const last = await send(ACME_KEY, { event_name: 'also.wanted' });
    // Newest first; the stream is in commit order, so what was sent before `last` has arrived when `last` has.
    await eventually(() => shownIds(page)).toEqual([last, first]);
  });

  it('holds the list still while paused and adds what arrived on resume', async () => {
    const page = await liveScreen();
    const before = await send(ACME_KEY, { event_name: 'paused.before' });
    await eventually(() => shownIds(page)).toEqual([before]);
    await page.getByTestId('live-pause').click();
    const during = await send(ACME_KEY, { event_name: 'paused.during' });
    await eventually(() => textOf(page.getByTestId('live-pause'))).toBe('Resume (1 new)');
    expect(await shownIds(page)).toEqual([before]);
    await page.getByTestId('live-pause').click();
    expect(await shownIds(page)).toEqual([during, before]);
  });

  it('ran every page above without a script error or a Content-Security-Policy violation', () => {
    expect(pages).toHaveLength(3);
    expect(pages.flatMap((p) => p.problems)).toEqual([]);
  });
});
