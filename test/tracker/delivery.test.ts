/**
 * The tracker's delivery in real Chromium: offline (the browser offline, or its requests aborted) and back,
 * across a navigation; the page hidden mid-batch; a 503 with `Retry-After` whose request was in fact stored;
 * and the batching (a page's first event at once, then 5 s or 20 events or 48 KB). Every test counts what is
 * stored: each event exactly once, none lost. Time-dependent steps run on Playwright's clock, never on waits.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ACME_KEY } from '../helpers/service.ts';
import { openTrackerPage, requestsTo, sentEvents, trackerHtml, trackerWorld, waitForRows } from '../helpers/tracker.ts';

const world = trackerWorld();

type Api = { signalhouse: { ids(): { anonymousId?: string }; flush(): Promise<void>; track(e: string, p?: object): void } };
const anonymousId = (page: Page) => page.evaluate(() => (window as unknown as Api).signalhouse.ids().anonymousId!);
const track = (page: Page, name: string, n: number, pad = 0) =>
  page.evaluate(
    ([name, n, pad]) => {
      for (let i = 0; i < n; i++) (window as unknown as Api).signalhouse.track(name, { i, pad: 'p'.repeat(pad) });
    },
    [name, n, pad] as const,
  );
/** Stops the page's clock (a little ahead of now, so that a loaded machine cannot make it a time in the past). */
const pause = async (page: Page) => page.clock.pauseAt((await page.evaluate(() => Date.now())) + 2000);
const queued = (page: Page) => page.evaluate((key) => (JSON.parse(localStorage.getItem(`sh_q:${key}`) ?? '[]') as unknown[]).length, ACME_KEY);

/** Every event of the person stored exactly once: as many rows as distinct ids, and the names expected. */
async function storedOnce(anon: string, names: Record<string, number>) {
  const total = Object.values(names).reduce((a, b) => a + b, 0);
  const rows = await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: anon }, total);
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.EventName] = (counts[r.EventName] ?? 0) + 1;
  expect(counts).toEqual(names);
  expect(new Set(rows.map((r) => r.EventId)).size).toBe(rows.length);
}

describe('offline', () => {
  it('keeps what is captured while the browser is offline and sends it when it is back, each event once', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context);
    const anon = await anonymousId(page);
    await expect.poll(() => queued(page)).toBe(0);
    await world.context.setOffline(true);
    await track(page, 'offline.event', 45);
    await page.evaluate(() => (window as unknown as Api).signalhouse.flush());
    expect(await queued(page)).toBe(45);
    await world.context.setOffline(false);
    await storedOnce(anon, { page: 1, 'offline.event': 45 });
    await expect.poll(() => queued(page)).toBe(0);
  });

  it('retries aborted requests, and what one page could not send, the next page sends', async () => {
    let aborted = 0;
    await world.context.route(`${world.svc.url}/sh/v1/batch`, (route) => {
      aborted++;
      return route.abort('internetdisconnected');
    });
    const page = await openTrackerPage(world.site, world.svc, world.context, { path: '/first' });
    const anon = await anonymousId(page);
    await track(page, 'aborted.event', 30);
    await expect.poll(() => aborted).toBeGreaterThanOrEqual(2);
    // The user moves on (the page hides: its keepalive sends are aborted too) and the network comes back.
    world.site.serve('/second', { type: 'text/html', body: '<!doctype html><title>second</title>' });
    await page.goto(`${world.site.origin}/second`);
    await world.context.unroute(`${world.svc.url}/sh/v1/batch`);
    const next = await openTrackerPage(world.site, world.svc, world.context, { path: '/third' });
    expect(await anonymousId(next)).toBe(anon);
    await storedOnce(anon, { page: 2, 'aborted.event': 30 });
  });
});

describe('page hide', () => {
  it('sends a batch still waiting for its timer when the page is left, nothing lost', async () => {
    const requests = requestsTo(world.context, world.svc);
    const page = await openTrackerPage(world.site, world.svc, world.context);
    const anon = await anonymousId(page);
    await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: anon }, 1);
    await track(page, 'before.leaving', 7);
    // Within the 5 s batch delay: nothing sent yet.
    expect(sentEvents(requests).filter((e) => e.event === 'before.leaving').length).toBe(0);
    // To a page without the tracker: only the leaving page's keepalive request can deliver them.
    world.site.serve('/plain', { type: 'text/html', body: '<!doctype html><title>plain</title>' });
    await page.goto(`${world.site.origin}/plain`);
    await storedOnce(anon, { page: 1, 'before.leaving': 7 });
  });

  it('sends at once when the tab is hidden, and sends nothing twice when the tab comes back', async () => {
    const requests = requestsTo(world.context, world.svc);
    const page = await world.context.newPage();
    await page.clock.install();
    world.site.serve('/hidden', { type: 'text/html', body: trackerHtml(world.svc) });
    await page.goto(`${world.site.origin}/hidden`);
    await page.waitForFunction(() => (window as unknown as { signalhouse: { _m?: unknown } }).signalhouse._m !== undefined);
    const anon = await anonymousId(page);
    await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: anon }, 1);
    // The clock stands still: the batch timer cannot send them, only hiding the page can.
    await pause(page);
    await track(page, 'tab.hidden', 3);
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
      dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }));
    });
    await storedOnce(anon, { page: 1, 'tab.hidden': 3 });
    await expect.poll(() => queued(page)).toBe(0);
    await page.evaluate(() => (window as unknown as Api).signalhouse.flush());
    expect(sentEvents(requests).filter((e) => e.event === 'tab.hidden').length).toBe(3);
  });
});

