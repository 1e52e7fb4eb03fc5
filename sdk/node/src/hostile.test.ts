/**
 * Hostile input to the helpers, through the official OpenTelemetry SDK: nothing throws into the caller; a bad
 * optional value is left out of the record, a bad required one keeps the record from going out; both are
 * counted in stats() and told to OTel's diag (once per problem at WARN). A property: whatever the input,
 * every record emitted passes the server's schema of its event and the server's limits.
 */
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { EventName } from '../../../semconv/event-attributes.ts';
import { EVENT_SCHEMAS } from '../../../semconv/events.ts';
import { PROTOTYPE_KEYS, text } from '../../../test/helpers/hostile.ts';
import { captureDiag, memoryPipeline } from '../../../test/helpers/otel-memory.ts';
import { createSignalhouse, EVENT_FIELDS, type Signalhouse } from './index.ts';

const mem = memoryPipeline();
const options = { logger: mem.loggerProvider.getLogger('test'), tracer: mem.tracerProvider.getTracer('test') };
const diag = captureDiag();
afterAll(() => diag.stop());
let sh: Signalhouse;
beforeEach(() => {
  mem.reset();
  diag.lines.length = 0;
  sh = createSignalhouse(options);
});

const HUGE = 'x'.repeat(100_000);
const attrsOf = () => mem.records().map(({ attributes: { 'log.record.uid': _, ...rest } }) => rest);

describe('bad values', () => {
  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a negative duration', -1],
    ['a numeric string', '420'],
    ['a whole number past 2^53', 1e300],
    ['an object', { valueOf: (): number => 420 }],
  ])('%s as a required duration: no record, counted', (_, bad) => {
    expect(() => sh.trackFirstResponse({ turnId: 't', firstResponseMs: bad as number })).not.toThrow();
    expect(mem.records()).toEqual([]);
    expect(sh.stats()).toEqual({ emitted: 0, droppedRecords: 1, droppedAttributes: 0 });
  });

  it.each([
    ['NaN', Number.NaN],
    ['negative', -0.5],
    ['a string', '200'],
    ['a boolean', true],
  ])('%s as an optional duration: the record goes out without it', (_, bad) => {
    sh.trackBargeIn({ turnId: 't', bargeInMs: bad as number });
    expect(attrsOf()).toEqual([{ 'voice.turn_id': 't' }]);
    expect(sh.stats()).toEqual({ emitted: 1, droppedRecords: 0, droppedAttributes: 1 });
  });

  it('null and undefined mean absent; a count must be a whole number; a score may be negative', () => {
    sh.trackKBSearch({ resultsCount: 2, latencyMs: 3, topScore: null as unknown as number, query: undefined });
    sh.trackKBSearch({ resultsCount: 2.5, latencyMs: 3 });
    sh.trackKBHit({ resultId: 'r', relevanceScore: -0.25 });
    expect(attrsOf()).toEqual([
      { 'kb.results_count': 2, 'kb.search_latency_ms': 3 },
      { 'kb.result_id': 'r', 'kb.relevance_score': -0.25 },
    ]);
    expect(sh.stats()).toEqual({ emitted: 2, droppedRecords: 1, droppedAttributes: 0 });
  });

  it('huge strings: a required one stops the record, an optional one or an id is left out', () => {
    sh.trackTurnStarted({ turnId: HUGE });
    sh.trackKBSearch({ query: HUGE, resultsCount: 1, latencyMs: 2 }, { sessionId: 's'.repeat(257), userId: 'u'.repeat(256) });
    sh.trackTurnStarted({ turnId: '' });
    expect(attrsOf()).toEqual([{ 'kb.results_count': 1, 'kb.search_latency_ms': 2, 'user.id': 'u'.repeat(256) }]);
    expect(sh.stats()).toEqual({ emitted: 1, droppedRecords: 2, droppedAttributes: 2 });
  });

  it('inputs that are not objects, inputs that throw, bad options and timestamps: no throw, counted', () => {
    const boom = () => {
      throw new Error('boom');
    };
    const throwing = new Proxy({}, { get: boom });
    for (const input of [null, undefined, 42, 'turn', throwing]) {
      expect(() => sh.trackTurnStarted(input as never)).not.toThrow();
      expect(() => sh.trackVoiceMetrics(input as never)).not.toThrow();
      expect(() => sh.trackToolExecution(input as never)).not.toThrow();
    }
    expect(() => sh.track(42 as never)).not.toThrow();
    sh.track('x'.repeat(1025));
    sh.track('');
    sh.trackTurnStarted({ turnId: 't' }, 'options' as never);
    sh.trackTurnStarted({ turnId: 't' }, { timestamp: new Date('nope') });
    sh.trackTurnStarted({ turnId: 't' }, { timestamp: -5, eventId: 42 as never, context: {} as never });
    expect(attrsOf()).toEqual([{ 'voice.turn_id': 't' }, { 'voice.turn_id': 't' }, { 'voice.turn_id': 't' }]);
    expect(mem.records().every((r) => typeof r.attributes['log.record.uid'] === 'string')).toBe(true);
    // Five inputs to three helpers, three bad event names; a bad options object, two bad timestamps, an event id, a context.
    expect(sh.stats()).toEqual({ emitted: 3, droppedRecords: 15 + 3, droppedAttributes: 5 });
  });
});

