/**
 * Keys named like JavaScript prototype members (`__proto__`, `constructor`, `toString`, …) are data like any
 * other: every receiver stores them exactly as sent, through the default processors (consent, validate, enrich,
 * redact, dedupe) and the exporter, in record, resource and scope attributes, span events and links, traits
 * and properties; and they count against the attribute limit like any other key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { type KeyValues, logsJson, logsProtobuf, tracesJson, tracesProtobuf } from '../test/helpers/otlp.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

const PROTOTYPE_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'toLocaleString',
  '__defineGetter__',
  '__lookupGetter__',
];
const pairs = (tag: string): KeyValues => PROTOTYPE_KEYS.map((k) => [k, `${tag}:${k}`] as const);
/** The same pairs as an object with every key its own data property (computed keys never set the prototype). */
const objectOf = (kvs: KeyValues) => Object.fromEntries(kvs) as Record<string, string>;
/** Sorted entries: compares maps key by key, whatever their prototype. */
const entries = (m: Record<string, string>, keys?: readonly string[]) =>
  Object.entries(m)
    .filter(([k]) => keys === undefined || keys.includes(k))
    .sort(([a], [b]) => (a < b ? -1 : 1));
const sorted = (kvs: KeyValues) => [...kvs].map(([k, v]) => [k, v]).sort(([a], [b]) => (a < b ? -1 : 1));

const auth = { authorization: `Bearer ${ACME_KEY}` };
async function post(path: string, body: string | Uint8Array, contentType = 'application/json') {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : Buffer.from(body),
    headers: { ...auth, 'content-type': contentType },
  });
  return { status: res.status, text: await res.text() };
}

type LogRow = { LogAttributes: Record<string, string>; ResourceAttributes: Record<string, string>; ScopeAttributes: Record<string, string> };
const logRow = async (eventId: string) => {
  const rows = await svc.rows<LogRow>('SELECT LogAttributes, ResourceAttributes, ScopeAttributes FROM signalhouse.otel_logs WHERE EventId = {id:String}', {
    id: eventId,
  });
  expect(rows).toHaveLength(1);
  return rows[0];
};

describe('OTLP', () => {
  for (const encoding of ['json', 'protobuf'] as const) {
    it(`stores prototype-named keys of records, resources and scopes (logs, ${encoding})`, async () => {
      const id = `proto-keys-logs-${encoding}`;
      const model = {
        resource: [['service.name', 'proto-keys'], ...pairs('resource')] as KeyValues,
        scope: { name: 'proto-keys', attributes: pairs('scope') },
        records: [{ eventName: 'proto.keys', attributes: [['log.record.uid', id], ...pairs('record')] as KeyValues }],
      };
      const res = encoding === 'json' ? await post('/v1/logs', logsJson(model)) : await post('/v1/logs', logsProtobuf(model), 'application/x-protobuf');
      expect(res.status).toBe(200);
      const row = await logRow(id);
      expect(entries(row.LogAttributes, PROTOTYPE_KEYS)).toEqual(sorted(pairs('record')));
      expect(entries(row.ResourceAttributes, PROTOTYPE_KEYS)).toEqual(sorted(pairs('resource')));
      expect(entries(row.ScopeAttributes)).toEqual(sorted(pairs('scope')));
    });

    it(`stores prototype-named keys of spans, span events and links (traces, ${encoding})`, async () => {
      const traceId = encoding === 'json' ? '0af7651916cd43dd8448eb211c80319c' : '1af7651916cd43dd8448eb211c80319c';
      const model = {
        resource: [['service.name', 'proto-keys'], ...pairs('resource')] as KeyValues,
        spans: [
          {
            traceId,
            spanId: 'b7ad6b7169203331',
            name: 'proto.keys',
            attributes: pairs('span'),
            events: [{ name: 'ev', attributes: pairs('event') }],
            links: [{ traceId, spanId: 'c7ad6b7169203331', attributes: pairs('link') }],
          },
        ],
      };
      const res = encoding === 'json' ? await post('/v1/traces', tracesJson(model)) : await post('/v1/traces', tracesProtobuf(model), 'application/x-protobuf');
      expect(res.status).toBe(200);
      const rows = await svc.rows<{
        SpanAttributes: Record<string, string>;
        ResourceAttributes: Record<string, string>;
        events: Record<string, string>[];
        links: Record<string, string>[];
      }>(
        'SELECT SpanAttributes, ResourceAttributes, `Events.Attributes` AS events, `Links.Attributes` AS links FROM signalhouse.otel_traces WHERE TraceId = {t:String}',
        { t: traceId },
      );
      expect(rows).toHaveLength(1);
      expect(entries(rows[0].SpanAttributes)).toEqual(sorted(pairs('span')));
      expect(entries(rows[0].ResourceAttributes, PROTOTYPE_KEYS)).toEqual(sorted(pairs('resource')));
      expect(entries(rows[0].events[0])).toEqual(sorted(pairs('event')));
      expect(entries(rows[0].links[0])).toEqual(sorted(pairs('link')));
    });

    it(`counts prototype-named keys against the attribute limit (${encoding})`, async () => {
      // 511 ordinary keys and two prototype-named ones: 513 attributes, one more than the default 512.
      const attributes: KeyValues = [...Array.from({ length: 511 }, (_, i) => [`k${i}`, 'v'] as const), ['constructor', 'c'], ['toString', 't']];
      const model = { records: [{ eventName: `proto.limit.${encoding}`, attributes }] };
      const res = encoding === 'json' ? await post('/v1/logs', logsJson(model)) : await post('/v1/logs', logsProtobuf(model), 'application/x-protobuf');
      expect(res.status).toBe(200);
      // The refusal names the limit in either encoding (protobuf carries the same message as UTF-8).
      expect(res.text).toContain('log record: more than 512 attributes (1)');
      const [{ n }] = await svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {name:String}', {
        name: `proto.limit.${encoding}`,
      });
      expect(Number(n)).toBe(0);
    });
  }
});

