/**
 * Consent in real Chromium: in opt-in mode nothing is sent or stored in the browser until `consent(true)`,
 * which then sends what was captured meanwhile; a refusal stops everything, deletes the queue and the ids and is
 * remembered; Do-Not-Track and Global Privacy Control send nothing unless configured off. "Nothing sent" is
 * checked both ways: no request left the page for the tracker API, and the server received nothing.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { openTrackerPage, requestsTo, sentEvents, trackerWorld, waitForRows } from '../helpers/tracker.ts';

const world = trackerWorld();

type Api = { signalhouse: { ids(): { anonymousId?: string }; flush(): Promise<void>; track(e: string): void; consent(yes: boolean): void } };
const call = (page: Page, script: string) =>
  page.evaluate(async (script) => {
    new Function('signalhouse', script)((window as unknown as Api).signalhouse);
    await (window as unknown as Api).signalhouse.flush();
  }, script);
/** The tracker's keys in the page's storage and cookies. */
const stored = (page: Page) =>
  page.evaluate(() => ({
    local: Object.keys(localStorage)
      .filter((k) => k.startsWith('sh_'))
      .sort(),
    cookies: document.cookie.includes('sh_'),
  }));
/** Records the tracker API received since start (every receiver's counters, as the stats endpoint sums them). */
const received = async () => ((await (await fetch(`${world.svc.url}/api/v1/analytics/stats`)).json()).receivers.tracker?.received ?? 0) as number;
const batches = (requests: ReturnType<typeof requestsTo>) => requests.filter((r) => r.method() === 'POST');
const storedNamed = async (name: string) =>
  Number((await world.svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {e:String}', { e: name }))[0].n);

describe('opt-in', () => {
  it('sends and stores nothing before consent, then what was captured meanwhile, and remembers the choice', async () => {
    const requests = requestsTo(world.context, world.svc);
    const before = await received();
    const page = await openTrackerPage(world.site, world.svc, world.context, { options: { consent: 'opt-in' }, head: "signalhouse.track('optin.waiting')" });
    await call(page, "signalhouse.track('optin.still.waiting')");
    expect(batches(requests)).toEqual([]);
    expect(await received()).toBe(before);
    expect(await stored(page)).toEqual({ local: [], cookies: false });
    expect(await page.evaluate(() => (window as unknown as Api).signalhouse.ids())).toEqual({});

    await call(page, 'signalhouse.consent(true)');
    const anon = (await page.evaluate(() => (window as unknown as Api).signalhouse.ids().anonymousId))!;
    const rows = await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: anon }, 3);
    expect(rows.map((r) => r.EventName).sort()).toEqual(['optin.still.waiting', 'optin.waiting', 'page']);
    // The queue is gone once its events are delivered.
    await expect.poll(async () => (await stored(page)).local).toEqual(['sh_c', 'sh_id', 'sh_s']);

    // The next page asks no more.
    await page.reload();
    await page.waitForFunction(() => (window as unknown as { signalhouse: { _m?: unknown } }).signalhouse._m !== undefined);
    await waitForRows(world.svc, "AnonymousId = {a:String} AND EventName = 'page'", { a: anon }, 2);
  });
});

describe('refusal', () => {
  it('stops sending, deletes the queue and the ids, and is remembered on the next page', async () => {
    const requests = requestsTo(world.context, world.svc);
    const page = await openTrackerPage(world.site, world.svc, world.context);
    const anon = (await page.evaluate(() => (window as unknown as Api).signalhouse.ids().anonymousId))!;
    await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: anon }, 1);
    const sentBefore = batches(requests).length;
    const before = await received();

    await call(page, "signalhouse.track('queued.then.refused'); signalhouse.consent(false); signalhouse.track('after.refusal')");
    expect(await stored(page)).toEqual({ local: ['sh_c'], cookies: false });
    await page.reload();
    await page.waitForFunction(() => (window as unknown as { signalhouse: { _m?: unknown } }).signalhouse._m !== undefined);
    await call(page, "signalhouse.track('after.reload')");

    expect(batches(requests).length).toBe(sentBefore);
    expect(sentEvents(requests).map((e) => e.event ?? e.type)).toEqual(['page']);
    expect(await received()).toBe(before);
    for (const name of ['queued.then.refused', 'after.refusal', 'after.reload']) expect(await storedNamed(name), name).toBe(0);
    expect(await stored(page)).toEqual({ local: ['sh_c'], cookies: false });
  });
});

describe('browser privacy signals', () => {
  const signals = {
    dnt: () => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' }),
    gpc: () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }),
  };

  it.each(Object.keys(signals) as Array<keyof typeof signals>)('%s: nothing is sent, stored or kept, consent or not', async (signal) => {
    await world.context.addInitScript(signals[signal]);
    const requests = requestsTo(world.context, world.svc);
    const before = await received();
    const page = await openTrackerPage(world.site, world.svc, world.context, {
      head: `signalhouse.track('${signal}.ignored')`,
      options: { autocapture: true },
    });
    await call(page, `signalhouse.consent(true); signalhouse.track('${signal}.after.consent')`);
    expect(batches(requests)).toEqual([]);
    // Not even the module is fetched.
    expect(requests.map((r) => new URL(r.url()).pathname)).toEqual(['/sdk/signalhouse.js']);
    expect(await received()).toBe(before);
    expect(await storedNamed(`${signal}.ignored`)).toBe(0);
    expect(await storedNamed(`${signal}.after.consent`)).toBe(0);
    expect((await stored(page)).local.filter((k) => k !== 'sh_c')).toEqual([]);
  });

  it('are ignored when configured off', async () => {
    await world.context.addInitScript(signals.dnt);
    await world.context.addInitScript(signals.gpc);
    const page = await openTrackerPage(world.site, world.svc, world.context, {
      options: { respectDnt: false, respectGpc: false },
      head: "signalhouse.track('signals.off')",
    });
    expect(await page.evaluate(() => [navigator.doNotTrack, (navigator as Navigator & { globalPrivacyControl?: boolean }).globalPrivacyControl])).toEqual([
      '1',
      true,
    ]);
    const anon = (await page.evaluate(() => (window as unknown as Api).signalhouse.ids().anonymousId))!;
    const rows = await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: anon }, 2);
    expect(rows.map((r) => r.EventName).sort()).toEqual(['page', 'signals.off']);
  });
});
