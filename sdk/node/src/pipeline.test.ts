/**
 * The helpers through the official OpenTelemetry SDK and its OTLP exporters (protobuf for one tenant's log
 * records, JSON for another's spans) into a running Signalhouse over loopback HTTP: the catalog's metrics come
 * out exactly right through the query API, from the raw events and from the rollup; the stored rows carry the
 * semantic-convention names with values of their kinds; hostile calls store exactly what the helpers emitted.
 */
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_SCHEMAS } from '../../../semconv/events.ts';
import { postReport } from '../../../test/helpers/catalog-data.ts';
import { captureDiag } from '../../../test/helpers/otel-memory.ts';
import { ACME_KEY, GLOBEX_KEY, startTestService, TENANTS, type TestService } from '../../../test/helpers/service.ts';
import { createSignalhouse, SDK_VERSION, type Signalhouse } from './index.ts';

const INITECH = { id: 'initech', write_keys: ['wk_initech_test_key'], read_tokens: ['rt_initech_test_token'] };
const diag = captureDiag();
let svc: TestService;
const stats: Record<string, ReturnType<Signalhouse['stats']>> = {};

/** An OTel SDK pipeline for one write key: logs over protobuf or JSON, spans over JSON. */
function otel(key: string, logs: 'protobuf' | 'json') {
  const headers = { Authorization: `Bearer ${key}` };
  const resource = resourceFromAttributes({ 'service.name': 'voice-gateway' });
  const logExporter =
    logs === 'protobuf' ? new ProtoLogExporter({ url: `${svc.url}/v1/logs`, headers }) : new JsonLogExporter({ url: `${svc.url}/v1/logs`, headers });
  const loggerProvider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: logExporter })] });
  const spanExporter = new JsonTraceExporter({ url: `${svc.url}/v1/traces`, headers });
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(spanExporter)] });
  return {
    logger: loggerProvider.getLogger('@signalhouse/node', SDK_VERSION),
    tracer: tracerProvider.getTracer('@signalhouse/node', SDK_VERSION),
    shutdown: () => Promise.all([loggerProvider.shutdown(), tracerProvider.shutdown()]),
  };
}

/** Log records (the default): voice, tools, chains, KB, commerce and booking, mostly on site-a. */
function sendAcme(sh: Signalhouse) {
  const firstResponse = [420, 380, 510.5, 450, 300];
  firstResponse.forEach((ms, i) => {
    sh.trackVoiceMetrics({ turnId: `turn-${i}`, firstResponseMs: ms, bargeInMs: i < 2 ? 200 : undefined, asrLatencyMs: 50 + 10 * i }, { sessionId: 's1' });
  });
  sh.trackVoiceMetrics({ firstResponseMs: 100 }, { siteId: 'site-b' });
  sh.trackBargeIn({ turnId: 'turn-4' });
  const ok = [true, true, true, false, true, true, false, true];
  const optimistic = [true, true, false, true, false, false, true, false];
  ok.forEach((success, i) => {
    sh.trackToolExecution({ toolName: 'navigation.goto', category: 'navigation', durationMs: 100 + i, success, optimistic: optimistic[i] });
  });
  sh.trackToolChainCompleted({ length: 3 });
  sh.trackToolChainCompleted({ length: 5 });
  const kb = [
    { query: 'pricing', resultsCount: 5, latencyMs: 45, topScore: 0.89 },
    { query: 'refunds', resultsCount: 0, latencyMs: 30 },
    { query: 'shipping', resultsCount: 3, latencyMs: 80, topScore: 0.5 },
    { resultsCount: 0, latencyMs: 60 },
  ];
  for (const search of kb) sh.trackKBSearch(search, { conversationId: 'conv-1' });
  for (const s of ['s1', 's2', 's3', 's4']) sh.trackCommerceView({ productId: 'p1', value: 20 }, { sessionId: s });
  for (const s of ['s1', 's2']) sh.trackCheckout({ value: 20 }, { sessionId: s });
  for (const b of ['b1', 'b2', 'b3', 'b4']) sh.trackSlotHold({ bookingId: b });
  sh.trackBookingConfirmed({ bookingId: 'b1' });
}

/** GenAI spans (spans: true) for tools and KB, and a log record for the rest. */
function sendGlobex(sh: Signalhouse) {
  [true, true, false, true].forEach((success, i) => {
    sh.trackToolExecution({ toolName: 'lookup_order', durationMs: 100 * (i + 1), success, optimistic: i % 2 === 0 }, { siteId: 'site-a' });
  });
  sh.trackKBSearch({ query: 'warranty', resultsCount: 2, latencyMs: 120, topScore: 0.9, dataSourceId: 'manuals' });
  sh.trackKBSearch({ resultsCount: 0, latencyMs: 40 });
  sh.trackFirstResponse({ turnId: 'g1', firstResponseMs: 250 });
}

