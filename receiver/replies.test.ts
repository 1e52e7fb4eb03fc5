/**
 * Every receiver's reply agrees with its per-event results and with what was stored. Batches mix new events,
 * repeats of events stored earlier (and of events earlier in the same batch), events without analytics consent,
 * events the receiver cannot map and events the validate processor refuses; they go through the default
 * processors over real HTTP and the stored rows are read back from otel_logs. A repeat is accepted (the event is
 * stored, once), a consent drop is accepted and dropped, and only refusals count as rejected.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { propertyOptions } from '../test/helpers/hostile.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

type Kind = 'new' | 'stored' | 'repeat' | 'no_consent' | 'malformed' | 'invalid';
interface Case {
  kind: Kind;
  id: string;
}
/** One event's outcome, as every receiver reports it (OTLP only in aggregate). */
interface Outcome {
  status: 'accepted' | 'dropped' | 'rejected';
  duplicate?: true;
  reason?: string;
}

/** What becomes of each kind of event. */
const EXPECTED: Record<Kind, Outcome> = {
  new: { status: 'accepted' },
  stored: { status: 'accepted', duplicate: true },
  repeat: { status: 'accepted', duplicate: true },
  no_consent: { status: 'dropped', reason: 'consent' },
  malformed: { status: 'rejected' },
  invalid: { status: 'rejected' },
};
/** Kinds whose id is stored exactly once afterwards; the others' ids are not stored at all. */
const STORED_KINDS = new Set<Kind>(['new', 'stored', 'repeat']);

const headers = { authorization: `Bearer ${ACME_KEY}`, 'content-type': 'application/json' };
// biome-ignore lint/suspicious/noExplicitAny: reply bodies of four different APIs, asserted field by field
type ReplyBody = any;

async function post(path: string, body: unknown): Promise<{ status: number; body: ReplyBody }> {
  const res = await fetch(`${svc.url}${path}`, { method: 'POST', body: JSON.stringify(body), headers });
  return { status: res.status, body: await res.json() };
}

interface Receiver {
  /** The raw event of a kind with that id, in the receiver's format. */
  event(kind: Kind, id: string, name: string): unknown;
  send(events: unknown[]): Promise<{ status: number; body: ReplyBody }>;
}

const now = () => new Date().toISOString();
const kv = (key: string, v: string) => ({ key, value: { stringValue: v } });
const receivers: Record<'envelope' | 'segment' | 'posthog' | 'tracker' | 'otlp', Receiver> = {
  envelope: {
    event: (kind, id, name) => {
      const e: Record<string, unknown> = { event_id: id, event_name: name, occurred_at: now(), user_id: 'u' };
      if (kind === 'no_consent') e.context = { consent: { analytics: false } };
      if (kind === 'malformed') e.event_name = '';
      if (kind === 'invalid') e.event_name = 'voice.first_response'; // its required attributes are missing
      return e;
    },
    send: (events) => post('/api/v1/analytics/events/batch', { batch_id: 'b', events }),
  },
  segment: {
    event: (kind, id, name) => {
      const m: Record<string, unknown> = { type: 'track', userId: 'u', event: name, messageId: id };
      if (kind === 'no_consent') m.context = { consent: { analytics: false } };
      if (kind === 'malformed') delete m.event;
      if (kind === 'invalid') m.event = 'voice.first_response';
      return m;
    },
    send: (batch) => post('/v1/batch', { batch }),
  },
  posthog: {
    event: (kind, id, name) => {
      const e: Record<string, unknown> = { event: name, distinct_id: 'u', uuid: id, properties: {} };
      if (kind === 'no_consent') e.properties = { 'consent.analytics': false };
      if (kind === 'malformed') delete e.distinct_id;
      if (kind === 'invalid') e.event = 'voice.first_response';
      return e;
    },
    send: (batch) => post('/batch/', { api_key: ACME_KEY, batch }),
  },
  tracker: {
    event: (kind, id, name) => {
      const e: Record<string, unknown> = { type: 'track', anonymousId: 'a', event: name, messageId: id };
      if (kind === 'no_consent') e.properties = { 'consent.analytics': false };
      if (kind === 'malformed') delete e.event;
      if (kind === 'invalid') e.event = 'voice.first_response';
      return e;
    },
    send: (events) => post('/sh/v1/batch', { events }),
  },
  otlp: {
    event: (kind, id, name) => {
      const attributes = [kv('log.record.uid', id)];
      if (kind === 'no_consent') attributes.push(kv('consent.analytics', 'false'));
      const r: Record<string, unknown> = { eventName: kind === 'invalid' ? 'voice.first_response' : name, attributes };
      if (kind === 'malformed') r.spanId = 'xyz';
      return r;
    },
    send: (logRecords) => post('/v1/logs', { resourceLogs: [{ scopeLogs: [{ logRecords }] }] }),
  },
};

