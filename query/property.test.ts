/**
 * Property-based tests of every query endpoint's request schema against a real service holding the catalog's
 * data set plus events whose attribute values are hostile numbers (inf, nan, 1e308, text). Valid bodies answer
 * 200; mutations of valid bodies and random JSON never answer 5xx, their 4xx bodies never carry SQL or the
 * engine's text, and the service answers the next valid request. Fixed seed, bounded runs and time.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogData } from '../test/helpers/catalog-data.ts';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { propertyOptions } from '../test/helpers/hostile.ts';
import { METRICS } from './catalog.ts';
import { MAX_TIME_MS, MIN_TIME_MS } from './fields.ts';

let svc: TestService;
const NOW = Date.now();
const HOUR = 3_600_000;
const RUNS = propertyOptions(120, 6);

beforeAll(async () => {
  svc = await startTestService();
  await loadCatalogData(svc);
  const values = ['inf', '-inf', 'nan', '1e308', '-1e308', '', '-0', 'abc', '0x10', '9007199254740993', '1e-320'];
  const batch = values.map((amount, i) => ({
    type: 'track',
    userId: `p${i % 4}`,
    event: i % 2 ? 'prop.a' : "prop.'b\\",
    properties: { amount, constructor: amount, 'nul\u0000key': i },
    messageId: `prop-${i}`,
    timestamp: new Date(NOW - (i + 1) * 60_000).toISOString(),
  }));
  const res = await fetch(`${svc.url}/v1/batch`, {
    method: 'POST',
    body: JSON.stringify({ batch }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
  });
  expect(await res.json()).toEqual({ success: true });
  await svc.settle();
});
afterAll(async () => {
  await svc?.close();
});

async function post(path: string, body: unknown) {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: 'Bearer rt_acme_test_token' },
  });
  return { status: res.status, text: await res.text() };
}

// --- arbitraries -------------------------------------------------------------------------------------------

const hostileText = fc.oneof(
  fc.constantFrom(
    'constructor',
    '__proto__',
    'toString',
    'valueOf',
    'prototype',
    "'",
    '"',
    '\\',
    "\\'",
    '\u0000',
    '\ud800',
    '\udfff',
    '😀',
    '日本',
    '{p0:String}',
    "') OR 1=1 --",
    'SELECT 1',
    'amount',
    'event_name',
    'day',
    'nul\u0000key',
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.string({ unit: fc.constantFrom("'", '\\', '\u0000', '"', '\n', '(', ')', '{', '}', ':', '\ud800', 'é'), minLength: 1, maxLength: 20 }),
);
/** A name as request fields take it: 1–256 characters. */
const name = fc.oneof(hostileText, fc.constantFrom('amount', 'user_id', 'event_type', 'site_id', 'x'.repeat(256)));
const parenFree = name.filter((n) => !n.includes('(') && !n.includes(')'));
const scalar = fc.oneof(
  hostileText,
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.boolean(),
  fc.constantFrom(2 ** 53 + 2, -(2 ** 53) - 2, 1e20, -0, 1e308, 5e-324),
);

/** A time the columns hold, in one of the API's forms; `ms` is what it means. */
const time = fc
  .integer({ min: MIN_TIME_MS, max: MAX_TIME_MS - HOUR })
  .chain((ms) =>
    fc.constantFrom(
      { ms, v: ms as number | string },
      { ms, v: new Date(ms).toISOString() },
      { ms, v: ms + 0.75 },
      { ms, v: new Date(ms).toISOString().replace('Z', '+00:00') },
    ),
  );
