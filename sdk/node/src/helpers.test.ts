/**
 * The helpers through the official OpenTelemetry SDK (LoggerProvider, BasicTracerProvider, in-memory exporters):
 * each event's record and attributes, the voice, tool and KB helpers, GenAI spans when asked for, the context
 * options, and the default instance on the global providers.
 */
import { readFileSync } from 'node:fs';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { beforeEach, describe, expect, it } from 'vitest';
import { EVENT_ATTRIBUTES, EVENT_NAMES } from '../../../semconv/event-attributes.ts';
import { memoryPipeline } from '../../../test/helpers/otel-memory.ts';
import { createSignalhouse, EVENT_FIELDS, SDK_VERSION, type Signalhouse, trackKBSearch } from './index.ts';

const mem = memoryPipeline();
const options = { logger: mem.loggerProvider.getLogger('test'), tracer: mem.tracerProvider.getTracer('test') };
const sh = createSignalhouse(options);
beforeEach(() => mem.reset());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** The one record emitted since the last reset, its random event id checked and left out. */
function only() {
  const records = mem.records();
  expect(records).toHaveLength(1);
  const { 'log.record.uid': id, ...attributes } = records[0].attributes;
  expect(id).toMatch(UUID);
  return { eventName: records[0].eventName, attributes };
}

const TOOL = { toolName: 'lookup_order', category: 'orders', durationMs: 150.5, optimistic: true, conversationId: 'conv-1' };
const TOOL_ATTRS = {
  'gen_ai.tool.name': 'lookup_order',
  'ai.tool.category': 'orders',
  'ai.tool.duration_ms': 150.5,
  'ai.navigation.optimistic': true,
  'gen_ai.conversation.id': 'conv-1',
};
const CASES: Array<[keyof Signalhouse, object, string, Record<string, unknown>]> = [
  ['trackTurnStarted', { turnId: 't1' }, 'voice.turn_started', { 'voice.turn_id': 't1' }],
  ['trackFirstResponse', { turnId: 't1', firstResponseMs: 420.5 }, 'voice.first_response', { 'voice.turn_id': 't1', 'voice.first_response_ms': 420.5 }],
  ['trackBargeIn', { turnId: 't1', bargeInMs: 200 }, 'voice.barge_in', { 'voice.turn_id': 't1', 'voice.barge_in_ms': 200 }],
  ['trackAsrPartial', { asrLatencyMs: 50 }, 'voice.asr_partial', { 'voice.asr_partial_latency_ms': 50 }],
  ['trackToolCallStarted', TOOL, 'ai.tool_call_started', TOOL_ATTRS],
  ['trackToolExecution', { ...TOOL, success: true }, 'ai.tool_call_completed', { ...TOOL_ATTRS, 'ai.tool.success': true }],
  ['trackToolChainCompleted', { length: 3 }, 'ai.tool_chain_completed', { 'ai.tool_chain.length': 3 }],
  [
    'trackKBSearch',
    { query: 'pricing', resultsCount: 5, latencyMs: 45, topScore: 0.89 },
    'kb.search',
    { 'kb.query': 'pricing', 'kb.results_count': 5, 'kb.search_latency_ms': 45, 'kb.top_score': 0.89 },
  ],
  ['trackKBHit', { resultId: 'doc-7', relevanceScore: 0.7 }, 'kb.hit', { 'kb.result_id': 'doc-7', 'kb.relevance_score': 0.7 }],
  ['trackCommerceView', { productId: 'p1', value: 19.99 }, 'commerce.view', { 'commerce.product_id': 'p1', 'commerce.value': 19.99 }],
  ['trackAddToCart', { productId: 'p1', value: -5 }, 'commerce.add_to_cart', { 'commerce.product_id': 'p1', 'commerce.value': -5 }],
  ['trackCheckout', { value: 0 }, 'commerce.checkout', { 'commerce.value': 0 }],
  ['trackSlotHold', { bookingId: 'b1' }, 'booking.slot_hold', { 'booking.id': 'b1' }],
  ['trackBookingConfirmed', { bookingId: 'b1' }, 'booking.confirmed', { 'booking.id': 'b1' }],
];