/** Counts of outcomes, the way every reply states them. */
function tally(outcomes: readonly Outcome[]) {
  const counts = { accepted: 0, dropped: 0, rejected: 0 };
  for (const o of outcomes) counts[o.status]++;
  return counts;
}

/** How many rows each id has in otel_logs. */
async function storedCounts(ids: readonly string[]): Promise<Record<string, number>> {
  const rows = await svc.rows<{ id: string; n: string }>(
    'SELECT EventId AS id, count() AS n FROM signalhouse.otel_logs WHERE TenantId = {t:String} AND EventId IN {ids:Array(String)} GROUP BY id',
    { t: 'acme', ids },
  );
  const out: Record<string, number> = Object.fromEntries(ids.map((id) => [id, 0]));
  for (const r of rows) out[r.id] = Number(r.n);
  return out;
}

type Counters = { received: number; accepted: number; dropped: number; rejected: number };
async function ingestStats(name: string): Promise<Counters> {
  const stats = await (await fetch(`${svc.url}/api/v1/analytics/stats`)).json();
  return { received: 0, accepted: 0, dropped: 0, rejected: 0, ...stats.receivers[name] };
}

/** Sends each `stored` case's id once on its own first, so that the case repeats an event already in storage. */
async function storeFirst(receiver: Receiver, cases: readonly Case[], eventName: string) {
  const stored = cases.filter((c) => c.kind === 'stored');
  if (stored.length === 0) return;
  expect((await receiver.send(stored.map((c) => receiver.event('new', c.id, eventName)))).status).toBe(200);
}

/** The OTLP error_message for a batch: every refusal, then the consent drops (a warning: they are not rejected). */
function otlpMessage(cases: readonly Case[]): string {
  const n = (k: Kind) => cases.filter((c) => c.kind === k).length;
  const parts: string[] = [];
  if (n('malformed') > 0) parts.push(`log record: invalid spanId: expected 16 hex characters (${n('malformed')})`);
  if (n('invalid') > 0) parts.push(`event "voice.first_response": attribute "voice.turn_id" is required (${n('invalid')})`);
  if (n('no_consent') > 0) parts.push(`dropped: no consent (consent.analytics) (${n('no_consent')})`);
  return parts.join('; ');
}

/** The whole reply the contract prescribes for a batch of these cases (refusal texts are any string). */
function expectedReply(name: keyof typeof receivers, cases: readonly Case[]): { status: number; body: unknown } {
  const outcomes = cases.map((c) => EXPECTED[c.kind]);
  const counts = tally(outcomes);
  const indexed = (status: Outcome['status']) =>
    outcomes.flatMap((o, index) => (o.status === status ? [{ index, ...(status === 'dropped' ? { reason: o.reason } : { error: expect.any(String) }) }] : []));
  const everyRejected = counts.rejected === cases.length;
  const plain = counts.dropped === 0 && counts.rejected === 0;
  switch (name) {
    case 'envelope':
      return {
        status: 200,
        body: {
          batch_id: 'b',
          ...counts,
          results: cases.map((c, index) => ({
            index,
            event_id: c.kind === 'malformed' ? undefined : c.id,
            ...outcomes[index],
            error: outcomes[index].status === 'rejected' ? expect.any(String) : undefined,
          })),
        },
      };
    case 'segment':
    case 'tracker':
      if (everyRejected) {
        const message = name === 'segment' ? 'every message was refused' : 'every event was refused';
        return { status: 400, body: { success: false, error: 'BAD_REQUEST', message, rejected: indexed('rejected') } };
      }
      return {
        status: 200,
        body: plain ? { success: true } : { success: true, accepted: counts.accepted, dropped: indexed('dropped'), rejected: indexed('rejected') },
      };
    case 'posthog':
      if (everyRejected) return { status: 400, body: { status: 0, error: 'BAD_REQUEST', message: 'every event was refused', rejected: indexed('rejected') } };
      return {
        status: 200,
        body: plain ? { status: 1 } : { status: 1, accepted: counts.accepted, dropped: indexed('dropped'), rejected: indexed('rejected') },
      };
    case 'otlp': {
      // OTLP counts as rejected only what the server did not accept; a drop is a warning in error_message.
      const errorMessage = otlpMessage(cases);
      if (errorMessage === '') return { status: 200, body: {} };
      return { status: 200, body: { partialSuccess: counts.rejected > 0 ? { rejectedLogRecords: String(counts.rejected), errorMessage } : { errorMessage } } };
    }
  }
}

