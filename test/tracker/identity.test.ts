/**
 * Identity in real Chromium: every event carries the session, the anonymous id and, after identify, the user
 * id, kept across page loads; reset starts a new anonymous id and session; a session rolls over after 30
 * minutes idle (on Playwright's clock); the funnel report follows the person across identify; ids in cookies,
 * or nowhere at all in the cookieless mode.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { openTrackerPage, trackerHtml, trackerWorld, waitForRows } from '../helpers/tracker.ts';

const world = trackerWorld();

interface Ids {
  anonymousId?: string;
  userId?: string;
  sessionId?: string;
}
type Api = { signalhouse: { ids(): Ids; flush(): Promise<void> } & Record<string, (...a: unknown[]) => void> };
/** Runs tracker calls in the page, flushes, and returns the ids the tracker holds then. */
const run = (page: Page, script: string) =>
  page.evaluate(async (script) => {
    const sh = (window as unknown as Api).signalhouse;
    new Function('signalhouse', script)(sh);
    await sh.flush();
    return sh.ids();
  }, script);
const loaded = (page: Page) => page.waitForFunction(() => (window as unknown as { signalhouse: { _m?: unknown } }).signalhouse._m !== undefined);
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('ids', () => {
  it('carries session, anonymous and user ids on every event, across page loads, until reset', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context, { options: { pageviews: false } });
    const first = await run(page, "signalhouse.track('id.before'); signalhouse.identify('user-42', {plan: 'pro'}); signalhouse.track('id.after')");
    expect(first).toEqual({ anonymousId: expect.stringMatching(UUID_V7), userId: 'user-42', sessionId: expect.stringMatching(UUID_V7) });
    await page.reload();
    await loaded(page);
    expect(await run(page, "signalhouse.track('id.reloaded')")).toEqual(first);
    const after = await run(page, "signalhouse.reset(); signalhouse.track('id.reset')");
    expect(after.userId).toBeUndefined();
    expect(after.anonymousId).toMatch(UUID_V7);
    expect(after.anonymousId).not.toBe(first.anonymousId);
    expect(after.sessionId).not.toBe(first.sessionId);

    const rows = await waitForRows(world.svc, 'AnonymousId IN ({a:String}, {b:String})', { a: first.anonymousId, b: after.anonymousId }, 5);
    const ids = (r: (typeof rows)[number]) => [r.EventName, r.AnonymousId, r.UserId, r.SessionId];
    expect(rows.map(ids).sort()).toEqual(
      [
        ['id.before', first.anonymousId, '', first.sessionId],
        ['identify', first.anonymousId, 'user-42', first.sessionId],
        ['id.after', first.anonymousId, 'user-42', first.sessionId],
        ['id.reloaded', first.anonymousId, 'user-42', first.sessionId],
        ['id.reset', after.anonymousId, '', after.sessionId],
      ].sort(),
    );
    const links = await world.svc.rows("SELECT AnonymousId FROM signalhouse.identity_links WHERE TenantId = 'acme' AND UserId = 'user-42'");
    expect(links).toEqual([{ AnonymousId: first.anonymousId }]);
  });

  it('links a previous id to the user with alias', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context, { options: { pageviews: false } });
    const ids = await run(page, "signalhouse.alias('alias-user')");
    const links = await world.svc.rows("SELECT AnonymousId FROM signalhouse.identity_links WHERE TenantId = 'acme' AND UserId = 'alias-user'");
    expect(links).toEqual([{ AnonymousId: ids.anonymousId }]);
  });

  it('starts a new session after 30 minutes without an event', async () => {
    const page = await world.context.newPage();
    await page.clock.install();
    world.site.serve('/session', { type: 'text/html', body: trackerHtml(world.svc, { options: { pageviews: false } }) });
    await page.goto(`${world.site.origin}/session`);
    await loaded(page);
    const a = await run(page, "signalhouse.track('session.a')");
    await page.clock.fastForward('29:00');
    const b = await run(page, "signalhouse.track('session.b')");
    await page.clock.fastForward('31:00');
    const c = await run(page, "signalhouse.track('session.c')");
    expect(b.sessionId).toBe(a.sessionId);
    expect(c.sessionId).not.toBe(a.sessionId);
    expect(c.anonymousId).toBe(a.anonymousId);
    const rows = await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: a.anonymousId }, 3);
    expect(rows.map((r) => [r.EventName, r.SessionId])).toEqual([
      ['session.a', a.sessionId],
      ['session.b', a.sessionId],
      ['session.c', c.sessionId],
    ]);
  });
});

describe('funnels', () => {
  it('follow the person across identify: anonymous steps and the identified step count as one person', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context, { options: { pageviews: false } });
    const ids = await run(page, "signalhouse.track('funnel.viewed'); signalhouse.track('funnel.started')");
    await run(page, "signalhouse.identify('funnel-user'); signalhouse.track('funnel.completed')");
    await waitForRows(world.svc, 'AnonymousId = {a:String}', { a: ids.anonymousId }, 4);
    const res = await fetch(`${world.svc.url}/api/v1/analytics/reports/funnel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer rt_acme_test_token' },
      body: JSON.stringify({ steps: ['funnel.viewed', 'funnel.started', 'funnel.completed'], from: Date.now() - 3_600_000, to: Date.now() + 60_000 }),
    });
    expect(res.status).toBe(200);
    const { steps } = (await res.json()) as { steps: Array<{ name: string; count: number }> };
    expect(steps.map((s) => [s.name, s.count])).toEqual([
      ['funnel.viewed', 1],
      ['funnel.started', 1],
      ['funnel.completed', 1],
    ]);
  });
});

describe('persistence', () => {
  it('keeps the ids in first-party cookies with persistence: cookie', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context, { options: { persistence: 'cookie', pageviews: false } });
    const ids = await run(page, "signalhouse.track('cookie.event')");
    const cookies = Object.fromEntries((await world.context.cookies(world.site.origin)).map((c) => [c.name, c]));
    expect(JSON.parse(decodeURIComponent(cookies.sh_id.value))).toEqual({ a: ids.anonymousId });
    expect(cookies.sh_id).toMatchObject({ sameSite: 'Lax', path: '/' });
    expect(cookies.sh_s).toBeDefined();
    expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k === 'sh_id' || k === 'sh_s'))).toEqual([]);
    await waitForRows(world.svc, "AnonymousId = {a:String} AND EventName = 'cookie.event'", { a: ids.anonymousId }, 1);
  });

  it('stores nothing in the browser in the cookieless mode: a new anonymous id on every page load', async () => {
    const page = await openTrackerPage(world.site, world.svc, world.context, { options: { persistence: 'memory' } });
    const first = await run(page, "signalhouse.track('memory.event')");
    expect(await page.evaluate(() => [Object.keys(localStorage).length, document.cookie])).toEqual([0, '']);
    await page.reload();
    await loaded(page);
    const second = await run(page, '');
    expect(second.anonymousId).not.toBe(first.anonymousId);
    expect(await page.evaluate(() => [Object.keys(localStorage).length, document.cookie])).toEqual([0, '']);
    const rows = await waitForRows(world.svc, 'AnonymousId IN ({a:String}, {b:String})', { a: first.anonymousId, b: second.anonymousId }, 3);
    expect(rows.map((r) => r.EventName).sort()).toEqual(['memory.event', 'page', 'page']);
  });
});