const recent = fc.integer({ min: NOW - 6 * HOUR, max: NOW }).map((ms) => ({ ms, v: ms as number | string }));
const anyTime = fc.oneof(time, recent);
/** Two times in order, at least a millisecond apart. */
const range = fc
  .tuple(
    anyTime,
    fc.oneof(
      anyTime,
      fc.integer({ min: 1, max: 90 * 86_400_000 }).map((d) => ({ ms: NaN, v: d })),
    ),
  )
  .map(([a, b]) => {
    if (Number.isNaN(b.ms)) return { from: a.v, to: Math.min(a.ms + (b.v as number), MAX_TIME_MS) };
    if (a.ms === b.ms) return { from: a.v, to: a.ms + 1 };
    return a.ms < b.ms ? { from: a.v, to: b.v } : { from: b.v, to: a.v };
  })
  .filter((r) => timeMs(r.to) > timeMs(r.from));
function timeMs(v: number | string): number {
  return Math.floor(typeof v === 'number' ? v : Date.parse(v));
}

const OPS = ['sum', 'avg', 'p50', 'p95', 'p99'] as const;
const exploreMetric = fc.oneof(
  fc.constantFrom('count', 'unique_users'),
  fc.record({ op: fc.constantFrom(...OPS), field: name }),
  fc.tuple(fc.constantFrom(...OPS), parenFree).map(([op, f]) => `${op}(${f})`),
);
const filter = fc.oneof(
  fc.record({ field: name, op: fc.constantFrom('eq', 'neq', 'contains'), value: fc.oneof(hostileText, fc.integer(), fc.boolean()) }),
  fc.record({ field: name, op: fc.constant('in'), value: fc.array(fc.oneof(hostileText, fc.integer()), { minLength: 1, maxLength: 5 }) }),
  fc.record({
    field: name,
    op: fc.constantFrom('gt', 'lt'),
    value: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(1e20, -1e300, 2 ** 60)),
  }),
);
const exploreBody = fc.record(
  {
    metrics: fc.array(exploreMetric, { minLength: 1, maxLength: 4 }),
    dimensions: fc.array(fc.oneof(name, fc.constantFrom('day', 'hour', 'week', 'event_name')), { maxLength: 3 }),
    filters: fc.array(filter, { maxLength: 3 }),
    dateRange: range,
    limit: fc.integer({ min: 1, max: 10_000 }),
  },
  { requiredKeys: ['metrics', 'dateRange'] },
);
const steps = fc.array(fc.oneof(name, fc.constantFrom('commerce.view', 'commerce.checkout', 'prop.a', "prop.'b\\")), { minLength: 2, maxLength: 5 });
const funnelBody = fc
  .record(
    {
      steps,
      window: fc.integer({ min: 1, max: 90 * 86_400 }),
      mode: fc.constantFrom('ordered', 'strict', 'unordered'),
      breakdown: name,
      site_id: name,
      from: fc.constant(0),
      to: fc.constant(0),
    },
    { requiredKeys: ['steps', 'from', 'to'] },
  )
  .chain((b) => range.map((r) => ({ ...b, ...r })));
const GRAINS = { '1m': 60_000, '5m': 300_000, '1h': HOUR, '1d': 86_400_000, '1w': 604_800_000 } as const;
const timeseriesBody = fc
  .tuple(
    fc.constantFrom(...METRICS.map((m) => m.name)),
    fc.constantFrom(...(Object.keys(GRAINS) as Array<keyof typeof GRAINS>)),
    anyTime,
    fc.integer({ min: 1, max: 10_000 }),
    fc.option(name, { nil: undefined }),
    fc.constantFrom('auto', 'raw', 'rollup'),
  )
  .map(([metric, grain, from, points, site, source]) => {
    // Whole buckets from an aligned start, so the range never asks for more points than allowed.
    const start = Math.ceil(from.ms / GRAINS[grain]) * GRAINS[grain];
    const to = Math.min(start + points * GRAINS[grain], MAX_TIME_MS);
    return { metric, grain, from: start, to, source, ...(site === undefined ? {} : { site_id: site }) };
  })
  .filter((b) => b.to > b.from);
const summaryBody = fc
  .record(
    {
      metrics: fc.subarray(
        METRICS.map((m) => m.name),
        { minLength: 1 },
      ),
      site_id: name,
      source: fc.constantFrom('auto', 'raw', 'rollup'),
    },
    { requiredKeys: [] },
  )
  .chain((b) => range.map((r) => ({ ...b, ...r })));
