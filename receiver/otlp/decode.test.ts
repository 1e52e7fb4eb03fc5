/**
 * Decoder tests without a server: records serialized by the official `@opentelemetry/otlp-transformer`
 * serializers (protobuf and JSON) decode to the same values, and hostile bytes are refused precisely.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { JsonLogsSerializer, JsonTraceSerializer, ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, type ReadableLogRecord, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import type { LogEvent, SpanRecord } from '../../core/event.ts';
import { DecodeError, type DecodeContext } from './common.ts';
import { otlpReceiverSchema } from './config.ts';
import { decodeLogsJson, decodeTracesJson } from './json.ts';
import { decodeLogsProtobuf, decodeTracesProtobuf } from './protobuf.ts';

const limits = otlpReceiverSchema.parse({}).limits;
const ctx = (overrides: Partial<DecodeContext> = {}): DecodeContext => ({ tenantId: 'acme', limits, receivedAtUnixNano: 42n, rejections: [], ...overrides });

function sdkLogs(): ReadableLogRecord[] {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'rt', 'k8s.pod.uid': 'pod-1' }),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('scope-a', '2.0.0');
  logger.emit({
    eventName: 'kb.search',
    timestamp: [1_900_000_000, 999_999_999],
    observedTimestamp: [1_900_000_001, 1],
    severityNumber: SeverityNumber.ERROR4,
    severityText: 'ERROR4',
    body: { q: 'refund policy', hits: [1, 2.5, 'x', null] },
    attributes: { 'kb.results_count': 3, 'kb.top_score': 0.875, big: 2 ** 53 + 2, neg: -17, 'kb.query': 'héllo wörld ✓', empty: '' },
  });
  logger.emit({ body: 'plain', timestamp: [1_900_000_002, 0] });
  return exporter.getFinishedLogRecords();
}

function sdkSpans() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'rt' }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('scope-t', '1.0.0');
  const parent = tracer.startSpan('parent', { kind: SpanKind.SERVER, startTime: [1_900_000_000, 1] });
  const child = tracer.startSpan('retrieval', {
    kind: SpanKind.INTERNAL,
    startTime: [1_900_000_000, 500],
    attributes: { 'gen_ai.operation.name': 'retrieval', list: [true, false] },
    links: [{ context: parent.spanContext(), attributes: { why: 'follows' } }],
  });
  child.addEvent('chunk', { n: 1 }, [1_900_000_000, 700]);
  child.setStatus({ code: SpanStatusCode.OK });
  child.end([1_900_000_000, 900]);
  parent.end([1_900_000_001, 0]);
  return exporter.getFinishedSpans();
}

/** Plain values of a decoded log event, for equality across encodings. */
const plainLog = (e: LogEvent) => ({ ...e, resource: { ...e.resource }, scope: { ...e.scope } });
const plainSpan = (s: SpanRecord) => ({ ...s, resource: { ...s.resource }, scope: { ...s.scope } });

