/**
 * Property-based tests of the product APIs' decoders (envelope, Segment, PostHog, tracker) over real HTTP into the real
 * store. Random batches with hostile keys and values, some events broken on purpose (too deep, too long, wrong
 * types, not objects): exactly the broken ones are refused by index, and every other event is stored once,
 * field for field as sent. Random bodies, mutated bodies, odd wrappings and headers: never a server error, and
 * the next valid request is served and stored.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENT_STATUSES,
  encodedBody,
  entriesOf,
  eventName,
  FUZZ_KEY,
  keyOf,
  mutatedBytes,
  PROPERTY_SERVICE,
  propertyOptions,
  randomBody,
  send,
  text,
} from '../../test/helpers/hostile.ts';
import { ACME_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService(PROPERTY_SERVICE);
});
afterAll(async () => {
  await svc?.close();
});

/** Keys the mappers read or rename (PostHog's `$` properties, identity keys): random keys stay clear of them. */
const key = keyOf((k) => k.startsWith('$') || k.startsWith('traits.') || ['session.id', 'sessionId', 'distinct_id', 'token'].includes(k));
const value = fc.oneof(
  text(40),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }),
);
const BREAKS = [
  'none',
  'none',
  'none',
  'none',
  'deep',
  'longName',
  'longId',
  'wrongType',
  'missingName',
  'notObject',
  'tooManyAttributes',
  'huge',
  'time',
] as const;
/** Times validation refuses (far from now) or no table holds (before 1970, after 2262, not finite once corrected). */
const FAR_TIMES = [0, -1, 1e300, -1e300, 1.7976931348623157e308, 253402300800000, '9999-12-31T23:59:59Z', '1900-01-01T00:00:00Z', '2262-04-12T00:00:00Z'];
const eventArb = fc.record({
  name: eventName.filter((n) => n !== ''),
  userId: text(20).filter((u) => u !== ''),
  anonymousId: text(20),
  sessionId: text(20),
  properties: fc.array(fc.tuple(key, value), { maxLength: 8 }).map((kvs) => Object.fromEntries(kvs) as Record<string, unknown>),
  /** The event time: this far from now, sent as milliseconds or as ISO 8601 text. */
  offsetMs: fc.integer({ min: -3_600_000, max: 3_600_000 }),
  timeAsText: fc.boolean(),
  farTime: fc.constantFrom(...FAR_TIMES),
  break: fc.constantFrom(...BREAKS),
});
type GenEvent = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

interface Api {
  batchPath: string;
  /** The wire event for a generated one; `id` is its event id, `time` its time. */
  wire(e: GenEvent, id: string, time?: unknown): Record<string, unknown>;
  batch(events: unknown[]): unknown;
  /** Indexes of the events the reply refused. */
  refused(status: number, body: Record<string, unknown>): number[];
  /** Stored fields besides the attributes, and attributes the mapper adds. */
  identity(e: GenEvent): { UserId: string; AnonymousId: string; SessionId: string; extra: Record<string, string> };
  /** PostHog's per-event limit is 1 MiB: a "huge" event there is another deep one. */
  hugeBytes: number;
}

const rejectedIndexes = (body: Record<string, unknown>) => ((body.rejected as Array<{ index: number }> | undefined) ?? []).map((r) => r.index);
const APIS: Record<'envelope' | 'segment' | 'posthog' | 'tracker', Api> = {
  envelope: {
    batchPath: '/api/v1/analytics/events/batch',
    wire: (e, id, time) => ({
      event_id: id,
      occurred_at: time,
      event_name: e.name,
      user_id: e.userId,
      anonymous_id: e.anonymousId,
      session_id: e.sessionId,
      attributes: e.properties,
    }),
    batch: (events) => ({ events }),
    refused: (_status, body) => (body.results as Array<{ index: number; status: string }>).filter((r) => r.status === 'rejected').map((r) => r.index),
    identity: (e) => ({ UserId: e.userId, AnonymousId: e.anonymousId, SessionId: e.sessionId, extra: {} }),
    hugeBytes: 33 * 1024,
  },
  segment: {
    batchPath: '/v1/batch',
    wire: (e, id, time) => ({
      type: 'track',
      timestamp: time,
      messageId: id,
      event: e.name,
      userId: e.userId,
      anonymousId: e.anonymousId,
      properties: e.properties,
    }),
    batch: (events) => ({ batch: events }),
    refused: (_status, body) => rejectedIndexes(body),
    identity: (e) => ({ UserId: e.userId, AnonymousId: e.anonymousId, SessionId: '', extra: {} }),
    hugeBytes: 33 * 1024,
  },
  posthog: {
    batchPath: '/batch/',
    wire: (e, id, time) => ({ uuid: id, timestamp: time, event: e.name, distinct_id: e.userId, properties: { ...e.properties, $session_id: e.sessionId } }),
    batch: (events) => ({ batch: events }),
    refused: (_status, body) => rejectedIndexes(body),
    identity: (e) => ({ UserId: e.userId, AnonymousId: '', SessionId: e.sessionId, extra: { 'session.id': e.sessionId } }),
    hugeBytes: 0,
  },
  tracker: {
    batchPath: '/sh/v1/batch',
    wire: (e, id, time) => ({
      type: 'track',
      timestamp: time,
      messageId: id,
      event: e.name,
      userId: e.userId,
      anonymousId: e.anonymousId,
      sessionId: e.sessionId,
      properties: e.properties,
    }),
    batch: (events) => ({ events }),
    refused: (_status, body) => rejectedIndexes(body),
    // The request's User-Agent header and address come with every event.
    identity: (e) => ({
      UserId: e.userId,
      AnonymousId: e.anonymousId,
      SessionId: e.sessionId,
      extra: { 'user_agent.original': USER_AGENT, 'client.address': '127.0.0.1' },
    }),
    hugeBytes: 33 * 1024,
  },
};
const USER_AGENT = 'property-test';

