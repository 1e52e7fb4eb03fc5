/**
 * OTLP/HTTP over real loopback HTTP: status codes, reply encodings, auth, compression and hostile bodies. After
 * every refusal the server keeps serving, and valid records sent next to invalid ones are stored.
 */
import { gzipSync } from 'node:zlib';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partialSuccess } from '../../test/helpers/otlp.ts';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ receivers: { otlp: { protocols: { http: { max_request_body_size: '2MiB' } } } } });
});
afterAll(async () => {
  await svc?.close();
});

/** Serialized log records (both encodings) for `n` events named `name`, from the SDK, with optional resource attrs. */
function sdkPayload(name: string, n: number, resource: Record<string, string> = {}, tag = '') {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'http-test', ...resource }),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('http');
  for (let i = 0; i < n; i++) logger.emit({ eventName: name, body: `${name}-${tag}${i}`, attributes: { i } });
  const records = exporter.getFinishedLogRecords();
  return { proto: Buffer.from(ProtobufLogsSerializer.serializeRequest(records)!), json: Buffer.from(JsonLogsSerializer.serializeRequest(records)!) };
}

async function post(path: string, body: Uint8Array | string, headers: Record<string, string>) {
  const res = await fetch(`${svc.url}${path}`, { method: 'POST', body: typeof body === 'string' ? body : Buffer.from(body), headers });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

const auth = (key = ACME_KEY) => ({ authorization: `Bearer ${key}` });
const PROTO = { 'content-type': 'application/x-protobuf' };
const JSON_CT = { 'content-type': 'application/json' };

/** google.rpc.Status { code = 1; message = 2 } */
function decodeStatus(buf: Buffer): { code: number; message: string } {
  const r = new BinaryReader(buf);
  const out = { code: 0, message: '' };
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1) out.code = r.int32();
    else if (no === 2) out.message = r.string();
    else r.skip(wt);
  }
  return out;
}

async function countEvents(name: string, tenant = 'acme'): Promise<number> {
  const rows = await svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {name:String} AND TenantId = {tenant:String}', {
    name,
    tenant,
  });
  return Number(rows[0].n);
}

describe('authentication and tenancy', () => {
  it('refuses a missing or unknown key with 401 and a Status in the request encoding', async () => {
    const { proto, json } = sdkPayload('auth.none', 1);
    const missing = await post('/v1/logs', proto, PROTO);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toMatch(/application\/x-protobuf/);
    expect(decodeStatus(missing.bytes)).toEqual({ code: 16, message: expect.stringMatching(/missing write key/) });
    const wrong = await post('/v1/logs', json, { ...JSON_CT, authorization: 'Bearer wk_not_a_real_key' });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.bytes.toString())).toEqual({ code: 16, message: 'unknown write key' });
    const readToken = await post('/v1/logs', json, { ...JSON_CT, authorization: 'Bearer rt_acme_test_token' });
    expect(readToken.status).toBe(401);
    expect(await countEvents('auth.none')).toBe(0);
  });

  it("accepts Segment-style Basic auth and stores under the key's tenant", async () => {
    const { json } = sdkPayload('auth.basic', 2);
    const res = await post('/v1/logs', json, { ...JSON_CT, authorization: `Basic ${Buffer.from(`${GLOBEX_KEY}:`).toString('base64')}` });
    expect(res.status).toBe(200);
    expect(await countEvents('auth.basic', 'globex')).toBe(2);
    expect(await countEvents('auth.basic', 'acme')).toBe(0);
  });

  it('refuses a payload that names another tenant with 403', async () => {
    const { proto } = sdkPayload('auth.other', 1, { 'tenant.id': 'globex' });
    const res = await post('/v1/logs', proto, { ...PROTO, ...auth() });
    expect(res.status).toBe(403);
    expect(decodeStatus(res.bytes).message).toMatch(/tenant\.id="globex" does not match/);
    expect(await countEvents('auth.other', 'globex')).toBe(0);
    expect(await countEvents('auth.other', 'acme')).toBe(0);
  });
});