describe('custom attributes', () => {
  it('__proto__ is dropped (an attribute map cannot carry it); other prototype names are ordinary keys', () => {
    const custom = JSON.parse('{"__proto__": {"polluted": true}, "constructor": "c", "toString": 1, "hasOwnProperty": false}');
    sh.trackCheckout({ value: 10 }, { attributes: custom });
    const [record] = mem.records();
    expect(Object.getPrototypeOf(record.attributes)).toBe(Object.prototype);
    expect(attrsOf()).toEqual([{ 'commerce.value': 10, constructor: 'c', toString: 1, hasOwnProperty: false }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(sh.stats().droppedAttributes).toBe(1);
  });

  it('keeps scalars and arrays of one type; drops the rest, the keys the helper sets, and past the limit', () => {
    const attributes = {
      ok: 'yes',
      n: 1.5,
      list: [1, 2],
      empty: [],
      nested: { a: 1 },
      date: new Date(0),
      mixed: [1, 'a'],
      holes: [Number.NaN],
      fn: () => 1,
      big: 2 ** 60,
      '': 'empty key',
      ['k'.repeat(257)]: 'long key',
      longList: Array.from({ length: 20_000 }, () => 'abcd'),
      'commerce.value': 'not mine',
      'session.id': 'set through options',
      'log.record.uid': 'mine',
    };
    sh.trackCheckout({ value: 10 }, { attributes: attributes as never });
    expect(attrsOf()).toEqual([{ 'commerce.value': 10, ok: 'yes', n: 1.5, list: [1, 2], empty: [] }]);
    expect(sh.stats()).toEqual({ emitted: 1, droppedRecords: 0, droppedAttributes: 12 });
    mem.reset();
    // The helper's own attributes (here the event id) come first: custom ones cannot crowd them out.
    const capped = createSignalhouse({ ...options, limits: { maxAttributes: 4 } });
    capped.trackCheckout({ value: 1 }, { attributes: { a: 1, b: 2, c: 3 }, sessionId: 's' });
    expect(attrsOf()).toEqual([{ 'commerce.value': 1, 'session.id': 's', a: 1 }]);
    expect(mem.records()[0].attributes['log.record.uid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(capped.stats().droppedAttributes).toBe(2);
    sh.trackCheckout({ value: 1 }, { attributes: new Map([['a', 1]]) as never });
    expect(sh.stats().droppedAttributes).toBe(13);
  });

  it('arrays are copied: changing one after the call does not change the record', () => {
    const tags = ['a'];
    sh.trackCheckout({}, { attributes: { tags } });
    tags.push('b');
    expect(attrsOf()).toEqual([{ tags: ['a'] }]);
  });
});

describe('diagnostics', () => {
  it('each distinct problem once at WARN, repeats at DEBUG, naming event, attribute and rule but not the value', () => {
    for (let i = 0; i < 3; i++) sh.trackFirstResponse({ turnId: 't', firstResponseMs: Number.NaN });
    sh.trackBargeIn({ turnId: 't', bargeInMs: 'secret-value' as never });
    expect(diag.lines).toEqual([
      {
        level: 'warn',
        message: '@signalhouse/node voice.first_response: not emitted: attribute "voice.first_response_ms" must be finite and within ±2^53, got NaN',
      },
      {
        level: 'debug',
        message: '@signalhouse/node voice.first_response: not emitted: attribute "voice.first_response_ms" must be finite and within ±2^53, got NaN',
      },
      {
        level: 'debug',
        message: '@signalhouse/node voice.first_response: not emitted: attribute "voice.first_response_ms" must be finite and within ±2^53, got NaN',
      },
      { level: 'warn', message: '@signalhouse/node voice.barge_in: attribute "voice.barge_in_ms" dropped: must be a number of milliseconds, got a string' },
    ]);
  });
});

/** Attribute values as the server stores them: text (numbers in JavaScript's shortest form). */
const asStored = (attributes: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, Array.isArray(v) ? JSON.stringify(v) : String(v)]));

const anyValue = fc.oneof(
  fc.anything(),
  fc.double(),
  fc.integer(),
  text(20),
  fc.constantFrom(Number.NaN, -0, 1e300, -1, 2 ** 53, 2 ** 53 + 2, '', '0', HUGE, null, undefined, true, [], [1], ['a', 1]),
);
const customAttributes = fc.option(fc.dictionary(fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS, 'session.id', 'kb.query'), text(10)), anyValue), {
  nil: undefined,
});
const HELPER_OF: Record<EventName, keyof Signalhouse> = {
  'voice.turn_started': 'trackTurnStarted',
  'voice.first_response': 'trackFirstResponse',
  'voice.barge_in': 'trackBargeIn',
  'voice.asr_partial': 'trackAsrPartial',
  'ai.tool_call_started': 'trackToolCallStarted',
  'ai.tool_call_completed': 'trackToolExecution',
  'ai.tool_chain_completed': 'trackToolChainCompleted',
  'kb.search': 'trackKBSearch',
  'kb.hit': 'trackKBHit',
  'commerce.view': 'trackCommerceView',
  'commerce.add_to_cart': 'trackAddToCart',
  'commerce.checkout': 'trackCheckout',
  'booking.slot_hold': 'trackSlotHold',
  'booking.confirmed': 'trackBookingConfirmed',
};
const call = fc.record({
  event: fc.constantFrom(...(Object.keys(EVENT_FIELDS) as EventName[])),
  /** The typed helper (field names) or track() (semantic-convention keys). */
  viaTrack: fc.boolean(),
  values: fc.dictionary(fc.constantFrom(...new Set(Object.values(EVENT_FIELDS).flatMap((f) => Object.keys(f)))), anyValue),
  custom: customAttributes,
  sessionId: fc.option(anyValue, { nil: undefined }),
});