/** The generated event with its break applied: the wire form, and whether it must be refused. */
function wireEvent(api: Api, e: GenEvent, id: string, timeMs: number): { event: unknown; refused: boolean } {
  const g = { ...e, properties: { ...e.properties } };
  if (e.break === 'deep' || (e.break === 'huge' && api.hugeBytes === 0)) g.properties.deep = JSON.parse(`${'['.repeat(16)}1${']'.repeat(16)}`);
  else if (e.break === 'huge') g.properties.pad = 'p'.repeat(api.hugeBytes);
  else if (e.break === 'longName') g.name = 'e'.repeat(1025);
  else if (e.break === 'longId') g.userId = 'u'.repeat(257);
  else if (e.break === 'tooManyAttributes') for (let i = 0; i < 513; i++) g.properties[`n${i}`] = i;
  const time = e.break === 'time' ? e.farTime : e.timeAsText ? new Date(timeMs).toISOString() : timeMs;
  const event: Record<string, unknown> = api.wire(g, id, time);
  if (e.break === 'wrongType') for (const k of ['user_id', 'userId', 'distinct_id']) if (k in event) event[k] = { id: e.userId };
  if (e.break === 'missingName') for (const k of ['event_name', 'event']) delete event[k];
  return { event: e.break === 'notObject' ? 7 : event, refused: e.break !== 'none' };
}

/** Attribute text as the product APIs store it: strings as they are, other scalars as text, the rest as JSON. */
const asText = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));

let run = 0;

describe('product APIs', () => {
  for (const [name, api] of Object.entries(APIS)) {
    it(`${name}: stores exactly the events that break no rule, once and as sent, and refuses the others by index`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 6 }), async (events) => {
          const prefix = `${name}-${++run}`;
          const now = Date.now();
          const wire = events.map((e, i) => wireEvent(api, e, `${prefix}-${i}`, now + e.offsetMs));
          const res = await send(`${svc.url}${api.batchPath}`, JSON.stringify(api.batch(wire.map((w) => w.event))), {
            'content-type': 'application/json',
            'user-agent': USER_AGENT,
            authorization: `Bearer ${ACME_KEY}`,
          });
          const refused = wire.flatMap((w, i) => (w.refused ? [i] : []));
          expect(res.status).toBe(name !== 'envelope' && refused.length === events.length ? 400 : 200);
          expect(api.refused(res.status, JSON.parse(res.text))).toEqual(refused);
          const rows = await svc.rows<{
            EventId: string;
            ms: string;
            EventName: string;
            UserId: string;
            AnonymousId: string;
            SessionId: string;
            LogAttributes: Record<string, string>;
          }>(
            'SELECT EventId, toString(toUnixTimestamp64Milli(Timestamp)) AS ms, EventName, UserId, AnonymousId, SessionId, LogAttributes FROM signalhouse.otel_logs WHERE TenantId = {t:String} AND startsWith(EventId, {p:String}) ORDER BY EventId',
            { t: 'acme', p: `${prefix}-` },
          );
          // What the server parsed: the sent JSON read back, so numbers and nested values compare as the server saw them.
          const sent = JSON.parse(JSON.stringify(events.map((e) => e.properties))) as Record<string, unknown>[];
          const want = events.flatMap((e, i) => {
            if (wire[i].refused) return [];
            const { extra, ...identity } = api.identity(e);
            const attributes = Object.entries(sent[i])
              .filter(([, v]) => v !== null)
              .map(([k, v]) => [k, asText(v)] as const);
            return [
              {
                EventId: `${prefix}-${i}`,
                ms: String(now + e.offsetMs),
                EventName: e.name,
                ...identity,
                LogAttributes: entriesOf(new Map([...attributes, ...Object.entries(extra)])),
              },
            ];
          });
          expect(rows.map((r) => ({ ...r, LogAttributes: entriesOf(r.LogAttributes) }))).toEqual(want.sort((a, b) => (a.EventId < b.EventId ? -1 : 1)));
        }),
        propertyOptions(30),
      );
    });
  }
});