describe('product APIs', () => {
  it('envelope: stores prototype-named attribute keys of a known (schema-validated) event', async () => {
    const attributes = { ...objectOf(pairs('env')), 'voice.turn_id': 't-1' };
    const res = await post('/api/v1/analytics/events', JSON.stringify({ event_id: 'proto-env', event_name: 'voice.turn_started', attributes }));
    expect(res.status).toBe(202);
    expect(entries((await logRow('proto-env')).LogAttributes, PROTOTYPE_KEYS)).toEqual(sorted(pairs('env')));
  });

  it('Segment: stores prototype-named property and trait keys', async () => {
    const batch = [
      { type: 'track', userId: 'proto-user', event: 'proto.keys', messageId: 'proto-seg-track', properties: objectOf(pairs('prop')) },
      { type: 'identify', userId: 'proto-user', messageId: 'proto-seg-identify', traits: objectOf(pairs('trait')) },
    ];
    expect((await post('/v1/batch', JSON.stringify({ batch }))).status).toBe(200);
    expect(entries((await logRow('proto-seg-track')).LogAttributes, PROTOTYPE_KEYS)).toEqual(sorted(pairs('prop')));
    const traitKeys = PROTOTYPE_KEYS.map((k) => `traits.${k}`);
    expect(entries((await logRow('proto-seg-identify')).LogAttributes, traitKeys)).toEqual(sorted(pairs('trait').map(([k, v]) => [`traits.${k}`, v] as const)));
    const traits = await svc.rows<{ Key: string; Value: string }>(
      "SELECT Key, Value FROM signalhouse.identity_traits WHERE TenantId = 'acme' AND UserId = 'proto-user' ORDER BY Key",
    );
    expect(traits.map((t) => [t.Key, t.Value])).toEqual(sorted(pairs('trait')));
  });

  it('PostHog: stores prototype-named property keys under their own names, and in $set', async () => {
    const event = {
      event: 'proto.keys',
      distinct_id: 'proto-ph-user',
      uuid: 'proto-ph',
      properties: { ...objectOf(pairs('ph')), $set: objectOf(pairs('set')) },
    };
    expect((await post('/capture/', JSON.stringify({ api_key: ACME_KEY, batch: [event] }))).status).toBe(200);
    const { LogAttributes } = await logRow('proto-ph');
    expect(entries(LogAttributes, PROTOTYPE_KEYS)).toEqual(sorted(pairs('ph')));
    expect(
      entries(
        LogAttributes,
        PROTOTYPE_KEYS.map((k) => `traits.${k}`),
      ),
    ).toEqual(sorted(pairs('set').map(([k, v]) => [`traits.${k}`, v] as const)));
    // Nothing stored under a key made from a prototype member.
    expect(Object.keys(LogAttributes).filter((k) => k.includes('[object') || k.includes('native code'))).toEqual([]);
  });

  it('refuses a tenant id that cannot be shown as text with 403, not 500', async () => {
    const res = await post('/api/v1/analytics/events', JSON.stringify({ event_name: 'proto.tenant', tenant_id: { toString: 1, valueOf: 1 } }));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({
      error: 'FORBIDDEN_TENANT',
      message: 'tenant_id {"toString":1,"valueOf":1} does not match the write key\'s tenant',
    });
  });
});
