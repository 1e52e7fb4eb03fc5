/**
 * How the product APIs read request bodies: one body reader for every receiver (content types, gzip / deflate,
 * 415 for other encodings, 400 for corrupt ones, 413 past the limit counted after decompression), PostHog's own
 * wrappings (base64, percent-encoding, form fields) refused with 400 when malformed, and values nested beyond
 * `limits.max_value_depth` refused per event as OTLP does, however deep they go.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

async function post(path: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : Buffer.from(body),
    headers: { authorization: `Bearer ${ACME_KEY}`, 'content-type': 'application/json', ...headers },
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}
const storedIds = async (prefix: string) =>
  (await svc.rows<{ EventId: string }>('SELECT EventId FROM signalhouse.otel_logs WHERE startsWith(EventId, {p:String}) ORDER BY EventId', { p: prefix })).map(
    (r) => r.EventId,
  );

/** One single-event request per product API, with `id` as its event id. */
const APIS = {
  envelope: { path: '/api/v1/analytics/events', body: (id: string, extra: object = {}) => ({ event_id: id, event_name: 'body.test', attributes: extra }) },
  segment: { path: '/v1/track', body: (id: string, extra: object = {}) => ({ messageId: id, userId: 'u', event: 'body.test', properties: extra }) },
  posthog: { path: '/capture/', body: (id: string, extra: object = {}) => ({ uuid: id, distinct_id: 'u', event: 'body.test', properties: extra }) },
} as const;
type Api = keyof typeof APIS;
const API_NAMES = Object.keys(APIS) as Api[];

describe('Content-Encoding on every product API', () => {
  it.each(API_NAMES)('%s: decodes gzip and deflate bodies and stores their events', async (api) => {
    const { path, body } = APIS[api];
    expect((await post(path, gzipSync(JSON.stringify(body(`enc-${api}-gzip`))), { 'content-encoding': 'gzip' })).status).toBeLessThan(300);
    expect((await post(path, deflateSync(JSON.stringify(body(`enc-${api}-deflate`))), { 'content-encoding': 'deflate' })).status).toBeLessThan(300);
    expect((await post(path, JSON.stringify(body(`enc-${api}-identity`)), { 'content-encoding': 'identity' })).status).toBeLessThan(300);
    expect(await storedIds(`enc-${api}-`)).toEqual([`enc-${api}-deflate`, `enc-${api}-gzip`, `enc-${api}-identity`]);
  });

  it.each(API_NAMES)('%s: refuses unknown encodings (415), corrupt gzip (400) and gzip bombs (413)', async (api) => {
    const { path, body } = APIS[api];
    const plain = JSON.stringify(body(`enc-bad-${api}`));
    expect(await post(path, plain, { 'content-encoding': 'x-foo' })).toMatchObject({
      status: 415,
      body: { error: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringMatching(/Content-Encoding "x-foo"/) },
    });
    expect(await post(path, plain, { 'content-encoding': 'gzip' })).toMatchObject({
      status: 400,
      body: { error: 'UNDECODABLE_BODY', message: expect.stringMatching(/invalid gzip body/) },
    });
    // 64 MiB of zeros in ~64 KiB: over every product API's limit once decompressed.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    expect(await post(path, bomb, { 'content-encoding': 'gzip' })).toMatchObject({
      status: 413,
      body: { error: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/decompressed body exceeds \d+ bytes/) },
    });
    expect(await storedIds(`enc-bad-${api}`)).toEqual([]);
  });

  it.each(['envelope', 'segment'] as const)('%s: refuses content types other than JSON and text/plain with 415', async (api) => {
    const { path, body } = APIS[api];
    expect(await post(path, JSON.stringify(body('ct-bad')), { 'content-type': 'application/xml' })).toMatchObject({
      status: 415,
      body: { error: 'UNSUPPORTED_MEDIA_TYPE' },
    });
  });
});

