/**
 * Every string field has a limit (`limits.*` in configuration.md): names, ids and other text fields longer
 * than theirs refuse the record — OTLP in partial success, the product APIs per event — naming the field;
 * a scope that breaks one refuses every record under it. Values at the limit are stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { type LogsModel, logsJson, logsProtobuf, partialSuccess, type TracesModel, tracesJson, tracesProtobuf } from '../test/helpers/otlp.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

const NAME = 1024;
const ID = 256;
const FIELD = 4096;
const x = (n: number) => 'x'.repeat(n);

async function post(path: string, body: string | Uint8Array, contentType = 'application/json') {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : Buffer.from(body),
    headers: { authorization: `Bearer ${ACME_KEY}`, 'content-type': contentType },
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, bytes, text: bytes.toString() };
}
const count = async (table: string, where: string, params: Record<string, unknown>) =>
  Number((await svc.rows<{ n: string }>(`SELECT count() AS n FROM signalhouse.${table} WHERE ${where}`, params))[0].n);

const partialSuccessMessage = (reply: { bytes: Buffer }, encoding: 'json' | 'protobuf') => partialSuccess(reply.bytes, encoding).message;

describe('OTLP', () => {
  for (const encoding of ['json', 'protobuf'] as const) {
    const field = (json: string, proto: string) => (encoding === 'json' ? json : proto);
    const sendLogs = (m: LogsModel) => (encoding === 'json' ? post('/v1/logs', logsJson(m)) : post('/v1/logs', logsProtobuf(m), 'application/x-protobuf'));
    const sendTraces = (m: TracesModel) =>
      encoding === 'json' ? post('/v1/traces', tracesJson(m)) : post('/v1/traces', tracesProtobuf(m), 'application/x-protobuf');

    it(`refuses log records by field: event name, severity text, ids (${encoding})`, async () => {
      const tag = `lim-logs-${encoding}`;
      const res = await sendLogs({
        records: [
          { eventName: tag, severityText: x(FIELD), attributes: [['session.id', x(ID)]] },
          { eventName: x(NAME + 1) },
          { eventName: tag, severityText: x(FIELD + 1) },
          { eventName: tag, attributes: [['session.id', x(ID + 1)]] },
          { eventName: tag, attributes: [['user.id', x(ID + 1)]] },
        ],
      });
      expect(res.status).toBe(200);
      const message = partialSuccessMessage(res, encoding);
      for (const reason of [
        `log record: ${field('eventName', 'event_name')} longer than ${NAME} characters (1)`,
        `log record: ${field('severityText', 'severity_text')} longer than ${FIELD} characters (1)`,
        `log record: session.id longer than ${ID} characters (1)`,
        `log record: user.id / enduser.id longer than ${ID} characters (1)`,
      ])
        expect(message).toContain(reason);
      expect(await count('otel_logs', 'EventName = {tag:String}', { tag })).toBe(1);
    });

    it(`refuses every record under a scope whose name or version is too long (${encoding})`, async () => {
      const tag = `lim-scope-${encoding}`;
      const records = [{ eventName: tag }, { eventName: tag }];
      const longName = await sendLogs({ scope: { name: x(NAME + 1) }, records });
      expect(partialSuccessMessage(longName, encoding)).toContain(`scope: scope.name longer than ${NAME} characters (2)`);
      const longVersion = await sendLogs({ scope: { name: 's', version: x(FIELD + 1) }, records });
      expect(partialSuccessMessage(longVersion, encoding)).toContain(`scope: scope.version longer than ${FIELD} characters (2)`);
      expect(await count('otel_logs', 'EventName = {tag:String}', { tag })).toBe(0);
      expect((await sendLogs({ scope: { name: x(NAME), version: x(FIELD) }, records: [{ eventName: tag }] })).status).toBe(200);
      expect(await count('otel_logs', 'EventName = {tag:String}', { tag })).toBe(1);
    });

    it(`refuses spans by field: name, event name, trace state, status message (${encoding})`, async () => {
      const traceId = encoding === 'json' ? '2af7651916cd43dd8448eb211c80319c' : '3af7651916cd43dd8448eb211c80319c';
      const span = (i: number, over: object = {}) => ({
        traceId,
        spanId: `00000000000000${String(i).padStart(2, '0')}`.replace(/^0/, 'a'),
        name: 'lim.span',
        ...over,
      });
      const res = await sendTraces({
        spans: [
          span(1, { name: x(NAME), traceState: x(FIELD), events: [{ name: x(NAME) }], statusMessage: x(64 * 1024) }),
          span(2, { name: x(NAME + 1) }),
          span(3, { events: [{ name: x(NAME + 1) }] }),
          span(4, { traceState: x(FIELD + 1) }),
          span(5, { statusMessage: x(64 * 1024 + 1) }),
        ],
      });
      expect(res.status).toBe(200);
      const message = partialSuccessMessage(res, encoding);
      for (const reason of [
        `span: name longer than ${NAME} characters (1)`,
        `span: events.name longer than ${NAME} characters (1)`,
        `span: ${field('traceState', 'trace_state')} longer than ${FIELD} characters (1)`,
        `span: status.message longer than ${64 * 1024} characters (1)`,
      ])
        expect(message).toContain(reason);
      expect(await count('otel_traces', 'TraceId = {traceId:String}', { traceId })).toBe(1);
    });
  }
});

/** Single-event requests per product API; `over` replaces fields of a valid event. */
const APIS = {
  envelope: {
    path: '/api/v1/analytics/events',
    event: (id: string, over: object = {}) => ({ event_id: id, event_name: 'lim.event', user_id: 'u', ...over }),
    fields: { event_name: NAME, event_id: ID, user_id: ID, anonymous_id: ID, session_id: ID },
  },
  segment: {
    path: '/v1/track',
    event: (id: string, over: object = {}) => ({ messageId: id, event: 'lim.event', userId: 'u', ...over }),
    fields: { event: NAME, messageId: ID, userId: ID, anonymousId: ID },
  },
  posthog: {
    path: '/capture/',
    event: (id: string, over: object = {}) => ({ uuid: id, event: 'lim.event', distinct_id: 'u', ...over }),
    fields: { event: NAME, uuid: ID, distinct_id: ID },
  },
} as const;