// A few metrics and points per body: the property's time budget is shared by every endpoint.
const overviewBody = fc
  .tuple(
    fc.subarray(
      METRICS.map((m) => m.name),
      { minLength: 1, maxLength: 3 },
    ),
    fc.constantFrom(...(Object.keys(GRAINS) as Array<keyof typeof GRAINS>)),
    anyTime,
    fc.integer({ min: 1, max: 200 }),
    fc.constantFrom('auto', 'raw', 'rollup'),
  )
  .map(([metrics, grain, from, points, source]) => {
    const start = Math.ceil(from.ms / GRAINS[grain]) * GRAINS[grain];
    return { metrics, grain, from: start, to: Math.min(start + points * GRAINS[grain], MAX_TIME_MS), source };
  })
  .filter((b) => b.to > b.from);
const breakdownBody = fc
  .record(
    {
      fields: fc.array(fc.oneof(name, fc.constantFrom('event_name', 'url.path', 'geo.country.iso_code')), { minLength: 1, maxLength: 4 }),
      event_names: fc.array(fc.oneof(name, fc.constantFrom('prop.a', "prop.'b\\")), { minLength: 1, maxLength: 3 }),
      limit: fc.integer({ min: 1, max: 100 }),
      site_id: name,
    },
    { requiredKeys: ['fields'] },
  )
  .chain((b) => range.map((r) => ({ ...b, ...r })));
const peopleBody = fc
  .record({ id: fc.oneof(name, fc.constantFrom('p0', 'p1')), limit: fc.integer({ min: 1, max: 200 }), site_id: name }, { requiredKeys: ['id'] })
  .chain((b) => range.map((r) => ({ ...b, ...r })));
const countsBody = fc
  .record({ group_by: fc.constantFrom('hour', 'day', 'week'), event_name: name }, { requiredKeys: [] })
  .chain((b) => range.map((r) => ({ ...b, ...r })));
const usersBody = range;

/** Every endpoint with a body, and how its valid bodies are made. */
const ENDPOINTS: Array<[string, fc.Arbitrary<unknown>]> = [
  ['/v1/analytics/query', exploreBody],
  ['/api/analytics/query', exploreBody],
  ['/api/v1/analytics/reports/funnel', funnelBody],
  ['/api/v1/analytics/reports/timeseries', timeseriesBody],
  ['/api/v1/analytics/reports/summary', summaryBody],
  ['/api/v1/analytics/reports/overview', overviewBody],
  ['/api/v1/analytics/reports/breakdown', breakdownBody],
  ['/api/v1/analytics/people', peopleBody],
  ['/api/v1/analytics/counts/events', countsBody],
  ['/api/v1/analytics/counts/users', usersBody],
];
const validRequest = fc.oneof(...ENDPOINTS.map(([path, body]) => body.map((b) => ({ path, body: b }))));