describe('one helper per event', () => {
  it.each(CASES)('%s emits its event with the semantic-convention attributes', (helper, input, event, attributes) => {
    (sh[helper] as (i: object) => void)(input);
    expect(only()).toEqual({ eventName: event, attributes });
  });

  it('covers every known event, and every attribute of each with one field', () => {
    expect(new Set(CASES.map((c) => c[2]))).toEqual(new Set(EVENT_NAMES));
    for (const event of EVENT_NAMES) expect(Object.values(EVENT_FIELDS[event]).sort(), event).toEqual(Object.keys(EVENT_ATTRIBUTES[event]).sort());
  });

  it('track() takes the semantic-convention names, checks known events and passes custom ones through', () => {
    sh.track('kb.search', { 'kb.results_count': 2, 'kb.search_latency_ms': 30, 'kb.top_score': Number.NaN, 'custom.flag': true });
    expect(only()).toEqual({ eventName: 'kb.search', attributes: { 'kb.results_count': 2, 'kb.search_latency_ms': 30, 'custom.flag': true } });
    mem.reset();
    sh.track('signup.completed', { plan: 'pro', seats: 3, tags: ['a', 'b'] });
    expect(only()).toEqual({ eventName: 'signup.completed', attributes: { plan: 'pro', seats: 3, tags: ['a', 'b'] } });
  });
});

describe('trackVoiceMetrics', () => {
  it('emits one record per value given, sharing the turn id, with event ids derived from the given one', () => {
    sh.trackVoiceMetrics({ turnId: 'turn-9', firstResponseMs: 450, bargeInMs: 200, asrLatencyMs: 50 }, { eventId: 'call-1', sessionId: 's1' });
    expect(mem.records().map((r) => [r.eventName, r.attributes])).toEqual([
      ['voice.first_response', { 'voice.turn_id': 'turn-9', 'voice.first_response_ms': 450, 'session.id': 's1', 'log.record.uid': 'call-1:first_response' }],
      ['voice.barge_in', { 'voice.turn_id': 'turn-9', 'voice.barge_in_ms': 200, 'session.id': 's1', 'log.record.uid': 'call-1:barge_in' }],
      ['voice.asr_partial', { 'voice.asr_partial_latency_ms': 50, 'session.id': 's1', 'log.record.uid': 'call-1:asr_partial' }],
    ]);
  });

  it('makes up a turn id when none is given, and skips the values not given', () => {
    sh.trackVoiceMetrics({ firstResponseMs: 300, bargeInMs: 120 });
    const [first, barge] = mem.records();
    expect(mem.records().map((r) => r.eventName)).toEqual(['voice.first_response', 'voice.barge_in']);
    expect(first.attributes['voice.turn_id']).toMatch(UUID);
    expect(barge.attributes['voice.turn_id']).toBe(first.attributes['voice.turn_id']);
    expect(first.attributes['log.record.uid']).not.toBe(barge.attributes['log.record.uid']);
  });
});