describe('product APIs', () => {
  for (const [api, { path, event, fields }] of Object.entries(APIS)) {
    it(`${api}: refuses events whose name or ids are too long, naming the field; stores them at the limit`, async () => {
      for (const [name, max] of Object.entries(fields)) {
        const res = await post(path, JSON.stringify(event(`lim-${api}-${name}`, { [name]: x(max + 1) })));
        expect(res.status, `${api} ${name}`).toBe(400);
        expect(res.text).toContain(`${name} longer than ${max} characters`);
      }
      // Every field at its limit; the event id (second field) unique per API, so dedupe keeps each.
      const atLimit: Record<string, string> = Object.fromEntries(Object.entries(fields).map(([name, max]) => [name, x(max)]));
      const id = api.padEnd(ID, 'x');
      atLimit[Object.keys(fields)[1]] = id;
      expect((await post(path, JSON.stringify(event(id, atLimit)))).status).toBeLessThan(300);
      expect(await count('otel_logs', 'EventId = {id:String} AND ScopeName = {scope:String}', { id, scope: `signalhouse/${api}` })).toBe(1);
    });
  }

  it('PostHog: refuses a session id ($session_id) that is too long', async () => {
    const res = await post('/capture/', JSON.stringify(APIS.posthog.event('lim-ph-session', { properties: { $session_id: x(ID + 1) } })));
    expect(res.status).toBe(400);
    expect(res.text).toContain(`$session_id longer than ${ID} characters`);
  });
});

describe('times', () => {
  for (const encoding of ['json', 'protobuf'] as const) {
    it(`refuses a span ending after 2262, the latest time stored (${encoding})`, async () => {
      const traceId = encoding === 'json' ? '4af7651916cd43dd8448eb211c80319c' : '5af7651916cd43dd8448eb211c80319c';
      const model: TracesModel = {
        spans: [
          { traceId, spanId: 'a000000000000001', name: 'late', startTimeUnixNano: BigInt(Date.now()) * 1_000_000n, endTimeUnixNano: 2n ** 64n - 1n },
          { traceId, spanId: 'a000000000000002', name: 'ok', startTimeUnixNano: BigInt(Date.now()) * 1_000_000n },
        ],
      };
      const res = encoding === 'json' ? await post('/v1/traces', tracesJson(model)) : await post('/v1/traces', tracesProtobuf(model), 'application/x-protobuf');
      expect(res.status).toBe(200);
      expect(partialSuccess(res.bytes, encoding)).toEqual({
        rejected: 1,
        message: `span: ${encoding === 'json' ? 'endTimeUnixNano' : 'end_time_unix_nano'} is after 2262-04-11, the latest time stored (1)`,
      });
      expect(await count('otel_traces', 'TraceId = {traceId:String}', { traceId })).toBe(1);
    });
  }

  it('refuses a product event whose time overflows after clock-skew correction', async () => {
    const res = await post('/api/v1/analytics/events', JSON.stringify({ event_name: 'lim.time', occurred_at: 1.7e308, sent_at: -1.7e308 }));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({
      error: 'INVALID_EVENT',
      message: 'occurred_at (after clock-skew correction) is outside 1970 to 2262, the times stored',
    });
  });
});
