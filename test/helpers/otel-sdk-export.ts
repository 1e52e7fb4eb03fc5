/**
 * What every official OpenTelemetry JS SDK exporter must get right against a running Signalhouse, whatever its
 * transport (OTLP/HTTP protobuf or JSON, OTLP/gRPC plain or gzip): log records and spans stored field by field
 * (nanosecond times, ids, severity, event name, body, resource, scope, nested attributes, span kind, status,
 * events, links). Each test file supplies its exporters and its service.
 */
import { SeverityNumber } from '@opentelemetry/api-logs';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type LogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import type { TestService } from './service.ts';

export interface SdkExporterVariant {
  readonly name: string;
  logs(): LogRecordExporter;
  traces(): SpanExporter;
}

// Recent times (inside the 90-day retention, which drops older parts), with nanosecond digits beyond 2^53.
const T = Math.floor(Date.now() / 1000) - 3600;
const ns = (sec: number, nanos: number) => (BigInt(sec) * 1_000_000_000n + BigInt(nanos)).toString();

/** Registers the field-by-field tests for each exporter; `svc` is read when the tests run. */
export function describeSdkExporters(variants: readonly SdkExporterVariant[], svc: () => TestService): void {
  describe.each(variants)('OTel SDK $name exporter', (variant) => {
    it('stores log records field by field', async () => {
      const service = `checkout-${variant.name}`;
      const provider = new LoggerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test', 'host.cpus': 8 }),
        processors: [new SimpleLogRecordProcessor({ exporter: variant.logs() })],
      });
      const logger = provider.getLogger('signalhouse.test', '1.2.3', { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' });
      logger.emit({
        eventName: 'voice.first_response',
        timestamp: [T, 123_456_789],
        observedTimestamp: [T + 1, 987_654_321],
        severityNumber: SeverityNumber.WARN,
        severityText: 'WARN',
        body: 'first response was slow',
        attributes: {
          'voice.turn_id': 'turn-1',
          'voice.first_response_ms': 420,
          ratio: 0.25,
          ok: true,
          tags: ['a', 'b'],
          mixed: [1, 'x', false],
          nested: { k: 'v', inner: { n: 7 } },
          'session.id': 'sess-9',
          'user.id': 'user-7',
          'anonymous.id': 'anon-3',
          'log.record.uid': `evt-${variant.name}`,
        },
      });
      logger.emit({ body: { structured: true, count: 3 }, timestamp: [T + 2, 5], severityNumber: SeverityNumber.INFO });
      await provider.forceFlush();
      await provider.shutdown();

      const rows = await svc().rows<Record<string, unknown>>(
        `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ts, toString(toUnixTimestamp64Nano(ObservedTimestamp)) AS observed, *
         FROM signalhouse.otel_logs WHERE ServiceName = {service:String} ORDER BY Timestamp`,
        { service },
      );
      expect(rows).toHaveLength(2);
      const [first, second] = rows;
      expect(first).toMatchObject({
        ts: ns(T, 123_456_789),
        observed: ns(T + 1, 987_654_321),
        TenantId: 'acme',
        EventName: 'voice.first_response',
        EventId: `evt-${variant.name}`,
        SessionId: 'sess-9',
        UserId: 'user-7',
        AnonymousId: 'anon-3',
        SeverityText: 'WARN',
        SeverityNumber: SeverityNumber.WARN,
        Body: 'first response was slow',
        ServiceName: service,
        ScopeName: 'signalhouse.test',
        ScopeVersion: '1.2.3',
        TraceId: '',
        SpanId: '',
      });
      expect(first.ResourceAttributes).toMatchObject({ 'service.name': service, 'deployment.environment': 'test', 'host.cpus': '8' });
      expect(first.LogAttributes).toEqual({
        'voice.turn_id': 'turn-1',
        'voice.first_response_ms': '420',
        ratio: '0.25',
        ok: 'true',
        tags: '["a","b"]',
        mixed: '[1,"x",false]',
        nested: '{"k":"v","inner":{"n":7}}',
        'session.id': 'sess-9',
        'user.id': 'user-7',
        'anonymous.id': 'anon-3',
        'log.record.uid': `evt-${variant.name}`,
      });
      expect(second.ts).toBe(ns(T + 2, 5));
      expect(JSON.parse(second.Body as string)).toEqual({ structured: true, count: 3 });
      expect(second.SeverityNumber).toBe(SeverityNumber.INFO);
    });

    it('stores spans with kind, status, duration, events and links', async () => {
      const service = `api-${variant.name}`;
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        spanProcessors: [new SimpleSpanProcessor(variant.traces())],
      });
      const tracer = provider.getTracer('signalhouse.trace.test', '0.9.0');
      const linked = tracer.startSpan('linked', { startTime: [T, 0] });
      linked.end([T, 1000]);
      const linkedCtx = linked.spanContext();
      const span = tracer.startSpan('execute_tool lookup_order', {
        kind: SpanKind.CLIENT,
        startTime: [T + 10, 100],
        attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup_order', attempt: 2 },
        links: [{ context: linkedCtx, attributes: { 'link.kind': 'retry-of' } }],
      });
      span.addEvent('tool.retry', { reason: 'timeout' }, [T + 10, 500_000_000]);
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream 502' });
      span.end([T + 11, 250_000_100]);
      await provider.forceFlush();
      await provider.shutdown();

      const rows = await svc().rows<Record<string, unknown>>(
        `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ts, toString(Duration) AS duration,
                arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS event_ts, *
         FROM signalhouse.otel_traces WHERE ServiceName = {service:String} ORDER BY Timestamp`,
        { service },
      );
      expect(rows).toHaveLength(2);
      const [first, second] = rows;
      expect(first).toMatchObject({ SpanName: 'linked', SpanKind: 'SPAN_KIND_INTERNAL', duration: '1000', StatusCode: 'STATUS_CODE_UNSET', TenantId: 'acme' });
      const ctx = span.spanContext();
      expect(second).toMatchObject({
        ts: ns(T + 10, 100),
        duration: String(1_250_000_000),
        TraceId: ctx.traceId,
        SpanId: ctx.spanId,
        ParentSpanId: '',
        EventId: ctx.traceId + ctx.spanId,
        SpanName: 'execute_tool lookup_order',
        SpanKind: 'SPAN_KIND_CLIENT',
        StatusCode: 'STATUS_CODE_ERROR',
        StatusMessage: 'upstream 502',
        ScopeName: 'signalhouse.trace.test',
        ScopeVersion: '0.9.0',
        event_ts: [ns(T + 10, 500_000_000)],
        'Events.Name': ['tool.retry'],
        'Events.Attributes': [{ reason: 'timeout' }],
        'Links.TraceId': [linkedCtx.traceId],
        'Links.SpanId': [linkedCtx.spanId],
        'Links.Attributes': [{ 'link.kind': 'retry-of' }],
      });
      expect(second.SpanAttributes).toEqual({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup_order', attempt: '2' });
      const lookup = await svc().rows(`SELECT count() AS n FROM signalhouse.otel_traces_trace_id_ts WHERE TraceId = {t:String} AND TenantId = 'acme'`, {
        t: ctx.traceId,
      });
      expect(Number(lookup[0].n)).toBe(1);
    });
  });
}
