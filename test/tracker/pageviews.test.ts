/**
 * The tracker in real Chromium, on a page of another origin than Signalhouse: the snippet loads it from
 * /sdk/signalhouse.js and keeps the calls made before it loaded; a pageview on load and one per SPA navigation
 * (pushState, replaceState, popstate, hashchange), never two for one URL; `page` and `track` with their
 * properties and the page's URL, title and referrer; the ES module build; and no URL an ad-block list matches.
 */
import { readdirSync, readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';
import { openTrackerPage, requestsTo, sentEvents, trackerWorld, waitForRows } from '../helpers/tracker.ts';

const ESM_DIST = new URL('../../sdk/browser/dist/esm/', import.meta.url);

const world = trackerWorld();

type Api = { signalhouse: { ids(): { anonymousId?: string }; flush(): Promise<void>; track(e: string, p?: object): void; page(n?: string, p?: object): void } };
const anonymousId = (page: import('playwright-core').Page) => page.evaluate(() => (window as unknown as Api).signalhouse.ids().anonymousId!);

describe('loading', () => {
  it('loads from /sdk/signalhouse.js on another origin, runs the calls queued before it loaded, and captures the pageview', async () => {
    const requests = requestsTo(world.context, world.svc);
    const page = await openTrackerPage(world.site, world.svc, world.context, {
      title: 'Pricing',
      head: "signalhouse.track('plan.viewed', {plan: 'pro', seats: 3}); signalhouse.identify('early-user', {plan: 'pro'});",
    });
    const anon = await anonymousId(page);
    const rows = await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: anon }, 3);
    // Calls made in the same millisecond keep their time; their order within it is not the table's to say.
    const byName = Object.fromEntries(rows.map((r) => [r.EventName, r]));
    expect(rows.map((r) => [r.EventName, r.UserId]).sort()).toEqual([
      ['identify', 'early-user'],
      ['page', ''],
      ['plan.viewed', ''],
    ]);
    expect(byName.page.LogAttributes).toMatchObject({
      'page.title': 'Pricing',
      'url.path': '/',
      'url.domain': '127.0.0.1',
      'library.name': '@signalhouse/browser',
    });
    expect(byName.page.LogAttributes['user_agent.original']).toContain('Chrome');
    expect(byName['plan.viewed'].LogAttributes).toMatchObject({ plan: 'pro', seats: '3', 'page.title': 'Pricing' });
    expect(byName.identify.LogAttributes).toMatchObject({ 'traits.plan': 'pro' });
    // The script came from the server's origin to the site's page, and so did the batch.
    const script = requests.find((r) => r.url() === `${world.svc.url}/sdk/signalhouse.js`);
    expect(script?.headers().referer).toBe(`${world.site.origin}/`);
    expect(requests.filter((r) => r.method() === 'POST').every((r) => r.headers()['content-type']?.startsWith('text/plain'))).toBe(true);
  });

  it('works as an ES module, with its modules split off and loaded only when enabled', async () => {
    // What a bundler would serve from the site: the ESM build (web-vitals is the user's dependency, not needed here).
    for (const f of readdirSync(ESM_DIST)) world.site.serve(`/app/${f}`, { type: 'text/javascript', body: readFileSync(new URL(f, ESM_DIST)) });
    world.site.serve('/esm', {
      type: 'text/html',
      body: `<!doctype html><title>ESM</title><button id="buy">Buy</button><script type="module">
        import { signalhouse } from '/app/index.js';
        signalhouse.init('wk_acme_test_key', { host: ${JSON.stringify(world.svc.url)}, pageviews: false, autocapture: true });
        signalhouse.track('esm.loaded', { via: 'import' });
        window.esmIds = signalhouse.ids();
      </script>`,
    });
    const requests: string[] = [];
    world.context.on('request', (r) => requests.push(new URL(r.url()).pathname));
    const page = await world.context.newPage();
    await page.goto(`${world.site.origin}/esm`);
    await page.waitForFunction(() => (window as unknown as { esmIds?: unknown }).esmIds !== undefined);
    await expect.poll(() => requests.some((p) => p.startsWith('/app/autocapture-'))).toBe(true);
    await page.click('#buy');
    const anon = await page.evaluate(() => (window as unknown as { esmIds: { anonymousId: string } }).esmIds.anonymousId);
    const rows = await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: anon }, 2);
    expect(rows.map((r) => r.EventName)).toEqual(['esm.loaded', 'ui.click']);
    expect(requests.some((p) => p.startsWith('/app/errors-') || p.startsWith('/app/vitals-'))).toBe(false);
  });
});