/** The counts a reply states next to its per-event results, and the counts of those results. */
function statedCounts(name: keyof typeof receivers, n: number, body: ReplyBody) {
  switch (name) {
    case 'envelope':
      return { stated: { accepted: body.accepted, dropped: body.dropped, rejected: body.rejected }, results: tally(body.results) };
    case 'segment':
    case 'tracker':
    case 'posthog': {
      const dropped = body.dropped?.length ?? 0;
      const rejected = body.rejected?.length ?? 0;
      return { stated: { accepted: body.accepted ?? n - rejected, dropped, rejected }, results: { accepted: n - dropped - rejected, dropped, rejected } };
    }
    case 'otlp': {
      const rejected = Number(body.partialSuccess?.rejectedLogRecords ?? 0);
      return { stated: { accepted: n - rejected, dropped: 0, rejected }, results: { accepted: n - rejected, dropped: 0, rejected } };
    }
  }
}

/**
 * Sends one mixed batch and checks the reply against the contract, its counts against its per-event results,
 * the stored rows against the accepted events, and the ingest counters against the reply.
 */
async function checkBatch(name: keyof typeof receivers, cases: readonly Case[], eventName: string) {
  const receiver = receivers[name];
  await storeFirst(receiver, cases, eventName);
  const before = await ingestStats(name);
  const res = await receiver.send(cases.map((c) => receiver.event(c.kind, c.id, eventName)));
  expect(res).toEqual(expectedReply(name, cases));
  const { stated, results } = statedCounts(name, cases.length, res.body);
  expect(stated).toEqual(results);

  const ids = [...new Set(cases.map((c) => c.id))];
  const storedIds = new Set(cases.filter((c) => STORED_KINDS.has(c.kind)).map((c) => c.id));
  expect(await storedCounts(ids)).toEqual(Object.fromEntries(ids.map((id) => [id, storedIds.has(id) ? 1 : 0])));

  const after = await ingestStats(name);
  const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k as keyof Counters] - before[k as keyof Counters]]));
  expect(delta).toEqual({ received: cases.length, ...tally(cases.map((c) => EXPECTED[c.kind])) });
}

let sequence = 0;
/** Cases of the given kinds with fresh ids; a `repeat` repeats the last `new` case before it (and is one without). */
function casesOf(kinds: readonly Kind[], prefix: string): Case[] {
  const cases: Case[] = [];
  for (const kind of kinds) {
    const previousNew = kind === 'repeat' ? [...cases].reverse().find((c) => c.kind === 'new') : undefined;
    if (kind === 'repeat' && !previousNew) cases.push({ kind: 'new', id: `${prefix}-${sequence++}` });
    else cases.push({ kind, id: previousNew?.id ?? `${prefix}-${sequence++}` });
  }
  return cases;
}

const MIX: Kind[] = ['new', 'stored', 'no_consent', 'malformed', 'new', 'repeat', 'invalid'];

describe.each(Object.keys(receivers) as Array<keyof typeof receivers>)('the %s reply', (name) => {
  it('agrees with its per-event results and with what was stored', async () => {
    await checkBatch(name, casesOf(MIX, `mix-${name}`), `replies.${name}`);
  });

  it('accepts a request of nothing but repeats and consent drops (200, nothing rejected)', async () => {
    await checkBatch(name, casesOf(['stored', 'no_consent', 'stored'], `soft-${name}`), `replies.${name}`);
  });
});

