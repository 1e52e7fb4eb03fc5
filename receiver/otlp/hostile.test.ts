/**
 * Property-based tests of the OTLP decoders (JSON and protobuf, logs and traces) over real HTTP into the real
 * store. Random requests with hostile keys and text, some records broken on purpose (over a limit): the reply
 * counts exactly the broken ones, and every other record is stored once, field for field as sent. Random
 * bodies and byte-level mutations of valid ones: never a server error, and the next valid request is served
 * and stored.
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
import {
  type KeyValues,
  type LogsModel,
  logsJson,
  logsProtobuf,
  partialSuccess,
  type SpanModel,
  type TracesModel,
  tracesJson,
  tracesProtobuf,
} from '../../test/helpers/otlp.ts';
import { ACME_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService(PROPERTY_SERVICE);
});
afterAll(async () => {
  await svc?.close();
});

/** Attributes the decoders read for identity and tenancy: random keys stay clear of them. */
const RESERVED = new Set([
  'log.record.uid',
  'event.id',
  'session.id',
  'user.id',
  'enduser.id',
  'anonymous.id',
  'tenant.id',
  'signalhouse.tenant.id',
  'service.name',
]);
const key = keyOf((k) => RESERVED.has(k));
const pairs = (maxLength: number) => fc.array(fc.tuple(key, text(40)), { maxLength });
const CONTENT_TYPE = { json: 'application/json', protobuf: 'application/x-protobuf' } as const;
type Encoding = keyof typeof CONTENT_TYPE;
const ENCODINGS: Encoding[] = ['json', 'protobuf'];
let run = 0;

const post = (path: string, body: Buffer | string, encoding: Encoding, authKey = ACME_KEY) =>
  send(`${svc.url}${path}`, body, { 'content-type': CONTENT_TYPE[encoding], authorization: `Bearer ${authKey}` });

// ---- logs -----------------------------------------------------------------------------------------------------------

const LOG_BREAKS = [
  'none',
  'none',
  'none',
  'none',
  'eventName',
  'severityText',
  'attributeKey',
  'attributeValue',
  'sessionId',
  'attributeCount',
  'time',
] as const;
/** Times far from now (validation refuses them) or past what the tables hold: never 0, which means "unset". */
const farTime = fc.oneof(fc.bigInt({ min: 1n, max: 1_500_000_000_000_000_000n }), fc.bigInt({ min: 2_500_000_000_000_000_000n, max: 2n ** 64n - 1n }));
const MS = 1_000_000n;
const logRequest = fc.record({
  resource: pairs(4),
  scope: fc.record({ name: text(20), version: text(10), attributes: pairs(3) }),
  scopeBreak: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'name', 'version'),
  records: fc.array(
    fc.record({
      eventName,
      severityText: text(12),
      body: text(60),
      attributes: pairs(8),
      offsetMs: fc.integer({ min: -3_600_000, max: 3_600_000 }),
      farTime,
      break: fc.constantFrom(...LOG_BREAKS),
    }),
    { minLength: 1, maxLength: 6 },
  ),
});
type LogRequest = typeof logRequest extends fc.Arbitrary<infer T> ? T : never;

/** Attributes that break a record's limits (defaults: 512 attributes, keys 256, values 64 KiB, ids 256). */
function breaking(kind: string): KeyValues {
  if (kind === 'attributeKey') return [['k'.repeat(257), 'v']];
  if (kind === 'attributeValue') return [['big', 'v'.repeat(64 * 1024 + 1)]];
  if (kind === 'sessionId') return [['session.id', 'i'.repeat(257)]];
  if (kind === 'attributeCount') return Array.from({ length: 513 }, (_, i) => [`n${i}`, 'v'] as const);
  return [];
}

/** The request as sent, and what must be stored for it (event id → record). */
function logModel(req: LogRequest, prefix: string, nowMs = BigInt(Date.now())) {
  const scope = {
    ...req.scope,
    name: req.scopeBreak === 'name' ? 'n'.repeat(1025) : req.scope.name,
    version: req.scopeBreak === 'version' ? 'v'.repeat(4097) : req.scope.version,
  };
  const resource: KeyValues = [['service.name', 'fuzz-otlp'], ...req.resource];
  const records = req.records.map((r, i) => ({
    timeUnixNano: r.break === 'time' ? r.farTime : (nowMs + BigInt(r.offsetMs)) * MS + BigInt(i),
    eventName: r.break === 'eventName' ? 'e'.repeat(1025) : r.eventName,
    severityText: r.break === 'severityText' ? 's'.repeat(4097) : r.severityText,
    body: r.body,
    attributes: [...r.attributes, ...breaking(r.break), ['log.record.uid', `${prefix}-${i}`]] as KeyValues,
  }));
  const expected = req.scopeBreak !== 'none' ? [] : records.filter((_, i) => req.records[i].break === 'none');
  return { model: { resource, scope, records } satisfies LogsModel, expected };
}