/** Hostile calls: what goes out must be stored as is, nothing refused. */
function sendHostile(sh: Signalhouse) {
  const proto = JSON.parse('{"__proto__": {"x": 1}, "constructor": "ok", "plan": "pro"}');
  sh.trackFirstResponse({ turnId: 't', firstResponseMs: Number.NaN });
  sh.trackFirstResponse({ turnId: 't', firstResponseMs: '420' as never });
  sh.trackFirstResponse({ turnId: 't', firstResponseMs: 1e300 });
  sh.trackFirstResponse({ turnId: 't', firstResponseMs: 42 }, { attributes: proto, sessionId: 'x'.repeat(300) });
  sh.trackBargeIn({ turnId: 't', bargeInMs: -1 });
  sh.trackBargeIn({ turnId: 't', bargeInMs: Number.POSITIVE_INFINITY }, { attributes: { huge: 'h'.repeat(70_000), fine: [1, 2] } });
  sh.trackKBSearch({ query: 'q'.repeat(70_000), resultsCount: 1, latencyMs: 9 });
  sh.trackKBSearch({ resultsCount: -1, latencyMs: 9 });
  sh.trackToolExecution({ toolName: '', success: true });
  sh.trackToolExecution({ toolName: 'ok', success: 'yes' as never });
  sh.trackToolExecution(null as never);
  sh.track('custom.signup', { plan: 'pro', 'user.id': 'sneaky', nested: { a: 1 } as never }, { userId: 'u1' });
}

const HOUR = 3_600_000;
const FROM = Date.now() - HOUR;
const TO = Date.now() + HOUR;

beforeAll(async () => {
  svc = await startTestService({ tenants: [...TENANTS, INITECH] });
  for (const [tenant, key, logs, spans, send] of [
    ['acme', ACME_KEY, 'protobuf', false, sendAcme],
    ['globex', GLOBEX_KEY, 'json', true, sendGlobex],
    ['initech', INITECH.write_keys[0], 'protobuf', false, sendHostile],
  ] as const) {
    const pipeline = otel(key, logs);
    const sh = createSignalhouse({ logger: pipeline.logger, tracer: pipeline.tracer, spans, defaults: { siteId: 'site-a' } });
    send(sh);
    await pipeline.shutdown();
    stats[tenant] = sh.stats();
  }
});
afterAll(async () => {
  diag.stop();
  await svc?.close();
});

const summary = async (token: string, source: 'raw' | 'rollup', body: Record<string, unknown> = {}) => {
  const r = await postReport(svc.url, 'summary', { from: FROM, to: TO, source, ...body }, token);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.metrics as Record<string, number | null>;
};
/** Quantiles from the rollup come from its sketch (within 1%); everything else is exact in both. */
function expectMetrics(actual: Record<string, number | null>, expected: Record<string, number | null>, source: 'raw' | 'rollup') {
  for (const [name, value] of Object.entries(expected)) {
    if (value === null) expect(actual[name], name).toBeNull();
    else if (source === 'rollup' && /\.p\d\d$/.test(name)) expect(Math.abs(actual[name]! - value) / value, name).toBeLessThanOrEqual(0.01);
    else expect(actual[name], name).toBeCloseTo(value, 10);
  }
}