describe('the envelope reply in full', () => {
  it('states each result: accepted (a repeat marked duplicate), dropped for consent, rejected with its error', async () => {
    const [stored, fresh, noConsent, malformed, invalid] = casesOf(['stored', 'new', 'no_consent', 'malformed', 'invalid'], 'full');
    const { envelope } = receivers;
    expect((await envelope.send([envelope.event('new', stored.id, 'replies.full')])).body).toMatchObject({ accepted: 1, dropped: 0, rejected: 0 });
    const res = await envelope.send([stored, fresh, noConsent, malformed, invalid, fresh].map((c) => envelope.event(c.kind, c.id, 'replies.full')));
    expect(res).toEqual({
      status: 200,
      body: {
        batch_id: 'b',
        accepted: 3,
        dropped: 1,
        rejected: 2,
        results: [
          { index: 0, event_id: stored.id, status: 'accepted', duplicate: true },
          { index: 1, event_id: fresh.id, status: 'accepted' },
          { index: 2, event_id: noConsent.id, status: 'dropped', reason: 'consent' },
          { index: 3, status: 'rejected', error: 'event_name must be a non-empty string' },
          { index: 4, event_id: invalid.id, status: 'rejected', error: 'event "voice.first_response": attribute "voice.turn_id" is required' },
          { index: 5, event_id: fresh.id, status: 'accepted', duplicate: true },
        ],
      },
    });
  });

  it('accepts one event sent by two requests at once: stored once, one copy marked duplicate', async () => {
    const { envelope } = receivers;
    const e = envelope.event('new', 'concurrent-1', 'replies.concurrent');
    const replies = await Promise.all([envelope.send([e]), envelope.send([e])]);
    const results = replies.map((r) => r.body.results[0]).sort((a, b) => Number(a.duplicate ?? false) - Number(b.duplicate ?? false));
    expect(results).toEqual([
      { index: 0, event_id: 'concurrent-1', status: 'accepted' },
      { index: 0, event_id: 'concurrent-1', status: 'accepted', duplicate: true },
    ]);
    expect(await storedCounts(['concurrent-1'])).toEqual({ 'concurrent-1': 1 });
  });

  it('answers a single event: 202 accepted, 202 accepted as a duplicate, 202 dropped, 400 rejected', async () => {
    const single = (kind: Kind, id: string) => post('/api/v1/analytics/events', receivers.envelope.event(kind, id, 'replies.single'));
    expect(await single('new', 'single-1')).toEqual({ status: 202, body: { event_id: 'single-1', status: 'accepted' } });
    expect(await single('new', 'single-1')).toEqual({ status: 202, body: { event_id: 'single-1', status: 'accepted', duplicate: true } });
    expect(await single('no_consent', 'single-2')).toEqual({ status: 202, body: { event_id: 'single-2', status: 'dropped', reason: 'consent' } });
    expect(await single('invalid', 'single-3')).toMatchObject({ status: 400, body: { error: 'INVALID_EVENT' } });
    expect(await storedCounts(['single-1', 'single-2', 'single-3'])).toEqual({ 'single-1': 1, 'single-2': 0, 'single-3': 0 });
  });
});

describe('the ingest counters', () => {
  it('count the received as accepted + dropped + rejected, and name the drops in /metrics', async () => {
    const stats = await (await fetch(`${svc.url}/api/v1/analytics/stats`)).json();
    expect(Object.keys(stats.receivers).sort()).toEqual(['envelope', 'otlp', 'posthog', 'segment', 'tracker']);
    for (const r of [stats, ...Object.values(stats.receivers as Record<string, Counters>)]) expect(r.received).toBe(r.accepted + r.dropped + r.rejected);
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    expect(text).toMatch(/signalhouse_receiver_dropped_records_total\{receiver="envelope",signal="logs",reason="consent"\} [1-9]/);
  });
});

describe('any mix of events', () => {
  it('gets a reply whose counts agree with its results and with storage, from every receiver', async () => {
    const kind = fc.constantFrom<Kind>('new', 'stored', 'repeat', 'no_consent', 'malformed', 'invalid');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...(Object.keys(receivers) as Array<keyof typeof receivers>)),
        fc.array(kind, { minLength: 1, maxLength: 12 }),
        async (name, kinds) => {
          await checkBatch(name, casesOf(kinds, `prop-${run++}`), `replies.prop.${name}`);
        },
      ),
      propertyOptions(50, 8),
    );
  });
});