type LogRow = {
  EventId: string;
  t: string;
  EventName: string;
  SeverityText: string;
  Body: string;
  LogAttributes: Record<string, string>;
  ResourceAttributes: Record<string, string>;
  ScopeName: string;
  ScopeVersion: string;
  ScopeAttributes: Record<string, string>;
};

describe('OTLP logs', () => {
  for (const encoding of ENCODINGS) {
    it(`stores exactly the records within limits, once and as sent, and counts the others (${encoding})`, async () => {
      await fc.assert(
        fc.asyncProperty(logRequest, async (req) => {
          const prefix = `otlp-logs-${encoding}-${++run}`;
          const { model, expected } = logModel(req, prefix);
          const res = await post('/v1/logs', encoding === 'json' ? logsJson(model) : logsProtobuf(model), encoding);
          expect(res.status).toBe(200);
          expect(partialSuccess(res.bytes, encoding).rejected).toBe(req.records.length - expected.length);
          const rows = await svc.rows<LogRow>(
            'SELECT EventId, toString(toUnixTimestamp64Nano(Timestamp)) AS t, EventName, SeverityText, Body, LogAttributes, ResourceAttributes, ScopeName, ScopeVersion, ScopeAttributes FROM signalhouse.otel_logs WHERE TenantId = {t:String} AND startsWith(EventId, {p:String}) ORDER BY EventId',
            { t: 'acme', p: `${prefix}-` },
          );
          const stored = rows.map((r) => ({
            ...r,
            LogAttributes: entriesOf(r.LogAttributes),
            ResourceAttributes: entriesOf(r.ResourceAttributes),
            ScopeAttributes: entriesOf(r.ScopeAttributes),
          }));
          const want = expected
            .map((r) => ({
              EventId: new Map(r.attributes).get('log.record.uid')!,
              t: String(r.timeUnixNano),
              EventName: r.eventName,
              SeverityText: r.severityText,
              Body: r.body,
              LogAttributes: entriesOf(new Map(r.attributes)),
              ResourceAttributes: entriesOf(new Map(model.resource)),
              ScopeName: model.scope.name,
              ScopeVersion: model.scope.version,
              ScopeAttributes: entriesOf(new Map(model.scope.attributes)),
            }))
            .sort((a, b) => (a.EventId < b.EventId ? -1 : 1));
          expect(stored).toEqual(want);
        }),
        propertyOptions(40),
      );
    });
  }
});

// ---- traces ---------------------------------------------------------------------------------------------------------

const SPAN_BREAKS = ['none', 'none', 'none', 'name', 'eventName', 'traceState', 'statusMessage', 'attributeKey', 'end'] as const;
const traceRequest = fc.array(
  fc.record({
    name: text(30),
    traceState: text(20),
    statusMessage: text(30),
    attributes: pairs(6),
    events: fc.array(fc.record({ name: text(20), attributes: pairs(3) }), { maxLength: 2 }),
    links: fc.array(fc.record({ traceState: text(10), attributes: pairs(3) }), { maxLength: 2 }),
    durationNs: fc.bigInt({ min: 0n, max: 10n ** 15n }),
    /** How far past 2262 a broken span ends. */
    lateNs: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
    break: fc.constantFrom(...SPAN_BREAKS),
  }),
  { minLength: 1, maxLength: 5 },
);