describe('catalog metrics from the helpers', () => {
  it('export went through: no export error or partial success, every emitted record accepted', () => {
    const exporterLines = diag.lines.filter((l) => !l.message.startsWith('@signalhouse/node'));
    expect(exporterLines.filter((l) => l.level === 'error' || /partial success/i.test(l.message))).toEqual([]);
    // Voice 5 × 2 + 2 barge-ins, site-b 1, barge-in 1, tools 8, chains 2, KB 4, views 4, checkouts 2, holds 4, confirmed 1.
    expect(stats.acme).toEqual({ emitted: 39, droppedRecords: 0, droppedAttributes: 0 });
    const stored = (tenant: string) => svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE TenantId = {t:String}', { t: tenant });
    return Promise.all([stored('acme'), stored('globex')]).then(([acme, globex]) => {
      expect(Number(acme[0].n)).toBe(39);
      expect(Number(globex[0].n)).toBe(1);
    });
  });

  it.each(['raw', 'rollup'] as const)('log records (%s): voice, tools, chains, KB, commerce and booking', async (source) => {
    expectMetrics(
      await summary('rt_acme_test_token', source),
      {
        // 100, 300, 380, 420, 450, 510.5: the element at rank ⌊q × (n − 1)⌋.
        'voice.first_response_ms.p50': 380,
        'voice.first_response_ms.p95': 450,
        'voice.first_response_ms.p99': 450,
        'voice.barge_in_count': 3,
        'voice.asr_partial_latency_ms.p95': 80,
        'ai.tool_calls.count': 8,
        'ai.tool_calls.success_rate': 6 / 8,
        'ai.navigation_optimism_rate': 2 / 4,
        'ai.tool_chain_length.avg': 4,
        'kb.hit_rate': 2 / 4,
        'kb.search_latency_ms.p95': 60,
        'kb.relevance_score.avg': (0.89 + 0.5) / 2,
        'commerce.conversion_rate': 2 / 4,
        'booking.hold_to_confirm_rate': 1 / 4,
        'system.error_rate': null,
      },
      source,
    );
    expectMetrics(await summary('rt_acme_test_token', source, { site_id: 'site-b' }), { 'voice.first_response_ms.p50': 100, 'ai.tool_calls.count': 0 }, source);
  });

  it.each(['raw', 'rollup'] as const)('GenAI spans (%s): each call counted once, failures as status ERROR', async (source) => {
    expectMetrics(
      await summary('rt_globex_test_token', source),
      {
        'ai.tool_calls.count': 4,
        'ai.tool_calls.success_rate': 3 / 4,
        'ai.navigation_optimism_rate': 1 / 2,
        'kb.hit_rate': 1 / 2,
        'kb.search_latency_ms.p95': 40,
        'kb.relevance_score.avg': 0.9,
        'system.error_rate': 1 / 6,
        'voice.first_response_ms.p50': 250,
      },
      source,
    );
  });
});

describe('stored rows', () => {
  it('log records: semantic-convention names, values of their kinds, ids in their columns', async () => {
    const rows = await svc.rows<Record<string, unknown>>(
      `SELECT EventName, EventId, SessionId, SiteId, ScopeName, ScopeVersion, ServiceName, LogAttributes FROM signalhouse.otel_logs
       WHERE TenantId = 'acme'`,
    );
    for (const row of rows) {
      const attributes = row.LogAttributes as Record<string, string>;
      expect(EVENT_SCHEMAS[row.EventName as string].safeParse(attributes).success, JSON.stringify(row)).toBe(true);
      expect(row).toMatchObject({
        EventId: attributes['log.record.uid'],
        ScopeName: '@signalhouse/node',
        ScopeVersion: SDK_VERSION,
        ServiceName: 'voice-gateway',
      });
    }
    const attrs = (r: Record<string, unknown>) => r.LogAttributes as Record<string, string>;
    const first = rows.find((r) => r.EventName === 'voice.first_response' && attrs(r)['voice.turn_id'] === 'turn-2');
    expect(first).toMatchObject({ SessionId: 's1', SiteId: 'site-a' });
    expect(first!.LogAttributes).toEqual({
      'voice.turn_id': 'turn-2',
      'voice.first_response_ms': '510.5',
      'site.id': 'site-a',
      'session.id': 's1',
      'log.record.uid': first!.EventId,
    });
    const tool = rows.find((r) => r.EventName === 'ai.tool_call_completed' && attrs(r)['ai.tool.duration_ms'] === '100');
    expect(tool!.LogAttributes).toMatchObject({
      'gen_ai.tool.name': 'navigation.goto',
      'ai.tool.category': 'navigation',
      'ai.tool.duration_ms': '100',
      'ai.tool.success': 'true',
      'ai.navigation.optimistic': 'true',
    });
    const search = rows.find((r) => r.EventName === 'kb.search' && attrs(r)['kb.query'] === 'pricing');
    expect(search!.LogAttributes).toMatchObject({
      'kb.query': 'pricing',
      'kb.results_count': '5',
      'kb.search_latency_ms': '45',
      'kb.top_score': '0.89',
      'gen_ai.conversation.id': 'conv-1',
    });
  });

  it('spans: execute_tool and retrieval with GenAI names, kind, status and duration; no log record of the same call', async () => {
    const spans = await svc.rows<Record<string, unknown>>(
      `SELECT SpanName, SpanKind, StatusCode, toString(Duration) AS duration, SpanAttributes FROM signalhouse.otel_traces
       WHERE TenantId = 'globex' ORDER BY SpanName, Duration`,
    );
    const byName = (name: string) => spans.filter((s) => s.SpanName === name);
    expect(byName('execute_tool lookup_order').map((s) => [s.SpanKind, s.StatusCode, s.duration])).toEqual([
      ['SPAN_KIND_INTERNAL', 'STATUS_CODE_UNSET', '100000000'],
      ['SPAN_KIND_INTERNAL', 'STATUS_CODE_UNSET', '200000000'],
      ['SPAN_KIND_INTERNAL', 'STATUS_CODE_ERROR', '300000000'],
      ['SPAN_KIND_INTERNAL', 'STATUS_CODE_UNSET', '400000000'],
    ]);
    const failed = byName('execute_tool lookup_order').find((s) => s.StatusCode === 'STATUS_CODE_ERROR');
    expect(failed!.SpanAttributes).toEqual({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'lookup_order',
      'ai.tool.duration_ms': '300',
      'ai.tool.success': 'false',
      'ai.navigation.optimistic': 'true',
      'error.type': '_OTHER',
      'site.id': 'site-a',
    });
    expect(byName('retrieval manuals')).toMatchObject([
      {
        SpanKind: 'SPAN_KIND_CLIENT',
        duration: '120000000',
        SpanAttributes: {
          'gen_ai.operation.name': 'retrieval',
          'gen_ai.data_source.id': 'manuals',
          'kb.query': 'warranty',
          'kb.results_count': '2',
          'kb.search_latency_ms': '120',
          'kb.top_score': '0.9',
          'site.id': 'site-a',
        },
      },
    ]);
    expect(spans).toHaveLength(6);
    const logs = await svc.rows<{ EventName: string }>("SELECT EventName FROM signalhouse.otel_logs WHERE TenantId = 'globex'");
    expect(logs).toEqual([{ EventName: 'voice.first_response' }]);
  });
});

