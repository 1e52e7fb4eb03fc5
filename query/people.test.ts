/**
 * Looking up a person in the known web data set (Segment API): by user id and by a linked anonymous id the same
 * person, with traits from identify calls, linked ids and events newest first, including the anonymous ones
 * from before identifying; an unlinked anonymous id; unknown ids, other tenants and hostile input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FROM, TO } from '../test/helpers/catalog-data.ts';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { loadWebData, PAGE_VIEWS, PURCHASES, SIGNUPS, VISITORS } from '../test/helpers/web-data.ts';

let svc: TestService;
async function lookUp(body: Record<string, unknown>, token = 'rt_acme_test_token') {
  const res = await fetch(`${svc.url}/api/v1/analytics/people`, {
    method: 'POST',
    body: JSON.stringify({ from: FROM, to: TO, ...body }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  svc = await startTestService();
  await loadWebData(svc);
});
afterAll(async () => {
  await svc?.close();
});

/** The events of visitor `i`: page views, identify, signup and purchase. */
const eventsOf = (i: number) =>
  PAGE_VIEWS.filter((p) => p.visitor === i).length + (VISITORS[i].user ? 1 : 0) + (SIGNUPS.includes(i) ? 1 : 0) + (PURCHASES.includes(i) ? 1 : 0);

describe('people', () => {
  it('finds a user by user id and by their anonymous id: traits, linked ids, every event newest first', async () => {
    const byUser = await lookUp({ id: 'user-1' });
    expect(byUser.status).toBe(200);
    expect(byUser.body).toMatchObject({
      id: 'user-1',
      user_id: 'user-1',
      anonymous_ids: ['anon-1'],
      identify_calls: 1,
      traits: [
        { key: 'name', value: 'Ada', updated_at: expect.any(String) },
        { key: 'plan', value: 'pro', updated_at: expect.any(String) },
      ],
    });
    expect(Date.parse(byUser.body.first_identified)).toBeGreaterThanOrEqual(Date.parse(FROM));
    const events = byUser.body.events as Array<{ time: string; event_name: string; anonymous_id: string; user_id: string }>;
    expect(events).toHaveLength(eventsOf(0));
    expect(events.map((e) => e.event_name).sort()).toEqual(['identify', 'page', 'page', 'page', 'purchase', 'signup']);
    const times = events.map((e) => Date.parse(e.time));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    // The first page view was anonymous: found through the link.
    expect(events.at(-1)).toMatchObject({ event_name: 'page', anonymous_id: 'anon-1', user_id: '' });
    const byAnon = await lookUp({ id: 'anon-1' });
    expect({ ...byAnon.body, id: 'user-1' }).toEqual(byUser.body);
  });

  it('follows the latest link: an anonymous id identified again as another user moves to that user', async () => {
    const at = (minutes: number) => new Date(Date.parse(FROM) + minutes * 60_000).toISOString();
    const identify = (anonymousId: string, userId: string, minutes: number) => ({
      type: 'identify',
      messageId: `relink-${anonymousId}-${userId}`,
      anonymousId,
      userId,
      traits: {},
      timestamp: at(minutes),
    });
    const res = await fetch(`${svc.url}/v1/batch`, {
      method: 'POST',
      body: JSON.stringify({
        batch: [identify('anon-relink-x', 'user-relink-a', 10), identify('anon-relink-y', 'user-relink-b', 20), identify('anon-relink-x', 'user-relink-b', 30)],
      }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
    });
    expect(res.status).toBe(200);
    const a = await lookUp({ id: 'user-relink-a' });
    expect(a.body).toMatchObject({ user_id: 'user-relink-a', anonymous_ids: [] });
    const b = await lookUp({ id: 'user-relink-b' });
    // Newest link first.
    expect(b.body).toMatchObject({ user_id: 'user-relink-b', anonymous_ids: ['anon-relink-x', 'anon-relink-y'], identify_calls: 2 });
    // By the re-linked anonymous id: its latest user, with that user's anonymous ids.
    const x = await lookUp({ id: 'anon-relink-x' });
    expect({ ...x.body, id: 'user-relink-b' }).toEqual(b.body);
    const y = await lookUp({ id: 'anon-relink-y' });
    expect({ ...y.body, id: 'user-relink-b' }).toEqual(b.body);
  });

  it('finds an anonymous visitor who never identified, with only their events', async () => {
    const { status, body } = await lookUp({ id: 'anon-2' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: 'anon-2', user_id: null, anonymous_ids: ['anon-2'], traits: [], identify_calls: 0, first_identified: null });
    expect(body.events.map((e: { anonymous_id: string }) => e.anonymous_id)).toEqual(['anon-2', 'anon-2']);
  });

  it('keeps to the range, the site and the limit', async () => {
    const limited = await lookUp({ id: 'user-5', limit: 2 });
    expect(limited.body.events.map((e: { event_name: string }) => e.event_name)).toEqual(['purchase', 'signup']);
    const before = await lookUp({ id: 'user-5', from: '2001-01-01', to: '2001-01-02' });
    expect(before.body).toMatchObject({ user_id: 'user-5', anonymous_ids: ['anon-5'], events: [] });
    const otherSite = await lookUp({ id: 'user-5', site_id: 'docs' });
    expect(otherSite.body.events).toEqual([]);
  });

  it("answers 404 for an unknown id, and never finds another tenant's people", async () => {
    const unknown = await lookUp({ id: 'nobody' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/no user with this id/);
    expect((await lookUp({ id: 'globex-anon-1' })).status).toBe(404);
    expect((await lookUp({ id: 'user-1' }, 'rt_globex_test_token')).status).toBe(404);
    expect((await lookUp({ id: 'globex-anon-1' }, 'rt_globex_test_token')).status).toBe(200);
  });

  it('refuses bad requests by path and binds hostile ids as data', async () => {
    expect((await lookUp({ id: 'user-1' }, 'wk_acme_test_key')).status).toBe(403);
    const bad = await lookUp({ id: '', limit: 0, extra: true });
    expect(bad.status).toBe(400);
    for (const path of ['id', 'limit', '(body)']) expect(bad.body.message).toContain(`${path}:`);
    for (const id of ["user-1' OR '1'='1", '__proto__', 'x\\', 'nul\u0000']) expect((await lookUp({ id })).status, id).toBe(404);
  });
});