describe('round trips through the official serializers', () => {
  it('decodes protobuf and JSON logs to identical events with exact nanoseconds', () => {
    const records = sdkLogs();
    const fromProto = decodeLogsProtobuf(ProtobufLogsSerializer.serializeRequest(records)!, ctx());
    const fromJson = decodeLogsJson(Buffer.from(JsonLogsSerializer.serializeRequest(records)!), ctx());
    expect(fromProto.map(plainLog)).toEqual(fromJson.map(plainLog));
    const [e, plain] = fromProto;
    expect(e.timeUnixNano).toBe(1_900_000_000_999_999_999n);
    expect(e.observedTimeUnixNano).toBe(1_900_000_001_000_000_001n);
    expect(e.eventName).toBe('kb.search');
    expect(e.severityNumber).toBe(SeverityNumber.ERROR4);
    expect(e.severityText).toBe('ERROR4');
    expect(JSON.parse(e.body)).toEqual({ q: 'refund policy', hits: [1, 2.5, 'x', null] });
    expect(e.attributes).toEqual({
      'kb.results_count': '3',
      'kb.top_score': '0.875',
      big: String(2 ** 53 + 2),
      neg: '-17',
      'kb.query': 'héllo wörld ✓',
      empty: '',
    });
    expect(e.resource.attributes).toMatchObject({ 'service.name': 'rt', 'k8s.pod.uid': 'pod-1' });
    expect(e.resource.serviceName).toBe('rt');
    expect(e.scope).toMatchObject({ name: 'scope-a', version: '2.0.0' });
    expect(plain.body).toBe('plain');
    // Records of one resource share one decoded resource object.
    expect(plain.resource).toBe(e.resource);
  });

  it('decodes look-alike attribute keys exactly (keys are interned by a cheap hash, then compared in full)', () => {
    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
    // Same length, same first, middle and last bytes: the same intern slot; plus multi-byte and over-long keys.
    const keys = ['aXbYc', 'aZbWc', 'aXbWc', 'ü.key', 'ü.kez', 'k'.repeat(70), `${'k'.repeat(69)}j`];
    for (let round = 0; round < 3; round++) {
      for (const k of keys) provider.getLogger('s').emit({ body: k, attributes: { [k]: `v-${k}`, other: 'o' } });
    }
    const events = decodeLogsProtobuf(ProtobufLogsSerializer.serializeRequest(exporter.getFinishedLogRecords())!, ctx());
    expect(events.map((e) => e.attributes)).toEqual([0, 1, 2].flatMap(() => keys.map((k) => ({ [k]: `v-${k}`, other: 'o' }))));
  });

  it('decodes protobuf and JSON spans to identical records', () => {
    const spans = sdkSpans();
    const fromProto = decodeTracesProtobuf(ProtobufTraceSerializer.serializeRequest(spans)!, ctx());
    const fromJson = decodeTracesJson(Buffer.from(JsonTraceSerializer.serializeRequest(spans)!), ctx());
    expect(fromProto.map(plainSpan)).toEqual(fromJson.map(plainSpan));
    const child = fromProto.find((s) => s.name === 'retrieval')!;
    const parent = fromProto.find((s) => s.name === 'parent')!;
    expect(child.startTimeUnixNano).toBe(1_900_000_000_000_000_500n);
    expect(child.endTimeUnixNano - child.startTimeUnixNano).toBe(400n);
    expect(child.kind).toBe(SpanKind.INTERNAL + 1);
    expect(parent.kind).toBe(SpanKind.SERVER + 1);
    expect(child.statusCode).toBe(1);
    expect(child.attributes).toEqual({ 'gen_ai.operation.name': 'retrieval', list: '[true,false]' });
    expect(child.events).toEqual([{ timeUnixNano: 1_900_000_000_000_000_700n, name: 'chunk', attributes: { n: '1' } }]);
    expect(child.links).toEqual([{ traceId: parent.traceId, spanId: parent.spanId, traceState: '', attributes: { why: 'follows' } }]);
    expect(child.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});

// ---- hand-built protobuf for hostile cases ---------------------------------------------------------------------

function kv(w: BinaryWriter, field: number, key: string, value: (w: BinaryWriter) => void) {
  w.tag(field, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).string(key);
  w.tag(2, WireType.LengthDelimited).fork();
  value(w);
  w.join().join();
}

/** ExportLogsServiceRequest with one resource, one scope and the given log records. */
function logsRequest(records: Array<(w: BinaryWriter) => void>, resourceAttrs: Record<string, string> = {}): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).fork();
  for (const [k, v] of Object.entries(resourceAttrs)) kv(w, 1, k, (x) => x.tag(1, WireType.LengthDelimited).string(v));
  w.join();
  w.tag(2, WireType.LengthDelimited).fork();
  for (const r of records) {
    w.tag(2, WireType.LengthDelimited).fork();
    r(w);
    w.join();
  }
  w.join().join();
  return w.finish();
}

const named = (name: string) => (w: BinaryWriter) => {
  w.tag(1, WireType.Bit64).fixed64(1_900_000_000_000_000_000n);
  w.tag(12, WireType.LengthDelimited).string(name);
};

describe('hostile protobuf', () => {
  it('refuses a truncated body as undecodable', () => {
    const good = logsRequest([named('a'), named('b')]);
    for (const cut of [1, 5, good.length - 3, good.length - 1]) {
      expect(() => decodeLogsProtobuf(good.subarray(0, cut), ctx()), `cut at ${cut}`).toThrow(DecodeError);
    }
  });

  it('refuses a known field with the wrong wire type, naming the field', () => {
    const bad = logsRequest([(w) => w.tag(1, WireType.Varint).uint64(5)]);
    expect(() => decodeLogsProtobuf(bad, ctx())).toThrow(/field LogRecord\.time_unix_nano has wire type varint, which does not match its type/);
  });

  it('refuses random bytes and skips unknown fields', () => {
    expect(() => decodeLogsProtobuf(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), ctx())).toThrow(DecodeError);
    const withUnknown = logsRequest([
      (w) => {
        named('kept')(w);
        w.tag(99, WireType.LengthDelimited).string('future field');
        w.tag(98, WireType.Varint).uint32(1);
      },
    ]);
    expect(decodeLogsProtobuf(withUnknown, ctx()).map((e) => e.eventName)).toEqual(['kept']);
    expect(decodeLogsProtobuf(new Uint8Array(0), ctx())).toEqual([]);
  });

  it('refuses only the records with bad ids or oversized values, keeping the rest', () => {
    const c = ctx();
    const events = decodeLogsProtobuf(
      logsRequest([
        named('ok-1'),
        (w) => {
          named('bad-trace')(w);
          w.tag(9, WireType.LengthDelimited).bytes(new Uint8Array(5));
        },
        (w) => {
          named('huge')(w);
          kv(w, 6, 'blob', (x) => x.tag(1, WireType.LengthDelimited).string('x'.repeat(limits.max_attribute_value_length + 1)));
        },
        named('ok-2'),
      ]),
      c,
    );
    expect(events.map((e) => e.eventName)).toEqual(['ok-1', 'ok-2']);
    expect(c.rejections).toEqual([
      { code: 'invalid_id', reason: 'log record: invalid trace_id: expected 16 bytes, got 5', count: 1 },
      { code: 'limit', reason: `log record: attribute "blob" value longer than ${limits.max_attribute_value_length} characters`, count: 1 },
    ]);
  });

  it('refuses values nested deeper than the limit without exhausting the stack', () => {
    const deep = (w: BinaryWriter, depth: number): void => {
      if (depth === 0) {
        w.tag(1, WireType.LengthDelimited).string('leaf');
        return;
      }
      w.tag(5, WireType.LengthDelimited).fork(); // array_value
      w.tag(1, WireType.LengthDelimited).fork(); // values[0]
      deep(w, depth - 1);
      w.join().join();
    };
    const c = ctx();
    const events = decodeLogsProtobuf(
      logsRequest([
        (w) => {
          named('deep')(w);
          kv(w, 6, 'd', (x) => deep(x, 5000));
        },
        named('fine'),
      ]),
      c,
    );
    expect(events.map((e) => e.eventName)).toEqual(['fine']);
    expect(c.rejections[0]).toMatchObject({ code: 'limit', count: 1 });
    expect(c.rejections[0].reason).toMatch(/nested deeper than 16 levels/);
  });

  it('refuses a resource that names another tenant', () => {
    expect(() => decodeLogsProtobuf(logsRequest([named('x')], { 'tenant.id': 'globex' }), ctx())).toThrow(/does not match the write key's tenant/);
    expect(decodeLogsProtobuf(logsRequest([named('x')], { 'tenant.id': 'acme' }), ctx())).toHaveLength(1);
  });

  it('counts every record under a resource that breaks a limit', () => {
    const c = ctx({ limits: { ...limits, max_attributes_per_record: 1 } });
    const events = decodeLogsProtobuf(logsRequest([named('a'), named('b'), named('c')], { one: '1', two: '2' }), c);
    expect(events).toEqual([]);
    expect(c.rejections).toEqual([{ code: 'limit', reason: 'resource: more than 1 attributes', count: 3 }]);
  });

  it('decodes int64 values exactly across the whole range', () => {
    const values = [0n, 1n, -1n, -17n, 127n, 128n, 2n ** 31n, -(2n ** 31n), 2n ** 53n + 2n, -(2n ** 53n) - 3n, 2n ** 63n - 1n, -(2n ** 63n)];
    const events = decodeLogsProtobuf(
      logsRequest([
        (w) => {
          named('ints')(w);
          values.forEach((v, i) => {
            kv(w, 6, `v${i}`, (x) => x.tag(3, WireType.Varint).int64(v));
          });
          kv(w, 6, 'arr', (x) => {
            x.tag(5, WireType.LengthDelimited).fork();
            for (const v of [-(2n ** 63n), 2n ** 63n - 1n]) x.tag(1, WireType.LengthDelimited).fork().tag(3, WireType.Varint).int64(v).join();
            x.join();
          });
        },
      ]),
      ctx(),
    );
    expect(events[0].attributes).toEqual({
      ...Object.fromEntries(values.map((v, i) => [`v${i}`, v.toString()])),
      arr: '[-9223372036854775808,9223372036854775807]',
    });
  });

  it('falls back to observed time, then receive time, when a record has no time', () => {
    const events = decodeLogsProtobuf(
      logsRequest([(w) => w.tag(11, WireType.Bit64).fixed64(7n), (w) => w.tag(12, WireType.LengthDelimited).string('untimed')]),
      ctx(),
    );
    expect(events.map((e) => e.timeUnixNano)).toEqual([7n, 42n]);
  });
});

describe('hostile JSON', () => {
  const body = (o: unknown) => Buffer.from(JSON.stringify(o));
  const wrap = (records: unknown[]) => ({ resourceLogs: [{ resource: { attributes: [] }, scopeLogs: [{ logRecords: records }] }] });

  it('refuses invalid JSON and wrong top-level shapes as undecodable', () => {
    expect(() => decodeLogsJson(Buffer.from('{"resourceLogs": ['), ctx())).toThrow(/invalid JSON/);
    expect(() => decodeLogsJson(Buffer.from('[1,2]'), ctx())).toThrow(/expected a JSON object/);
    expect(() => decodeLogsJson(body({ resourceLogs: 'nope' }), ctx())).toThrow(/resourceLogs must be an array/);
  });

  it('refuses records with wrong-typed fields or bad hex ids, keeping the rest; ignores unknown fields', () => {
    const c = ctx();
    const events = decodeLogsJson(
      body(
        wrap([
          { eventName: 'ok', timeUnixNano: '1900000000000000001', futureField: { x: 1 } },
          { eventName: 'bad-time', timeUnixNano: true },
          { eventName: 'bad-id', traceId: 'not-hex' },
          { eventName: 'number-time', timeUnixNano: 1_900_000_000_000 },
          { eventName: 'upper-hex', traceId: '0123456789ABCDEF0123456789ABCDEF', severityNumber: 'SEVERITY_NUMBER_WARN' },
        ]),
      ),
      c,
    );
    expect(events.map((e) => e.eventName)).toEqual(['ok', 'number-time', 'upper-hex']);
    expect(events[0].timeUnixNano).toBe(1_900_000_000_000_000_001n);
    expect(events[2].traceId).toBe('0123456789abcdef0123456789abcdef');
    expect(events[2].severityNumber).toBe(13);
    expect(c.rejections.map((r) => r.reason)).toEqual([
      'log record: timeUnixNano must be an integer or a decimal string',
      'log record: invalid traceId: expected 32 hex characters',
    ]);
  });

  it('refuses spans without valid ids', () => {
    const c = ctx();
    const spans = decodeTracesJson(
      body({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  { name: 'no-ids' },
                  { name: 'zero', traceId: '0'.repeat(32), spanId: '1'.repeat(16) },
                  { name: 'ok', traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), kind: 2, status: { code: 2 } },
                ],
              },
            ],
          },
        ],
      }),
      c,
    );
    expect(spans.map((s) => s.name)).toEqual(['ok']);
    expect(spans[0]).toMatchObject({ kind: 2, statusCode: 2, eventId: 'a'.repeat(32) + 'b'.repeat(16) });
    expect(c.rejections).toEqual([{ code: 'invalid_id', reason: 'span: missing or all-zero trace_id', count: 2 }]);
  });

  it('applies the configured string-field limits, in both encodings', () => {
    const small = otlpReceiverSchema.parse({ limits: { max_name_length: 8, max_id_length: 4, max_field_length: 5 } }).limits;
    const records = [
      { eventName: '12345678', severityText: 'INFO' },
      { eventName: '123456789' },
      { eventName: 'a', severityText: 'NOTICE' },
      { eventName: 'b', attributes: [['user.id', 'u-123']] as const },
    ];
    const json = body({
      resourceLogs: [
        {
          scopeLogs: [{ logRecords: records.map((r) => ({ ...r, attributes: (r.attributes ?? []).map(([key, v]) => ({ key, value: { stringValue: v } })) })) }],
        },
      ],
    });
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited).fork().tag(2, WireType.LengthDelimited).fork();
    for (const r of records) {
      w.tag(2, WireType.LengthDelimited).fork();
      if (r.severityText) w.tag(3, WireType.LengthDelimited).string(r.severityText);
      for (const [key, v] of r.attributes ?? [])
        w.tag(6, WireType.LengthDelimited)
          .fork()
          .tag(1, WireType.LengthDelimited)
          .string(key)
          .tag(2, WireType.LengthDelimited)
          .fork()
          .tag(1, WireType.LengthDelimited)
          .string(v)
          .join()
          .join();
      w.tag(12, WireType.LengthDelimited).string(r.eventName).join();
    }
    w.join().join();
    for (const [encoding, decoded] of [
      ['json', (c: DecodeContext) => decodeLogsJson(json, c)],
      ['protobuf', (c: DecodeContext) => decodeLogsProtobuf(w.finish(), c)],
    ] as const) {
      const c = ctx({ limits: small });
      expect(
        decoded(c).map((e) => e.eventName),
        encoding,
      ).toEqual(['12345678']);
      const [name, severity] = encoding === 'json' ? ['eventName', 'severityText'] : ['event_name', 'severity_text'];
      expect(c.rejections.map((r) => r.reason)).toEqual([
        `log record: ${name} longer than 8 characters`,
        `log record: ${severity} longer than 5 characters`,
        'log record: user.id / enduser.id longer than 4 characters',
      ]);
    }
  });
});