describe('hostile calls', () => {
  it('store exactly what the helpers emitted, with the documented drops, and nothing refused', async () => {
    // Dropped records: NaN, '420', 1e300, a negative count, an empty tool name, success 'yes', null. Dropped
    // attributes: __proto__, a 300-character session id, -1 and Infinity ms, a 70,000-character value and query,
    // user.id among the custom attributes, a nested object.
    expect(stats.initech).toEqual({ emitted: 5, droppedRecords: 7, droppedAttributes: 8 });
    const rows = await svc.rows<{ EventName: string; LogAttributes: Record<string, string>; SessionId: string; UserId: string }>(
      "SELECT EventName, LogAttributes, SessionId, UserId FROM signalhouse.otel_logs WHERE TenantId = 'initech'",
    );
    // Records of one millisecond have no order, so both sides are sorted alike (by name, then attribute count).
    const keyOf = (r: { EventName: string; attributes: object }) => `${r.EventName} ${Object.keys(r.attributes).length}`;
    type Row = { EventName: string; attributes: Record<string, string>; SessionId: string; UserId: string };
    const sorted = (list: Row[]) => [...list].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    const withoutId = rows.map(({ EventName, LogAttributes: { 'log.record.uid': _, ...attributes }, SessionId, UserId }) => ({
      EventName,
      attributes,
      SessionId,
      UserId,
    }));
    expect(sorted(withoutId)).toEqual(
      sorted([
        {
          EventName: 'voice.first_response',
          attributes: { 'voice.turn_id': 't', 'voice.first_response_ms': '42', 'site.id': 'site-a', constructor: 'ok', plan: 'pro' },
          SessionId: '',
          UserId: '',
        },
        { EventName: 'voice.barge_in', attributes: { 'voice.turn_id': 't', 'site.id': 'site-a' }, SessionId: '', UserId: '' },
        { EventName: 'voice.barge_in', attributes: { 'voice.turn_id': 't', 'site.id': 'site-a', fine: '[1,2]' }, SessionId: '', UserId: '' },
        { EventName: 'kb.search', attributes: { 'kb.results_count': '1', 'kb.search_latency_ms': '9', 'site.id': 'site-a' }, SessionId: '', UserId: '' },
        { EventName: 'custom.signup', attributes: { plan: 'pro', 'site.id': 'site-a', 'user.id': 'u1' }, SessionId: '', UserId: 'u1' },
      ]),
    );
    const m = await summary('rt_initech_test_token', 'raw', {
      metrics: ['voice.barge_in_count', 'voice.first_response_ms.p50', 'kb.hit_rate', 'ai.tool_calls.count'],
    });
    expect(m).toEqual({ 'voice.barge_in_count': 2, 'voice.first_response_ms.p50': 42, 'kb.hit_rate': 1, 'ai.tool_calls.count': 0 });
  });
});