/** Field names to semantic-convention keys. */
function keyed(event: EventName, input: Record<string, unknown>): Record<string, unknown> {
  const fields = EVENT_FIELDS[event] as Record<string, string>;
  return Object.fromEntries(Object.entries(input).map(([field, value]) => [fields[field] ?? field, value]));
}

describe('property', () => {
  it('whatever the input: no throw, every call counted once, and every record passes its event schema and the limits', () => {
    let runs = 0;
    let emitted = 0;
    fc.assert(
      fc.property(fc.array(call, { maxLength: 8 }), (calls) => {
        mem.reset();
        runs++;
        const before = sh.stats();
        for (const c of calls) {
          const opts = { attributes: c.custom as never, sessionId: c.sessionId as never };
          const helper = sh[HELPER_OF[c.event]] as (input: unknown, options: unknown) => void;
          expect(() => (c.viaTrack ? sh.track(c.event, keyed(c.event, c.values) as never, opts) : helper(c.values, opts))).not.toThrow();
        }
        const after = sh.stats();
        expect(after.emitted - before.emitted + after.droppedRecords - before.droppedRecords).toBe(calls.length);
        emitted += mem.records().length;
        for (const record of mem.records()) {
          const stored = asStored(record.attributes);
          expect(EVENT_SCHEMAS[record.eventName!].safeParse(stored).success, JSON.stringify(stored).slice(0, 300)).toBe(true);
          expect(Object.keys(stored).length).toBeLessThanOrEqual(128);
          expect(Object.values(stored).every((v) => v.length <= 65_536)).toBe(true);
          expect(Object.getPrototypeOf(record.attributes)).toBe(Object.prototype);
        }
      }),
      // A time budget that ends the runs between two (never fails them), so a busy machine runs fewer, not none.
      { seed: 42, numRuns: 300, interruptAfterTimeLimit: 4000 },
    );
    // Not vacuous: valid values are drawn often enough that records go out.
    expect(emitted).toBeGreaterThan(runs / 4);
  });
});