describe('PostHog wrappings', () => {
  it('refuses malformed percent-encoding in base64 bodies and form fields with 400', async () => {
    const plain = await post('/e/?compression=base64', '%E0%A4%A', { 'content-type': 'text/plain' });
    expect(plain).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST', message: expect.stringMatching(/percent-encoding/) } });
    const form = await post('/e/', 'data=%25E0%25A4%25A', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST', message: expect.stringMatching(/percent-encoding/) } });
  });

  it('refuses a compression parameter given twice with 400', async () => {
    const res = await post('/e/?compression=base64&compression=gzip-js', 'e30=', { 'content-type': 'text/plain' });
    expect(res).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST' } });
  });

  it('still reads well-formed base64 and form bodies', async () => {
    const event = JSON.stringify([{ ...APIS.posthog.body('ph-wrap-1'), api_key: ACME_KEY }]);
    const b64 = Buffer.from(event).toString('base64');
    expect((await post('/e/?compression=base64', encodeURIComponent(b64), { 'content-type': 'text/plain' })).status).toBe(200);
    const form = `data=${encodeURIComponent(Buffer.from(event.replace('ph-wrap-1', 'ph-wrap-2')).toString('base64'))}`;
    expect((await post('/e/', form, { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(200);
    expect(await storedIds('ph-wrap-')).toEqual(['ph-wrap-1', 'ph-wrap-2']);
  });
});

/** `levels` arrays nested in each other around a number, as JSON text: `[[[1]]]` is 3 levels. */
const nestedText = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;
const nested = (levels: number) => JSON.parse(nestedText(levels)) as unknown;
/** JSON text of `value` with every `"DEEP"` string replaced by 100,000 nested arrays (JSON.stringify cannot build it). */
const withDeep = (value: unknown) => JSON.stringify(value).replaceAll('"DEEP"', nestedText(100_000));

describe('deeply nested values', () => {
  it.each(API_NAMES)('%s: refuses a value nested 100,000 deep per event, with the limit named, and keeps the rest', async (api) => {
    const { path, body } = APIS[api];
    const single = await post(path, withDeep(body(`deep-${api}-0`, { deep: 'DEEP' })));
    expect(single.status).toBe(400);
    expect(JSON.stringify(single.body)).toMatch(/nested deeper than 16 levels/);

    const events = [body(`deep-${api}-1`, { deep: 'DEEP' }), body(`deep-${api}-2`)];
    const batch =
      api === 'envelope' ? { events } : api === 'segment' ? { batch: events.map((e) => ({ ...e, type: 'track' })) } : { api_key: ACME_KEY, batch: events };
    const batchPath = api === 'envelope' ? '/api/v1/analytics/events/batch' : api === 'segment' ? '/v1/batch' : '/batch/';
    const res = await post(batchPath, withDeep(batch));
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).toMatch(/nested deeper than 16 levels/);
    expect(await storedIds(`deep-${api}-`)).toEqual([`deep-${api}-2`]);
  });

  it.each(API_NAMES)('%s: stores 15 levels as JSON text and refuses 16, as OTLP does', async (api) => {
    const { path, body } = APIS[api];
    expect((await post(path, JSON.stringify(body(`depth-${api}-15`, { v: nested(15) })))).status).toBeLessThan(300);
    const refused = await post(path, JSON.stringify(body(`depth-${api}-16`, { v: nested(16) })));
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toMatch(/attribute \\"v\\" value nested deeper than 16 levels/);
    const rows = await svc.rows<{ EventId: string; v: string }>(
      "SELECT EventId, LogAttributes['v'] AS v FROM signalhouse.otel_logs WHERE startsWith(EventId, {p:String})",
      { p: `depth-${api}-` },
    );
    expect(rows).toEqual([{ EventId: `depth-${api}-15`, v: JSON.stringify(nested(15)) }]);
  });

  it('envelope: a deep value in a field that is not stored is no server error', async () => {
    const res = await post('/api/v1/analytics/events', withDeep({ event_id: 'deep-ctx', event_name: 'x', context: { extra: 'DEEP' } }));
    expect(res.status).toBeLessThan(500);
    expect((await post('/api/v1/analytics/events', JSON.stringify({ event_id: 'deep-after', event_name: 'x' }))).status).toBe(202);
  });
});