describe('OTLP traces', () => {
  for (const encoding of ENCODINGS) {
    it(`stores exactly the spans within limits, once and as sent, and counts the others (${encoding})`, async () => {
      await fc.assert(
        fc.asyncProperty(traceRequest, async (spans) => {
          const traceId = (++run).toString(16).padStart(8, '0') + (encoding === 'json' ? 'a' : 'b').repeat(24);
          const start = BigInt(Date.now()) * MS;
          const sent: SpanModel[] = spans.map((s, i) => ({
            traceId,
            startTimeUnixNano: start,
            endTimeUnixNano: s.break === 'end' ? 2n ** 63n + s.lateNs : start + s.durationNs,
            spanId: `${(i + 1).toString(16).padStart(2, '0')}`.padEnd(16, 'c'),
            name: s.break === 'name' ? 'n'.repeat(1025) : s.name,
            traceState: s.break === 'traceState' ? 't'.repeat(4097) : s.traceState,
            statusMessage: s.break === 'statusMessage' ? 'm'.repeat(64 * 1024 + 1) : s.statusMessage,
            attributes: [...s.attributes, ...breaking(s.break)],
            events: [...s.events, ...(s.break === 'eventName' ? [{ name: 'e'.repeat(1025) }] : [])],
            links: s.links.map((l) => ({ traceId, spanId: 'ffffffffffffffff', ...l })),
          }));
          const model: TracesModel = { resource: [['service.name', 'fuzz-otlp']], spans: sent };
          const res = await post('/v1/traces', encoding === 'json' ? tracesJson(model) : tracesProtobuf(model), encoding);
          expect(res.status).toBe(200);
          const expected = sent.filter((_, i) => spans[i].break === 'none');
          expect(partialSuccess(res.bytes, encoding).rejected).toBe(spans.length - expected.length);
          const rows = await svc.rows<{
            SpanId: string;
            d: string;
            SpanName: string;
            TraceState: string;
            StatusMessage: string;
            SpanAttributes: Record<string, string>;
            en: string[];
            ea: Record<string, string>[];
            lts: string[];
            la: Record<string, string>[];
          }>(
            'SELECT SpanId, toString(Duration) AS d, SpanName, TraceState, StatusMessage, SpanAttributes, `Events.Name` AS en, `Events.Attributes` AS ea, `Links.TraceState` AS lts, `Links.Attributes` AS la FROM signalhouse.otel_traces WHERE TraceId = {t:String} ORDER BY SpanId',
            { t: traceId },
          );
          expect(rows.map((r) => ({ ...r, SpanAttributes: entriesOf(r.SpanAttributes), ea: r.ea.map(entriesOf), la: r.la.map(entriesOf) }))).toEqual(
            expected.map((s) => ({
              SpanId: s.spanId,
              d: String(s.endTimeUnixNano! - s.startTimeUnixNano!),
              SpanName: s.name,
              TraceState: s.traceState,
              StatusMessage: s.statusMessage,
              SpanAttributes: entriesOf(new Map(s.attributes)),
              en: s.events!.map((e) => e.name),
              ea: s.events!.map((e) => entriesOf(new Map(e.attributes))),
              lts: s.links!.map((l) => l.traceState),
              la: s.links!.map((l) => entriesOf(new Map(l.attributes))),
            })),
          );
        }),
        propertyOptions(30),
      );
    });
  }
});

// ---- random and mutated bodies ----------------------------------------------------------------------------------------

const validBody = (signal: 'logs' | 'traces', encoding: Encoding) =>
  signal === 'logs'
    ? logRequest.map((req) => logModel(req, `mut-${encoding}`).model).map((m) => Buffer.from(encoding === 'json' ? logsJson(m) : logsProtobuf(m)))
    : traceRequest
        .map((spans) => ({ spans: spans.map((s, i) => ({ ...s, traceId: 'd'.repeat(32), spanId: `${i + 1}`.padEnd(16, 'e'), links: [] })) }))
        .map((m) => Buffer.from(encoding === 'json' ? tracesJson(m) : tracesProtobuf(m)));

const hostileRequest = fc
  .record({
    signal: fc.constantFrom('logs' as const, 'traces' as const),
    encoding: fc.constantFrom(...ENCODINGS),
    contentType: fc.constantFrom('match', 'match', 'match', 'text/plain', 'application/json; charset=utf-8', ''),
  })
  .chain((r) => fc.record({ request: fc.constant(r), body: fc.oneof(validBody(r.signal, r.encoding).chain(mutatedBytes), randomBody).chain(encodedBody) }));

describe('OTLP hostile bodies', () => {
  it('never answers a random or mutated body with a server error, and serves and stores the next valid request', async () => {
    let probes = 0;
    await fc.assert(
      fc.asyncProperty(hostileRequest, async ({ request, body }) => {
        const headers: Record<string, string> = { authorization: `Bearer ${FUZZ_KEY}` };
        if (request.contentType === 'match') headers['content-type'] = CONTENT_TYPE[request.encoding];
        else if (request.contentType !== '') headers['content-type'] = request.contentType;
        if (body.encoding) headers['content-encoding'] = body.encoding;
        const res = await send(`${svc.url}/v1/${request.signal}`, body.body, headers);
        expect(CLIENT_STATUSES).toContain(res.status);
        const probe = logsProtobuf({ records: [{ eventName: 'probe', attributes: [['log.record.uid', `probe-otlp-${++probes}`]] }] });
        expect((await post('/v1/logs', probe, 'protobuf', FUZZ_KEY)).status).toBe(200);
      }),
      propertyOptions(120, 10),
    );
    const [stored] = await svc.rows<{ n: string; ids: string }>(
      "SELECT count() AS n, uniqExact(EventId) AS ids FROM signalhouse.otel_logs WHERE TenantId = 'fuzz' AND startsWith(EventId, 'probe-otlp-')",
    );
    expect([Number(stored.n), Number(stored.ids)]).toEqual([probes, probes]);
  });
});
