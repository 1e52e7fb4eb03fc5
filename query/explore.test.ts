/**
 * The query API (at both its paths): metrics, dimensions and filters against events ingested through
 * the product API, unique users with identity stitching, and hostile field names and values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../test/helpers/service.ts';

let svc: TestService;
const DAY = 86_400_000;
const today = new Date(Math.floor(Date.now() / DAY) * DAY);
const ymd = (d: Date) => d.toISOString().slice(0, 10);
let seq = 0;

async function send(key: string, batch: unknown[]) {
  const res = await fetch(`${svc.url}/v1/batch`, {
    method: 'POST',
    body: JSON.stringify({ batch }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  });
  expect(await res.json()).toEqual({ success: true });
  await svc.settle();
}
const track = (who: Record<string, string>, event: string, properties: Record<string, unknown>, minutesAgo = 30) => ({
  type: 'track',
  ...who,
  event,
  properties,
  messageId: `x-${++seq}`,
  timestamp: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
});

beforeAll(async () => {
  svc = await startTestService();
  await send(ACME_KEY, [
    track({ userId: 'u1' }, 'page_view', { page: '/home', duration: 10 }),
    track({ userId: 'u1' }, 'page_view', { page: '/pricing', duration: 30 }),
    track({ userId: 'u2' }, 'page_view', { page: '/home', duration: 20 }),
    track({ anonymousId: 'a3' }, 'page_view', { page: '/home', duration: 40 }),
    track({ userId: 'u2' }, 'button_clicked', { button: 'signup' }),
    // a3 becomes u3: unique users counts a3 and u3 as one person.
    { type: 'identify', userId: 'u3', anonymousId: 'a3', messageId: `x-${++seq}`, timestamp: new Date(Date.now() - 20 * 60_000).toISOString() },
    track({ userId: 'u3' }, 'page_view', { page: '/docs', duration: 50 }),
  ]);
  await send(GLOBEX_KEY, [track({ userId: 'g1' }, 'page_view', { page: '/home', duration: 999 })]);
});
afterAll(async () => {
  await svc?.close();
});

async function query(body: unknown, token = 'rt_acme_test_token', path = '/v1/analytics/query') {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: await res.json() };
}
const range = { from: ymd(new Date(today.getTime() - DAY)), to: ymd(today) };

describe('query API', () => {
  it('groups by event name and day with count and stitched unique users', async () => {
    const { status, body } = await query({ metrics: ['count', 'unique_users'], dimensions: ['event_name', 'day'], filters: [], dateRange: range });
    expect(status).toBe(200);
    const rows = body.data.rows as Array<Record<string, unknown>>;
    const totals = new Map<string, { count: number; users: number }>();
    for (const r of rows) {
      const t = totals.get(r.event_name as string) ?? { count: 0, users: 0 };
      totals.set(r.event_name as string, { count: t.count + (r.count as number), users: t.users + (r.unique_users as number) });
    }
    // page_view: u1 ×2, u2, a3→u3, u3 → 5 events, 3 people (if all fall on one day).
    expect(totals.get('page_view')!.count).toBe(5);
    expect(totals.get('button_clicked')).toEqual({ count: 1, users: 1 });
    expect(totals.get('identify')!.count).toBe(1);
    expect(body.success).toBe(true);
    // Unique people over the whole range (per-day counts add up only when the events share a day).
    const byName = await query({
      metrics: ['unique_users'],
      dimensions: ['event_name'],
      filters: [{ field: 'event_name', op: 'eq', value: 'page_view' }],
      dateRange: range,
    });
    expect(byName.body.data.rows).toEqual([{ event_name: 'page_view', unique_users: 3 }]);
  });

  it('aggregates attributes, groups by attributes and applies every filter operator', async () => {
    const base = { dimensions: ['page'], dateRange: range };
    const r1 = await query({
      ...base,
      metrics: ['count', { op: 'avg', field: 'duration' }, 'p50(duration)', 'sum(duration)'],
      filters: [{ field: 'event_type', op: 'eq', value: 'page_view' }],
    });
    expect(r1.body.data.rows).toEqual([
      { page: '/docs', count: 1, 'avg(duration)': 50, 'p50(duration)': expect.closeTo(50, 0), 'sum(duration)': 50 },
      { page: '/home', count: 3, 'avg(duration)': expect.closeTo(70 / 3, 6), 'p50(duration)': expect.closeTo(20, 0), 'sum(duration)': 70 },
      { page: '/pricing', count: 1, 'avg(duration)': 30, 'p50(duration)': expect.closeTo(30, 0), 'sum(duration)': 30 },
    ]);
    const count = async (filters: unknown[]) => ((await query({ metrics: ['count'], filters, dateRange: range })).body.data.rows[0] as { count: number }).count;
    expect(await count([{ field: 'page', op: 'neq', value: '/home' }])).toBe(4); // includes events without a page
    expect(await count([{ field: 'page', op: 'in', value: ['/home', '/docs'] }])).toBe(4);
    expect(await count([{ field: 'page', op: 'contains', value: 'PRIC' }])).toBe(1);
    expect(await count([{ field: 'duration', op: 'gt', value: 25 }])).toBe(3);
    expect(
      await count([
        { field: 'duration', op: 'lt', value: 25 },
        { field: 'user_id', op: 'eq', value: 'u1' },
      ]),
    ).toBe(1);
  });

  it('serves the count API and the realtime view', async () => {
    const post = async (path: string, body: unknown) =>
      (
        await fetch(`${svc.url}/api/v1/analytics/${path}`, {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json', authorization: 'Bearer rt_acme_test_token' },
        })
      ).json();
    const from = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const to = new Date().toISOString();
    expect(await post('counts/events', { from, to })).toEqual({ count: 7 });
    expect(await post('counts/events', { from, to, event_name: 'page_view' })).toEqual({ count: 5 });
    const byHour = (await post('counts/events', { from, to, group_by: 'hour' })) as { counts: Array<{ t: string; count: number }> };
    expect(byHour.counts.reduce((n, c) => n + c.count, 0)).toBe(7);
    expect(byHour.counts[0].t).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/);
    expect(await post('counts/users', { from, to })).toEqual({ unique_users: 3 });
    const realtime = await (await fetch(`${svc.url}/api/v1/analytics/metrics/realtime`, { headers: { authorization: 'Bearer rt_acme_test_token' } })).json();
    expect(realtime).toMatchObject({ window_s: 300, events_per_second: 0, metrics: { 'voice.barge_in_count': 0, 'kb.hit_rate': null } });
  });

  it('serves the second path and keeps tenants apart', async () => {
    const { body } = await query(
      { metrics: ['count'], filters: [{ field: 'page', op: 'eq', value: '/home' }], dateRange: range },
      'rt_globex_test_token',
      '/api/analytics/query',
    );
    expect(body).toEqual({ success: true, data: { rows: [{ count: 1 }] } });
  });

  it('treats hostile field names and values as data, and refuses malformed requests', async () => {
    const hostile = ["x'] OR 1=1 --", 'LogAttributes', "') UNION ALL SELECT * FROM system.tables --"];
    for (const h of hostile) {
      const res = await query({ metrics: ['count', { op: 'avg', field: h }], dimensions: [h], filters: [{ field: h, op: 'eq', value: h }], dateRange: range });
      expect(res.status).toBe(200);
      expect(res.body.data.rows).toEqual([]);
    }
    const bad = [
      { metrics: ['drop table'], dateRange: range },
      { metrics: ['count'], filters: [{ field: 'x', op: 'like', value: 'a' }], dateRange: range },
      { metrics: ['count'], dateRange: { from: 'soon', to: range.to } },
      { metrics: [], dateRange: range },
      { metrics: ['count'], dateRange: range, tenant: 'globex' },
    ];
    for (const b of bad) expect((await query(b)).status, JSON.stringify(b)).toBe(400);
    expect((await query({ metrics: ['count'], dateRange: range }, ACME_KEY)).status).toBe(403);
  });
});