describe('tool executions and KB searches', () => {
  it('as log records: a failed call carries error.type when given', () => {
    sh.trackToolExecution({ toolName: 'pay', success: false, errorType: 'timeout' });
    expect(only().attributes).toEqual({ 'gen_ai.tool.name': 'pay', 'ai.tool.success': false, 'error.type': 'timeout' });
    mem.reset();
    sh.trackToolExecution({ toolName: 'pay', success: true, errorType: 'timeout' });
    expect(only().attributes).toEqual({ 'gen_ai.tool.name': 'pay', 'ai.tool.success': true });
    expect(mem.spans()).toEqual([]);
  });

  it('as GenAI spans with spans: true, instead of log records (the catalog counts either form)', () => {
    const spanned = createSignalhouse({ ...options, spans: true, defaults: { siteId: 'site-a' } });
    const end = Date.UTC(2026, 0, 5, 12);
    spanned.trackToolExecution({ ...TOOL, success: false }, { timestamp: end, sessionId: 's1' });
    spanned.trackToolExecution({ toolName: 'search', success: true, errorType: 'ignored' }, { timestamp: new Date(end) });
    spanned.trackKBSearch({ query: 'refunds', resultsCount: 0, latencyMs: 30, dataSourceId: 'help-center' }, { timestamp: end });
    spanned.trackKBSearch({ resultsCount: 2, latencyMs: 12.5 }, { timestamp: end });
    spanned.trackFirstResponse({ turnId: 't', firstResponseMs: 1 });
    expect(mem.records().map((r) => r.eventName)).toEqual(['voice.first_response']);
    const spans = mem.spans().map((s) => ({ name: s.name, kind: s.kind, status: s.status.code, duration: s.duration, attributes: s.attributes }));
    expect(spans).toEqual([
      {
        name: 'execute_tool lookup_order',
        kind: SpanKind.INTERNAL,
        status: SpanStatusCode.ERROR,
        duration: [0, 150_500_000],
        attributes: {
          ...TOOL_ATTRS,
          'ai.tool.success': false,
          'site.id': 'site-a',
          'session.id': 's1',
          'error.type': '_OTHER',
          'gen_ai.operation.name': 'execute_tool',
        },
      },
      {
        name: 'execute_tool search',
        kind: SpanKind.INTERNAL,
        status: SpanStatusCode.UNSET,
        duration: [0, 0],
        attributes: { 'gen_ai.tool.name': 'search', 'ai.tool.success': true, 'site.id': 'site-a', 'gen_ai.operation.name': 'execute_tool' },
      },
      {
        name: 'retrieval help-center',
        kind: SpanKind.CLIENT,
        status: SpanStatusCode.UNSET,
        duration: [0, 30_000_000],
        attributes: {
          'kb.query': 'refunds',
          'kb.results_count': 0,
          'kb.search_latency_ms': 30,
          'site.id': 'site-a',
          'gen_ai.data_source.id': 'help-center',
          'gen_ai.operation.name': 'retrieval',
        },
      },
      {
        name: 'retrieval',
        kind: SpanKind.CLIENT,
        status: SpanStatusCode.UNSET,
        duration: [0, 12_500_000],
        attributes: { 'kb.results_count': 2, 'kb.search_latency_ms': 12.5, 'site.id': 'site-a', 'gen_ai.operation.name': 'retrieval' },
      },
    ]);
    expect(mem.spans()[0].endTime).toEqual([end / 1000, 0]);
    expect(spanned.stats()).toEqual({ emitted: 5, droppedRecords: 0, droppedAttributes: 0 });
  });

  it('a span given in `context` is the parent of a span and the trace of a record', () => {
    const parent = mem.tracerProvider.getTracer('test').startSpan('request');
    const ctx = trace.setSpan(ROOT_CONTEXT, parent);
    createSignalhouse({ ...options, spans: true }).trackToolExecution({ toolName: 'x', success: true }, { context: ctx });
    sh.trackKBHit({ resultId: 'r1' }, { context: ctx });
    parent.end();
    expect(mem.spans()[0].parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(mem.spans()[0].spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(mem.records()[0].spanContext).toMatchObject({ traceId: parent.spanContext().traceId, spanId: parent.spanContext().spanId });
  });
});

describe('context', () => {
  it('defaults apply to every call; a call overrides them; custom attributes merge, the call first', () => {
    const withDefaults = createSignalhouse({ ...options, defaults: { siteId: 'site-a', userId: 'u1', attributes: { env: 'prod', region: 'eu' } } });
    withDefaults.trackSlotHold({ bookingId: 'b1' }, { userId: 'u2', anonymousId: 'a2', conversationId: 'c2', attributes: { region: 'us' } });
    expect(only().attributes).toEqual({
      'booking.id': 'b1',
      'site.id': 'site-a',
      'user.id': 'u2',
      'anonymous.id': 'a2',
      'gen_ai.conversation.id': 'c2',
      region: 'us',
      env: 'prod',
    });
  });

  it('timestamp (Date or epoch ms) is the record time; eventId its log.record.uid', () => {
    sh.trackKBHit({ resultId: 'r' }, { timestamp: new Date('2026-01-05T12:00:00.250Z'), eventId: 'evt-1' });
    sh.trackKBHit({ resultId: 'r' }, { timestamp: Date.UTC(2026, 0, 5, 12) });
    const [a, b] = mem.records();
    expect(a.hrTime).toEqual([Date.UTC(2026, 0, 5, 12) / 1000, 250_000_000]);
    expect(a.attributes['log.record.uid']).toBe('evt-1');
    expect(b.hrTime).toEqual([Date.UTC(2026, 0, 5, 12) / 1000, 0]);
  });

  it('the functions exported by name use the global LoggerProvider, scope @signalhouse/node at the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
    expect(SDK_VERSION).toBe(pkg.version);
    logs.setGlobalLoggerProvider(mem.loggerProvider);
    trackKBSearch({ resultsCount: 1, latencyMs: 5 });
    logs.disable();
    expect(mem.records().map((r) => [r.eventName, r.instrumentationScope.name, r.instrumentationScope.version])).toEqual([
      ['kb.search', pkg.name, pkg.version],
    ]);
  });
});