describe('overload', () => {
  it('retries a 503 after its Retry-After, not before, and the retry of a request that was stored is stored once', async () => {
    let served = 0;
    await world.context.route(`${world.svc.url}/sh/v1/batch`, async (route) => {
      if (++served > 1) return route.continue();
      // The first batch reaches the server (and is stored), but the page is told to retry in 30 s.
      await route.fetch();
      await route.fulfill({
        status: 503,
        headers: { 'retry-after': '30', 'access-control-allow-origin': world.site.origin, 'access-control-expose-headers': 'retry-after' },
        body: '{"error":"OVERLOADED"}',
      });
    });
    // Counts the tracker's sends, and notes when the first reply reached it (the tracker sees it right after).
    await world.context.addInitScript(() => {
      const w = window as unknown as { sends: number; replyAt?: number };
      w.sends = 0;
      const original = window.fetch;
      window.fetch = (input, init) => {
        if (!String(input).endsWith('/sh/v1/batch')) return original(input, init);
        w.sends++;
        return original(input, init).then((r) => {
          w.replyAt ??= Date.now();
          return r;
        });
      };
    });
    const page = await world.context.newPage();
    await page.clock.install();
    world.site.serve('/overload', { type: 'text/html', body: trackerHtml(world.svc, { head: "signalhouse.track('overload.event')" }) });
    await page.goto(`${world.site.origin}/overload`);
    const replyAt = await (await page.waitForFunction(() => (window as unknown as { replyAt?: number }).replyAt)).jsonValue();
    // 10 s after the 503 the clock stops; the retry is due 30 to 31 s after it.
    await page.clock.pauseAt(replyAt! + 10_000);
    const sends = () => page.evaluate(() => (window as unknown as { sends: number }).sends);
    expect(await sends()).toBe(1);
    await page.clock.runFor(19_000);
    expect(await sends()).toBe(1);
    await page.clock.runFor(2_500);
    expect(await sends()).toBe(2);
    const anon = await anonymousId(page);
    await storedOnce(anon, { page: 1, 'overload.event': 1 });
    await expect.poll(() => served).toBe(2);
  });
});

describe('batches', () => {
  it("send the page's first event at once, then after 5 s, at 20 events, or at 48 KB", async () => {
    const requests = requestsTo(world.context, world.svc);
    const page = await world.context.newPage();
    await page.clock.install();
    world.site.serve('/batches', { type: 'text/html', body: trackerHtml(world.svc) });
    await page.goto(`${world.site.origin}/batches`);
    await page.waitForFunction(() => (window as unknown as { signalhouse: { _m?: unknown } }).signalhouse._m !== undefined);
    const batches = () =>
      requests
        .filter((r) => r.method() === 'POST')
        .map((r) => (JSON.parse(r.postData()!).events as Array<{ event?: string; type: string }>).map((e) => e.event ?? e.type));
    await expect.poll(batches).toEqual([['page']]);
    // Its reply in: events queued while a request is out follow as soon as it is answered, not after 5 s.
    await expect.poll(() => queued(page)).toBe(0);
    await pause(page);
    const anon = await anonymousId(page);

    await track(page, 'small', 3);
    await page.clock.runFor(4_900);
    expect(batches().length).toBe(1);
    await page.clock.runFor(200);
    await expect.poll(batches).toEqual([['page'], ['small', 'small', 'small']]);

    await track(page, 'burst', 25);
    // 20 go at once; the other 5 follow as soon as that request is answered.
    await expect.poll(() => batches().length).toBe(4);
    expect(
      batches()
        .slice(2)
        .map((b) => b.length),
    ).toEqual([20, 5]);

    // 20 KB each: two fit in 48 KB, so the third waits for the next request.
    await track(page, 'large', 3, 20_000);
    await page.clock.runFor(5_100);
    await expect.poll(() => batches().length).toBe(6);
    expect(
      batches()
        .slice(4)
        .map((b) => b.length),
    ).toEqual([2, 1]);
    expect(requests.filter((r) => r.method() === 'POST').every((r) => r.postData()!.length < 48 * 1024 + 1024)).toBe(true);
    await storedOnce(anon, { page: 1, small: 3, burst: 25, large: 3 });
  });
});