describe('content types and encodings', () => {
  it('answers 200 with an empty response in the request content type', async () => {
    // Different bodies: identical records would be one event to dedupe (same content hash).
    const { proto } = sdkPayload('ct.ok', 3, {}, 'p');
    const { json } = sdkPayload('ct.ok', 3, {}, 'j');
    const p = await post('/v1/logs', proto, { ...PROTO, ...auth() });
    expect(p.status).toBe(200);
    expect(p.headers.get('content-type')).toMatch(/^application\/x-protobuf/);
    expect(p.bytes.length).toBe(0);
    const j = await post('/v1/logs', json, { ...JSON_CT, ...auth() });
    expect(j.status).toBe(200);
    expect(JSON.parse(j.bytes.toString())).toEqual({});
    expect(await countEvents('ct.ok')).toBe(6);
  });

  it('refuses other content types with 415', async () => {
    const res = await post('/v1/logs', 'hello', { 'content-type': 'text/plain', ...auth() });
    expect(res.status).toBe(415);
    expect(JSON.parse(res.bytes.toString()).message).toMatch(/unsupported Content-Type "text\/plain"/);
  });

  it('accepts gzip bodies and refuses unsupported encodings and corrupt gzip', async () => {
    const { proto } = sdkPayload('ct.gzip', 4);
    const ok = await post('/v1/logs', gzipSync(proto), { ...PROTO, ...auth(), 'content-encoding': 'gzip' });
    expect(ok.status).toBe(200);
    expect(await countEvents('ct.gzip')).toBe(4);
    const br = await post('/v1/logs', proto, { ...PROTO, ...auth(), 'content-encoding': 'br' });
    expect(br.status).toBe(415);
    const corrupt = await post('/v1/logs', Buffer.from('not gzip at all'), { ...PROTO, ...auth(), 'content-encoding': 'gzip' });
    expect(corrupt.status).toBe(400);
    expect(decodeStatus(corrupt.bytes).message).toMatch(/invalid gzip body/);
  });

  it('refuses a gzip bomb with 413, counting the limit after decompression', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MiB of zeros in ~64 KiB
    expect(bomb.length).toBeLessThan(200 * 1024);
    const res = await post('/v1/logs', bomb, { ...PROTO, ...auth(), 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(decodeStatus(res.bytes).message).toMatch(/decompressed body exceeds 2097152 bytes/);
  });

  it('refuses a body over the limit with 413', async () => {
    const res = await post('/v1/logs', Buffer.alloc(3 * 1024 * 1024, 0x20), { ...JSON_CT, ...auth() });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.bytes.toString()).code).toBe(8);
  });
});

