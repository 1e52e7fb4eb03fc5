/**
 * The tracker's optional modules in real Chromium, read back with the names in semconv/browser.ts:
 * autocapture (clicks and form submits, never field values), uncaught errors, web vitals; each file fetched only
 * when its option is on; and no URL the tracker requests matches the generic rules of common ad-block lists.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  ATTR_EXCEPTION_MESSAGE,
  ATTR_EXCEPTION_STACKTRACE,
  ATTR_EXCEPTION_TYPE,
  ATTR_UI_ELEMENT_HREF,
  ATTR_UI_ELEMENT_ID,
  ATTR_UI_ELEMENT_SELECTOR,
  ATTR_UI_ELEMENT_TAG,
  ATTR_UI_ELEMENT_TEXT,
  ATTR_UI_FORM_ACTION,
  ATTR_UI_FORM_ID,
  ATTR_UI_FORM_NAME,
  ATTR_WEB_VITAL_ID,
  ATTR_WEB_VITAL_NAME,
  ATTR_WEB_VITAL_RATING,
  ATTR_WEB_VITAL_VALUE,
  EVENT_EXCEPTION,
  EVENT_UI_CLICK,
  EVENT_UI_FORM_SUBMIT,
  EVENT_WEB_VITAL,
} from '../../semconv/browser.ts';

import { openTrackerPage, requestsTo, type TrackerRow, trackerWorld, waitForRows } from '../helpers/tracker.ts';

const world = trackerWorld();

type Api = { signalhouse: { ids(): { anonymousId?: string }; flush(): Promise<void> } };
const anonymousId = (page: Page) => page.evaluate(() => (window as unknown as Api).signalhouse.ids().anonymousId!);
const flush = (page: Page) => page.evaluate(() => (window as unknown as Api).signalhouse.flush());
const named = (rows: TrackerRow[], name: string) => rows.filter((r) => r.EventName === name).map((r) => r.LogAttributes);
const moduleLoaded = (page: Page, name: string) =>
  page.waitForFunction((name) => performance.getEntriesByType('resource').some((e) => e.name.endsWith(`/signalhouse.${name}.js`)), name);

const SHOP = `<main><h1>Checkout</h1>
  <button id="buy" class="btn primary">  Buy   now </button>
  <a id="terms" href="/terms" onclick="event.preventDefault()">Terms</a>
  <div data-sh-event="promo.opened"><span id="promo">Open the promo</span></div>
  <div data-sh-ignore><button id="private">Private</button></div>
  <p id="plain">Not interactive</p>
  <form id="signup" name="signup" action="/signup" method="post" onsubmit="event.preventDefault()">
    <input id="email" name="email" value="jane.secret@example.com"><input type="password" value="hunter2">
    <button id="submit" type="submit">Sign up</button>
  </form></main>`;

describe('autocapture', () => {
  it('captures clicks on interactive elements and form submits, never what fields hold', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context, { options: { autocapture: true }, body: SHOP });
    await moduleLoaded(page, 'autocapture');
    for (const id of ['buy', 'terms', 'promo', 'private', 'plain', 'email', 'submit']) await page.click(`#${id}`);
    await flush(page);
    const anon = await anonymousId(page);
    const rows = await waitForRows(world.svc, "AnonymousId = {a:String} AND EventName != 'page'", { a: anon }, 5);
    const clicks = named(rows, EVENT_UI_CLICK);
    expect(clicks.map((c) => c[ATTR_UI_ELEMENT_ID])).toEqual(['buy', 'terms', 'submit']);
    expect(clicks[0]).toMatchObject({ [ATTR_UI_ELEMENT_TAG]: 'button', [ATTR_UI_ELEMENT_TEXT]: 'Buy now', 'ui.element.classes': 'btn primary' });
    expect(clicks[0][ATTR_UI_ELEMENT_SELECTOR]).toBe('main > button#buy.btn.primary');
    expect(clicks[1]).toMatchObject({ [ATTR_UI_ELEMENT_TAG]: 'a', [ATTR_UI_ELEMENT_HREF]: `${world.site.origin}/terms` });
    expect(named(rows, 'promo.opened').map((p) => p[ATTR_UI_ELEMENT_TAG])).toEqual(['div']);
    const [submit] = named(rows, EVENT_UI_FORM_SUBMIT);
    expect(submit).toMatchObject({
      [ATTR_UI_FORM_ID]: 'signup',
      [ATTR_UI_FORM_NAME]: 'signup',
      [ATTR_UI_FORM_ACTION]: `${world.site.origin}/signup`,
      'ui.form.method': 'post',
    });
    expect(JSON.stringify(rows)).not.toMatch(/jane\.secret|hunter2/);
  });
});

describe('errors', () => {
  it('captures uncaught errors and unhandled rejections once each, with type, message and stack', async () => {
    // The failing code is the page's own, so its stack names the page.
    const head = `window.failLater = function () {
      var fail = function () { throw new TypeError('price is not a number'); };
      setTimeout(fail); setTimeout(fail);
      Promise.reject(new RangeError('quantity out of range'));
    };`;
    const page = await openTrackerPage(world.site, world.svc, world.context, { options: { errors: true, pageviews: false }, head });
    await moduleLoaded(page, 'errors');
    await page.evaluate(() => (window as unknown as { failLater(): void }).failLater());
    const anon = await anonymousId(page);
    const where = `AnonymousId = {a:String} AND EventName = '${EVENT_EXCEPTION}'`;
    await waitForRows(world.svc, where, { a: anon }, 2);
    // Whatever else was captured goes now: the repeated error would be among it.
    await flush(page);
    const rows = await waitForRows(world.svc, where, { a: anon }, 2);
    expect(rows.map((r) => [r.LogAttributes[ATTR_EXCEPTION_TYPE], r.LogAttributes[ATTR_EXCEPTION_MESSAGE]]).sort()).toEqual([
      ['RangeError', 'quantity out of range'],
      ['TypeError', 'price is not a number'],
    ]);
    for (const r of rows) expect(r.LogAttributes[ATTR_EXCEPTION_STACKTRACE]).toContain(world.site.origin);
  });
});

describe('web vitals', () => {
  it('reports FCP, TTFB and LCP as browser.web_vital events with the OpenTelemetry attributes', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context, {
      options: { webVitals: true },
      body: '<main><h1>Vitals</h1><p>Some text to paint.</p></main>',
    });
    await moduleLoaded(page, 'vitals');
    // LCP is final at the first input; the rest report when the page is hidden.
    await page.click('h1');
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    const anon = await anonymousId(page);
    const rows = await waitForRows(world.svc, `AnonymousId = {a:String} AND EventName = '${EVENT_WEB_VITAL}'`, { a: anon }, 3);
    const names = rows.map((r) => r.LogAttributes[ATTR_WEB_VITAL_NAME]);
    expect(names).toEqual(expect.arrayContaining(['fcp', 'lcp', 'ttfb']));
    for (const r of rows) {
      expect(Number(r.LogAttributes[ATTR_WEB_VITAL_VALUE])).toBeGreaterThanOrEqual(0);
      expect(['good', 'needs-improvement', 'poor']).toContain(r.LogAttributes[ATTR_WEB_VITAL_RATING]);
      expect(r.LogAttributes[ATTR_WEB_VITAL_ID]).toMatch(/^v\d-/);
    }
  });
});

describe('loading and URLs', () => {
  /** Generic rules of EasyPrivacy / EasyList (and the words they are built on) that match tracker URLs. */
  const BLOCKED =
    /[/._-](track|tracking|tracker|beacon|analytics|collect|pixel|events?|log|logs|stats?|hits?|pageviews?|metrics|telemetry|rum|impressions?|web-vitals)([/._?-]|$)|analytics\.js/i;

  it('fetches a module only when enabled, and requests no URL a common ad-block rule matches', async () => {
    const plain = requestsTo(world.context, world.svc);
    const page = await openTrackerPage(world.site, world.svc, world.context, { path: '/plain', body: SHOP });
    await page.click('#buy');
    await flush(page);
    expect([...new Set(plain.map((r) => new URL(r.url()).pathname))].sort()).toEqual(['/sdk/signalhouse.js', '/sh/v1/batch']);

    const everything = await world.context.browser()!.newContext();
    try {
      const all = requestsTo(everything, world.svc);
      const full = await openTrackerPage(world.site, world.svc, everything, {
        path: '/full',
        options: { autocapture: true, errors: true, webVitals: true },
        body: SHOP,
      });
      for (const name of ['autocapture', 'errors', 'vitals']) await moduleLoaded(full, name);
      await full.click('#buy');
      await flush(full);
      const paths = [...new Set(all.map((r) => new URL(r.url()).pathname))].sort();
      expect(paths).toEqual([
        '/sdk/signalhouse.autocapture.js',
        '/sdk/signalhouse.errors.js',
        '/sdk/signalhouse.js',
        '/sdk/signalhouse.vitals.js',
        '/sh/v1/batch',
      ]);
      for (const r of all) expect(r.url()).not.toMatch(BLOCKED);
      // The pattern does catch what the lists block.
      for (const url of ['/track', '/v1/t/track', '/analytics.js', '/collect?v=1', '/beacon', '/pixel.gif', '/e/events', '/web-vitals.js'])
        expect(url).toMatch(BLOCKED);
    } finally {
      await everything.close();
    }
  });
});