describe('pageviews', () => {
  it('counts every SPA navigation exactly once: pushState, replaceState, popstate, hashchange', async () => {
    const requests = requestsTo(world.context, world.svc);
    const page = await openTrackerPage(world.site, world.svc, world.context, { title: 'Home' });
    await page.evaluate(async () => {
      const go = (title: string, navigate: () => void) => {
        document.title = title;
        navigate();
      };
      go('A', () => history.pushState({}, '', '/a'));
      go('A, scrolled', () => history.replaceState({ scroll: 120 }, '', '/a')); // same URL: no pageview
      go('A, sorted', () => history.replaceState({}, '', '/a?sort=price'));
      go('B', () => history.pushState({}, '', '/b'));
      go('B, again', () => history.pushState({ tab: 2 }, '', '/b')); // same URL: no pageview
      document.title = 'Back to A';
      await new Promise((resolve) => {
        addEventListener('popstate', resolve, { once: true });
        history.go(-2);
      });
      document.title = 'Reviews';
      // Chromium fires popstate and hashchange for it: one pageview.
      await new Promise((resolve) => {
        addEventListener('hashchange', resolve, { once: true });
        location.hash = 'reviews';
      });
      await (window as unknown as Api).signalhouse.flush();
    });
    const anon = await anonymousId(page);
    const rows = await waitForRows(world.svc, "AnonymousId = {a:String} AND EventName = 'page'", { a: anon }, 6);
    // Navigations in one millisecond: the stored rows are compared as a set, the order on the wire below.
    expect(rows.map((r) => r.LogAttributes['page.title']).sort()).toEqual(['A', 'A, sorted', 'B', 'Back to A', 'Home', 'Reviews']);
    const sent = sentEvents(requests);
    expect(sent.map((e) => e.title)).toEqual(['Home', 'A', 'A, sorted', 'B', 'Back to A', 'Reviews']);
    const urls = sent.map((e) => String(e.url).slice(world.site.origin.length));
    expect(urls).toEqual(['/', '/a', '/a?sort=price', '/b', '/a?sort=price', '/a?sort=price#reviews']);
    // Each SPA pageview's referrer is the page before it.
    expect(sentEvents(requests).map((e) => String(e.referrer).slice(world.site.origin.length))).toEqual([
      '',
      '/',
      '/a',
      '/a?sort=price',
      '/b',
      '/a?sort=price',
    ]);
  });

  it('records page() calls with a name and properties; with pageviews off, navigations capture nothing by themselves', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context, {
      options: { pageviews: false },
      head: "signalhouse.page('Pricing', {variant: 'b'}); signalhouse.page({section: 'faq'});",
    });
    await page.evaluate(async () => {
      history.pushState({}, '', '/elsewhere');
      location.hash = 'x';
      (window as unknown as Api).signalhouse.track('after.navigation');
      await (window as unknown as Api).signalhouse.flush();
    });
    const anon = await anonymousId(page);
    const rows = await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: anon }, 3);
    expect(rows.length).toBe(3);
    const pages = rows
      .filter((r) => r.EventName === 'page')
      .map((r) => [r.LogAttributes['page.name'] ?? '', r.LogAttributes.variant ?? r.LogAttributes.section]);
    expect(pages.sort()).toEqual([
      ['', 'faq'],
      ['Pricing', 'b'],
    ]);
    expect(rows.filter((r) => r.EventName === 'after.navigation').map((r) => r.LogAttributes['url.path'])).toEqual(['/elsewhere']);
  });
});

describe('hostile properties', () => {
  it('drops an event whose properties JSON cannot hold, without throwing into the page, and keeps the others', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context, { options: { pageviews: false } });
    const threw = await page.evaluate(async () => {
      const sh = (window as unknown as Api).signalhouse;
      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic.self = cyclic;
      try {
        sh.track('cyclic', cyclic);
        sh.track('bigint', { n: BigInt(1) });
        sh.track('fine.after', { ok: true, nested: { deep: [1, 2] }, fn: () => 1 });
        await sh.flush();
        return false;
      } catch {
        return true;
      }
    });
    expect(threw).toBe(false);
    const rows = await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: await anonymousId(page) }, 1);
    expect(rows.map((r) => [r.EventName, r.LogAttributes.ok, r.LogAttributes.nested])).toEqual([['fine.after', 'true', '{"deep":[1,2]}']]);
  });
});