describe('hostile bodies', () => {
  it('refuses undecodable bodies with 400 and a clear message', async () => {
    const { proto } = sdkPayload('bad.truncated', 2);
    const truncated = await post('/v1/logs', proto.subarray(0, proto.length - 4), { ...PROTO, ...auth() });
    expect(truncated.status).toBe(400);
    expect(decodeStatus(truncated.bytes)).toMatchObject({ code: 3, message: expect.stringMatching(/truncated|malformed/) });
    const badJson = await post('/v1/logs', '{"resourceLogs":[{', { ...JSON_CT, ...auth() });
    expect(badJson.status).toBe(400);
    expect(JSON.parse(badJson.bytes.toString()).message).toMatch(/invalid JSON/);
    expect(await countEvents('bad.truncated')).toBe(0);
  });

  it('stores the valid records of a request and names the refused ones in partial_success', async () => {
    const body = {
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                { eventName: 'partial.ok', body: { stringValue: 'kept-1' } },
                { eventName: 'partial.bad', spanId: 'xyz' },
                { eventName: 'partial.ok', attributes: [{ key: 'a'.repeat(300), value: { stringValue: 'long key' } }] },
                { eventName: 'partial.ok', body: { stringValue: 'kept-2' } },
              ],
            },
          ],
        },
      ],
    };
    const res = await post('/v1/logs', JSON.stringify(body), { ...JSON_CT, ...auth() });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.bytes.toString())).toEqual({
      partialSuccess: {
        rejectedLogRecords: '2',
        errorMessage: 'log record: invalid spanId: expected 16 hex characters (1); log record: attribute key longer than 256 characters (1)',
      },
    });
    expect(await countEvents('partial.ok')).toBe(2);
    expect(await countEvents('partial.bad')).toBe(0);
  });

  it('reports partial success in protobuf too', async () => {
    // ExportLogsServiceRequest { resource_logs { scope_logs { log_records: [ok, trace_id of 3 bytes] } } }
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited).fork().tag(2, WireType.LengthDelimited).fork();
    w.tag(2, WireType.LengthDelimited).fork().tag(12, WireType.LengthDelimited).string('pp.ok').join();
    w.tag(2, WireType.LengthDelimited)
      .fork()
      .tag(12, WireType.LengthDelimited)
      .string('pp.bad')
      .tag(9, WireType.LengthDelimited)
      .bytes(new Uint8Array(3))
      .join();
    w.join().join();
    const res = await post('/v1/logs', w.finish(), { ...PROTO, ...auth() });
    expect(res.status).toBe(200);
    expect(partialSuccess(res.bytes, 'protobuf')).toEqual({ rejected: 1, message: 'log record: invalid trace_id: expected 16 bytes, got 3 (1)' });
    expect(await countEvents('pp.ok')).toBe(1);
    const spans = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'no-ids' }] }] }] });
    const spanRes = await post('/v1/traces', spans, { ...JSON_CT, ...auth() });
    expect(JSON.parse(spanRes.bytes.toString())).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: 'span: missing or all-zero trace_id (1)' } });
  });

  it('names consent drops as a warning in protobuf: rejected_log_records 0, the drop in error_message', async () => {
    // ExportLogsServiceRequest { resource_logs { scope_logs { log_records: [ok, consent.analytics = "false"] } } }
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited).fork().tag(2, WireType.LengthDelimited).fork();
    w.tag(2, WireType.LengthDelimited).fork().tag(12, WireType.LengthDelimited).string('drop.ok').join();
    w.tag(2, WireType.LengthDelimited).fork().tag(12, WireType.LengthDelimited).string('drop.no');
    w.tag(6, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string('consent.analytics');
    w.tag(2, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string('false').join().join();
    w.join().join().join();
    const res = await post('/v1/logs', w.finish(), { ...PROTO, ...auth() });
    expect(res.status).toBe(200);
    expect(partialSuccess(res.bytes, 'protobuf')).toEqual({ rejected: 0, message: 'dropped: no consent (consent.analytics) (1)' });
    expect([await countEvents('drop.ok'), await countEvents('drop.no')]).toEqual([1, 0]);
  });

  it('keeps serving after every refusal', async () => {
    const health = await fetch(`${svc.url}/health`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${svc.url}/ready`);
    expect(await ready.json()).toEqual({ status: 'ready' });
    const { proto } = sdkPayload('after.all', 1);
    expect((await post('/v1/logs', proto, { ...PROTO, ...auth() })).status).toBe(200);
    expect(await countEvents('after.all')).toBe(1);
  });

  it('counts what it received, accepted and refused in /metrics', async () => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    expect(text).toMatch(/signalhouse_receiver_rejected_records_total\{receiver="otlp",signal="logs",reason="invalid_id"\} [1-9]/);
    expect(text).toMatch(/signalhouse_receiver_failed_requests_total\{receiver="otlp",status="401"\} [1-9]/);
    expect(text).toMatch(/signalhouse_receiver_accepted_records_total\{receiver="otlp",signal="logs"\} [1-9]/);
    // Small requests commit into the landing table, then move on to otel_logs in bulk.
    expect(text).toMatch(/signalhouse_exporter_commit_duration_seconds_count\{table="landing"\} [1-9]/);
    expect(text).toMatch(/signalhouse_exporter_landing_moved_rows_total [1-9]/);
    expect(text).toMatch(/signalhouse_process_resident_memory_bytes \d+/);
  });
});
