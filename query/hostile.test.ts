/**
 * Hostile values on every query endpoint, against events ingested through the Segment and envelope APIs: times
 * at and past what the event columns hold, fractions of a millisecond and loose time text; names that are
 * Object.prototype's members, quotes, backslashes, NUL, unicode and the longest allowed, as event names, step
 * names, breakdowns, site ids, dimensions, filters and aggregate fields; and what a client sees when storage
 * fails: a generic reply with a request id, the engine's message only in the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { MAX_TIME_MS, MIN_TIME_MS } from './fields.ts';

let svc: TestService;
const NOW = Date.now();
const FROM = new Date(NOW - 2 * 3_600_000).toISOString();
const TO = new Date(NOW + 60_000).toISOString();
const NAMES = [
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  "it's",
  'say "hi"',
  'back\\slash\\',
  "\\'",
  'nul\u0000byte',
  'ünïcödé 😀 日本',
  'x'.repeat(256),
];
let seq = 0;

async function post(path: string, body: unknown, key: string) {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
async function query(path: string, body: unknown) {
  const r = await post(path, body, 'rt_acme_test_token');
  return { ...r, body: JSON.parse(r.text) };
}

beforeAll(async () => {
  svc = await startTestService({}, { captureLogs: true });
  const minutesAgo = (m: number) => new Date(NOW - m * 60_000).toISOString();
  // Person i does NAMES[i] (attribute NAMES[i] = "v<i>", amount = i), then "hostile.next"; each name is also a site.
  const batch = NAMES.flatMap((name, i) => [
    { type: 'track', userId: `u${i}`, event: name, properties: { [name]: `v${i}`, amount: i }, messageId: `h-${++seq}`, timestamp: minutesAgo(30) },
    { type: 'track', userId: `u${i}`, event: 'hostile.next', messageId: `h-${++seq}`, timestamp: minutesAgo(20) },
  ]);
  const segment = await post('/v1/batch', { batch }, ACME_KEY);
  expect(segment.text).toBe('{"success":true}');
  const events = NAMES.map((name) => ({
    event_id: `h-${++seq}`,
    event_name: 'voice.barge_in',
    occurred_at: minutesAgo(10),
    site_id: name,
    attributes: { 'voice.turn_id': 't' },
  }));
  const envelope = await post('/api/v1/analytics/events/batch', { events }, ACME_KEY);
  expect(JSON.parse(envelope.text).rejected, envelope.text.slice(0, 400)).toBe(0);
  await svc.settle();
});
afterAll(async () => {
  await svc?.close();
});

const TOTAL = NAMES.length * 3;

describe('times', () => {
  const bodies = (from: unknown, to: unknown): Array<[string, unknown]> => [
    ['/v1/analytics/query', { metrics: ['count', 'unique_users', 'p95(amount)'], dimensions: ['day'], dateRange: { from, to } }],
    ['/api/v1/analytics/counts/events', { from, to, group_by: 'week' }],
    ['/api/v1/analytics/counts/users', { from, to }],
    ['/api/v1/analytics/reports/summary', { from, to, source: 'raw' }],
    ['/api/v1/analytics/reports/summary', { from, to, source: 'rollup' }],
    ['/api/v1/analytics/reports/funnel', { steps: [NAMES[0], 'hostile.next'], from, to, breakdown: NAMES[0] }],
  ];

  it('refuses, with 400 naming the span, times the event columns cannot hold', async () => {
    const outside = [
      MIN_TIME_MS - 1,
      MAX_TIME_MS + 1,
      2 ** 53 + 2,
      -(2 ** 53) - 2,
      1e20,
      -1e20,
      '0000-01-01',
      '0001-01-01T00:00:00Z',
      '1899-12-31T23:59:59.999Z',
      '2262-04-12',
      '9999-12-31T23:59:59Z',
    ];
    for (const t of outside) {
      for (const [path, body] of [...bodies(t, TO), ...bodies(FROM, t)]) {
        const r = await query(path, body);
        expect(r.status, `${path} ${JSON.stringify(body)}: ${r.text}`).toBe(400);
        expect(r.body.message).toContain('must be between 1900-01-01T00:00:00.000Z and 2262-04-11T23:47:16.854Z');
      }
    }
    const r = await query('/api/v1/analytics/reports/timeseries', { metric: 'voice.barge_in_count', grain: '1w', from: MAX_TIME_MS - 86_400_000, to: 1e20 });
    expect(r.status).toBe(400);
  });

  it('answers ranges reaching the first and last times the columns hold, with every event in them', async () => {
    for (const [from, to] of [
      [MIN_TIME_MS, MAX_TIME_MS],
      [new Date(MIN_TIME_MS).toISOString(), '2262-04-11'],
    ] as const) {
      const [explore, events, users, raw, rollup, funnel] = await Promise.all(bodies(from, to).map(([path, body]) => query(path, body)));
      for (const r of [explore, events, users, raw, rollup, funnel]) expect(r.status, r.text).toBe(200);
      expect(explore.body.data.rows.reduce((n: number, row: { count: number }) => n + row.count, 0)).toBe(TOTAL);
      expect(events.body.counts.reduce((n: number, c: { count: number }) => n + c.count, 0)).toBe(TOTAL);
      expect(users.body).toEqual({ unique_users: NAMES.length });
      expect(raw.body.metrics['voice.barge_in_count']).toBe(NAMES.length);
      expect(rollup.body.metrics['voice.barge_in_count']).toBe(NAMES.length);
      expect(funnel.body.steps.map((s: { count: number }) => s.count)).toEqual([1, 1]);
    }
    for (const [from, to] of [
      [MIN_TIME_MS, MIN_TIME_MS + 86_400_000],
      [MAX_TIME_MS - 86_400_000, MAX_TIME_MS],
    ]) {
      for (const source of ['raw', 'rollup']) {
        const r = await query('/api/v1/analytics/reports/timeseries', { metric: 'voice.barge_in_count', grain: '1h', from, to, source });
        expect(r.status, r.text).toBe(200);
        expect(r.body.points.length).toBeGreaterThanOrEqual(24);
      }
    }
  });

  it('takes fractions of a millisecond, as numbers or text, as the millisecond they fall in', async () => {
    const from = Date.parse(FROM);
    const to = Date.parse(TO);
    const wholes = bodies(from, to);
    for (const [i, [path, body]] of bodies(from + 0.5, to + 0.25).entries()) {
      const [fractional, whole] = await Promise.all([query(path, body), query(...wholes[i])]);
      expect(fractional.status, fractional.text).toBe(200);
      expect(fractional.body).toEqual(whole.body);
    }
    const micro = await query('/api/v1/analytics/counts/events', { from: FROM.replace('Z', '123Z'), to: TO.replace('Z', '999Z') });
    expect(micro.body).toEqual({ count: TOTAL });
    const timeseries = await query('/api/v1/analytics/reports/timeseries', { metric: 'voice.barge_in_count', grain: '1m', from: from + 0.5, to: to + 0.5 });
    expect(timeseries.status, timeseries.text).toBe(200);
    expect(timeseries.body.points.reduce((n: number, p: { value: number | null }) => n + (p.value ?? 0), 0)).toBe(NAMES.length);
  });

  it('reads only ISO 8601 text, a time without an offset as UTC', async () => {
    for (const t of [
      '1',
      '12',
      'March 7',
      '2025-02-30',
      '2025-02-29',
      '2025-13-01',
      '2025-11-30T24:00:00Z',
      '2025-11-30T10:60Z',
      ' 2025-11-30',
      '2025-11-30T10:00:00+25:00',
      '1700000000000',
    ]) {
      const r = await query('/api/v1/analytics/counts/events', { from: t, to: TO });
      expect(r.status, `${t}: ${r.text}`).toBe(400);
      expect(r.body.message).toContain('must be an ISO 8601 time');
    }
    const day = FROM.slice(0, 10);
    const forms = [
      `${day}T00:00:00Z`,
      `${day}T00:00`,
      `${day} 00:00:00`,
      `${day}t00:00:00.000z`,
      `${day}T05:30:00+05:30`,
      `${day}T05:30:00+0530`,
      `${day}T00:00:00,000-00:00`,
    ];
    const answers = await Promise.all(forms.map((from) => query('/api/v1/analytics/counts/events', { from, to: TO })));
    for (const [i, r] of answers.entries()) expect(r.body, forms[i]).toEqual(answers[0].body);
    expect(answers[0].body).toEqual({ count: TOTAL });
  });
});

describe('names', () => {
  it('are data as event names, step names, breakdowns and site ids', async () => {
    for (const [i, name] of NAMES.entries()) {
      expect((await query('/api/v1/analytics/counts/events', { from: FROM, to: TO, event_name: name })).body, name).toEqual({ count: 1 });
      const funnel = await query('/api/v1/analytics/reports/funnel', { steps: [name, 'hostile.next'], from: FROM, to: TO, breakdown: name, mode: 'strict' });
      expect(funnel.status, funnel.text).toBe(200);
      expect(
        funnel.body.breakdown.map((b: { value: string; steps: Array<{ name: string; count: number }> }) => [b.value, b.steps.map((s) => [s.name, s.count])]),
      ).toEqual([
        [
          `v${i}`,
          [
            [name, 1],
            ['hostile.next', 1],
          ],
        ],
      ]);
      const site = await query('/api/v1/analytics/reports/summary', { from: FROM, to: TO, site_id: name, metrics: ['voice.barge_in_count'], source: 'raw' });
      expect(site.body, name).toEqual({ metrics: { 'voice.barge_in_count': 1 } });
      const series = await query('/api/v1/analytics/reports/timeseries', { metric: 'voice.barge_in_count', grain: '1h', from: FROM, to: TO, site_id: name });
      expect(
        series.body.points.reduce((n: number, p: { value: number | null }) => n + (p.value ?? 0), 0),
        name,
      ).toBe(1);
    }
  });

  it("are data as the query API's dimensions, filters and aggregate fields", async () => {
    for (const [i, name] of NAMES.entries()) {
      const r = await query('/v1/analytics/query', {
        metrics: ['count', { op: 'sum', field: name }, { op: 'p50', field: 'amount' }],
        dimensions: [name],
        filters: [
          { field: name, op: 'in', value: [`v${i}`] },
          { field: name, op: 'contains', value: `V${i}` },
          { field: 'amount', op: 'lt', value: 1e20 },
        ],
        dateRange: { from: FROM, to: TO },
      });
      expect(r.status, r.text).toBe(200);
      expect(r.body.data.rows, name).toEqual([{ [name]: `v${i}`, count: 1, [`sum(${name})`]: 0, 'p50(amount)': expect.closeTo(i, 0) }]);
    }
    // Object.prototype's own names: nothing has them, and they are keys like any other in the reply.
    for (const name of ['__proto__', 'constructor', 'toString', 'prototype', '__defineGetter__']) {
      const r = await query('/v1/analytics/query', {
        metrics: ['count', `sum(${name})`, { op: 'avg', field: name }],
        dimensions: [name],
        filters: [
          { field: name, op: 'neq', value: 'zzz' },
          { field: name, op: 'gt', value: -1e300 },
        ],
        dateRange: { from: FROM, to: TO },
      });
      expect(r.status, r.text).toBe(200);
      expect(r.body.data.rows).toEqual([]); // no event holds a number under these names

      const grouped = await query('/v1/analytics/query', {
        metrics: ['count'],
        dimensions: [name, 'event_name'],
        filters: [{ field: 'event_name', op: 'eq', value: 'hostile.next' }],
        dateRange: { from: FROM, to: TO },
      });
      expect(grouped.status, grouped.text).toBe(200);
      expect(grouped.text).toBe(`{"success":true,"data":{"rows":[{${JSON.stringify(name)}:"","event_name":"hostile.next","count":${NAMES.length}}]}}`);
    }
  });

  it('longer than allowed are refused with 400', async () => {
    const long = 'y'.repeat(257);
    const bodies: Array<[string, unknown]> = [
      ['/v1/analytics/query', { metrics: ['count'], dimensions: [long], dateRange: { from: FROM, to: TO } }],
      ['/v1/analytics/query', { metrics: ['count'], filters: [{ field: long, op: 'eq', value: 'a' }], dateRange: { from: FROM, to: TO } }],
      ['/v1/analytics/query', { metrics: [`sum(${long})`], dateRange: { from: FROM, to: TO } }],
      ['/api/v1/analytics/reports/funnel', { steps: [long, 'a'], from: FROM, to: TO }],
      ['/api/v1/analytics/reports/funnel', { steps: ['a', 'b'], breakdown: long, from: FROM, to: TO }],
      ['/api/v1/analytics/reports/summary', { site_id: long, from: FROM, to: TO }],
    ];
    for (const [path, body] of bodies) expect((await query(path, body)).status, path).toBe(400);
  });
});

describe('errors from storage', () => {
  it('reach the client as a generic reply with a request id, and the log in full', async () => {
    await svc.settle();
    const client = svc.service.store.client;
    await client.command({ query: 'RENAME TABLE signalhouse.rollup_1m TO signalhouse.rollup_1m_away' });
    let r: Awaited<ReturnType<typeof query>>;
    try {
      r = await query('/api/v1/analytics/reports/summary', { from: FROM, to: TO, source: 'rollup' });
    } finally {
      await client.command({ query: 'RENAME TABLE signalhouse.rollup_1m_away TO signalhouse.rollup_1m' });
    }
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ error: 'INTERNAL', message: 'internal error', request_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(r.headers.get('x-request-id')).toBe(r.body.request_id);
    const logged = svc.logs.find((l) => l.request_id === r.body.request_id);
    expect(logged?.msg).toBe('request failed');
    expect(JSON.stringify(logged)).toContain('rollup_1m');
    // The store answers again, through the same endpoint.
    expect((await query('/api/v1/analytics/reports/summary', { from: FROM, to: TO, source: 'rollup', metrics: ['voice.barge_in_count'] })).body).toEqual({
      metrics: { 'voice.barge_in_count': NAMES.length },
    });
  });
});