// ---- random and mutated bodies ----------------------------------------------------------------------------------------

const PATHS = {
  envelope: ['/api/v1/analytics/events', '/api/v1/analytics/events/batch', '/api/analytics/track', '/api/analytics/track/batch'],
  segment: [
    '/v1/track',
    '/v1/identify',
    '/v1/page',
    '/v1/screen',
    '/v1/group',
    '/v1/alias',
    '/v1/batch',
    '/v1/analytics/track',
    '/v1/analytics/batch',
    '/v1/t',
    '/v1/p',
    '/v1/b',
  ],
  posthog: [
    '/capture/',
    '/batch/',
    '/e/?compression=base64',
    '/e/?compression=gzip-js',
    '/i/v0/e/?compression=base64&compression=gzip-js',
    '/e/?compression=lz64',
    '/e?ver=1.0&_=1',
  ],
  tracker: ['/sh/v1/batch'],
};
const FIELDS = [
  'event_id',
  'event_name',
  'user_id',
  'session_id',
  'attributes',
  'context',
  'occurred_at',
  'tenant_id',
  'source',
  'type',
  'event',
  'userId',
  'anonymousId',
  'messageId',
  'properties',
  'traits',
  'timestamp',
  'sentAt',
  'uuid',
  'distinct_id',
  'batch',
  'events',
  'api_key',
  '__proto__',
];
/** A valid-looking event whose fields hold random JSON of any type. */
const typeConfused = fc.dictionary(fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 });

const validBatch = (api: Api) =>
  fc
    .array(
      eventArb.filter((e) => e.break === 'none'),
      { minLength: 1, maxLength: 4 },
    )
    .map((events) => Buffer.from(JSON.stringify(api.batch(events.map((e, i) => api.wire(e, `mut-${i}`))))));

const hostileRequest = fc.constantFrom(...(Object.keys(APIS) as Array<keyof typeof APIS>)).chain((name) =>
  fc.record({
    name: fc.constant(name),
    path: fc.constantFrom(...PATHS[name]),
    contentType: fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/xml', ''),
    auth: fc.constantFrom(`Bearer ${FUZZ_KEY}`, `Bearer ${FUZZ_KEY}`, `Basic ${Buffer.from(`${FUZZ_KEY}:`).toString('base64')}`, 'Bearer nope', ''),
    body: fc
      .oneof(
        validBatch(APIS[name]).chain(mutatedBytes),
        randomBody,
        fc.array(typeConfused, { maxLength: 3 }).map((events) => Buffer.from(JSON.stringify(APIS[name].batch(events)))),
        typeConfused.map((e) => Buffer.from(JSON.stringify(e))),
        fc.string({ unit: 'binary-ascii', maxLength: 64 }).map((s) => Buffer.from(`data=${s}&compression=base64`)),
      )
      .chain(encodedBody),
  }),
);

const PROBES = {
  envelope: { path: '/api/v1/analytics/events', body: (id: string) => ({ event_id: id, event_name: 'probe' }) },
  segment: { path: '/v1/track', body: (id: string) => ({ messageId: id, event: 'probe', userId: 'u' }) },
  posthog: { path: '/capture/', body: (id: string) => ({ uuid: id, event: 'probe', distinct_id: 'u' }) },
  tracker: { path: '/sh/v1/batch', body: (id: string) => ({ events: [{ type: 'track', messageId: id, event: 'probe', anonymousId: 'a' }] }) },
};

describe('product APIs: hostile bodies', () => {
  it('never answer a random, mutated or type-confused body with a server error, and serve and store the next valid request', async () => {
    let probes = 0;
    await fc.assert(
      fc.asyncProperty(hostileRequest, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.auth) headers.authorization = r.auth;
        if (r.body.encoding) headers['content-encoding'] = r.body.encoding;
        const res = await send(`${svc.url}${r.path}`, r.body.body, headers);
        expect(CLIENT_STATUSES, res.text).toContain(res.status);
        const probe = PROBES[r.name];
        const next = await send(`${svc.url}${probe.path}`, JSON.stringify(probe.body(`probe-product-${++probes}`)), {
          'content-type': 'application/json',
          authorization: `Bearer ${FUZZ_KEY}`,
        });
        expect(next.status).toBeLessThan(300);
      }),
      propertyOptions(150, 12),
    );
    const [stored] = await svc.rows<{ n: string; ids: string }>(
      "SELECT count() AS n, uniqExact(EventId) AS ids FROM signalhouse.otel_logs WHERE TenantId = 'fuzz' AND startsWith(EventId, 'probe-product-')",
    );
    expect([Number(stored.n), Number(stored.ids)]).toEqual([probes, probes]);
  });
});