type Json = unknown;
/** Every path into a JSON value (keys and indices), the value itself included as []. */
function paths(v: Json, at: Array<string | number> = []): Array<Array<string | number>> {
  const out = [at];
  if (Array.isArray(v))
    v.forEach((x, i) => {
      out.push(...paths(x, [...at, i]));
    });
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}
/** `v` with the value at `path` replaced (or removed when `value` is the REMOVE marker), as a copy. */
const REMOVE = Symbol('remove');
function replaceAt(v: Json, path: Array<string | number>, value: Json | typeof REMOVE): Json {
  if (path.length === 0) return value === REMOVE ? {} : value;
  const [head, ...rest] = path;
  const copy = (Array.isArray(v) ? [...v] : { ...(v as object) }) as Record<string | number, Json>;
  if (rest.length === 0 && value === REMOVE) {
    if (Array.isArray(copy)) copy.splice(head as number, 1);
    else delete copy[head];
  } else copy[head] = replaceAt(copy[head], rest, value);
  return copy;
}
const replacement: fc.Arbitrary<Json | typeof REMOVE> = fc.oneof(
  fc.constant(REMOVE),
  scalar,
  fc.constantFrom(null, [], {}, '', 0, -1, 0.5, MIN_TIME_MS - 1, MAX_TIME_MS + 1, '0000-01-01', '9999-12-31', '2025-02-30', 'x'.repeat(300), ['x'.repeat(300)]),
  fc.jsonValue({ maxDepth: 2 }),
);
/** A valid request with one part changed, removed, or an unknown field added. */
const mutatedRequest = validRequest.chain(({ path, body }) =>
  fc.oneof(
    fc.tuple(fc.constantFrom(...paths(body)), replacement).map(([at, value]) => ({ path, body: replaceAt(body, at, value) })),
    fc.tuple(hostileText, scalar).map(([key, value]) => ({ path, body: { ...(body as object), [key]: value } })),
  ),
);
const randomRequest = fc
  .tuple(fc.constantFrom(...ENDPOINTS.map(([p]) => p)), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.object({ maxDepth: 2 })))
  .map(([path, body]) => ({ path, body }));

// --- properties --------------------------------------------------------------------------------------------

/** Text that would mean SQL or the engine's message reached a client. */
const LEAK = /\bSELECT\b|\bFROM\b|\bWHERE\b|Code: \d|DB::Exception|otel_logs|otel_traces|rollup_1m|\{[a-z0-9_]+:(String|Int64|UInt32|UInt64|Float64|Array)/g;
/** What of LEAK a reply holds that its request did not (a refusal may quote the request's own fields). */
function leaks(reply: string, body: unknown): string[] {
  const request = JSON.stringify(body);
  return [...reply.matchAll(LEAK)].map((m) => m[0]).filter((m) => !request.includes(m));
}

async function nextValidAnswers(): Promise<void> {
  const r = await post('/api/v1/analytics/counts/events', { from: NOW - 6 * HOUR, to: NOW + 60_000 });
  expect(r.status, r.text).toBe(200);
}

describe('query API request schemas', () => {
  it('answer every valid body with 200 and JSON', async () => {
    await fc.assert(
      fc.asyncProperty(validRequest, async ({ path, body }) => {
        const r = await post(path, body);
        // A person the range holds no event of is a 404 with its reason, as the API says.
        const answers = path === '/api/v1/analytics/people' ? [200, 404] : [200];
        expect(answers, `${path} ${JSON.stringify(body)}: ${r.text.slice(0, 300)}`).toContain(r.status);
        expect(() => JSON.parse(r.text)).not.toThrow();
      }),
      RUNS,
    );
  });

  it('never answer a mutated valid body with 5xx, nor 4xx with SQL or engine text', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedRequest, async ({ path, body }) => {
        const r = await post(path, body);
        expect(r.status, `${path} ${JSON.stringify(body)}: ${r.text.slice(0, 300)}`).toBeLessThan(500);
        expect(leaks(r.text, body)).toEqual([]);
        await nextValidAnswers();
      }),
      RUNS,
    );
  });

  it('never answer random JSON with 5xx, nor 4xx with SQL or engine text', async () => {
    await fc.assert(
      fc.asyncProperty(randomRequest, async ({ path, body }) => {
        const r = await post(path, body);
        expect(r.status, `${path} ${JSON.stringify(body)}: ${r.text.slice(0, 300)}`).toBeLessThan(500);
        expect(leaks(r.text, body)).toEqual([]);
        await nextValidAnswers();
      }),
      RUNS,
    );
  });

  it('answer the realtime view after all of it', async () => {
    const res = await fetch(`${svc.url}/api/v1/analytics/metrics/realtime`, { headers: { authorization: 'Bearer rt_acme_test_token' } });
    expect(res.status).toBe(200);
    expect((await res.json()).window_s).toBe(300);
  });
});
