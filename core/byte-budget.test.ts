/**
 * The in-flight byte budget: the accounting on its own, then through a real server with a 1 MiB budget — a body
 * held half-sent keeps its bytes, another that does not fit is refused with 503 + Retry-After (before its body
 * is read when it declares its length, as it arrives when chunked, once inflated when compressed), one that fits
 * goes through, and every byte returns once the replies are sent.
 */
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpJsonLogs } from '../test/helpers/payloads.ts';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { createByteBudget, reserveBody } from './byte-budget.ts';

describe('byte budget', () => {
  it('admits what fits, always one request alone, and takes back what was released', () => {
    const budget = createByteBudget(100);
    const a = reserveBody(budget);
    a.take(150); // alone: admitted although larger than the budget
    a.take(10); // still alone
    const b = reserveBody(budget);
    expect(() => b.take(1)).toThrow(/exceed 100 bytes/);
    expect(b.held).toBe(0);
    a.release();
    a.release(); // a second release gives nothing back twice
    expect(budget.used).toBe(0);
    b.take(60);
    const c = reserveBody(budget);
    c.take(40);
    expect(() => c.take(1)).toThrow(expect.objectContaining({ code: 'OVERLOADED', statusCode: 503, retryAfterSeconds: 1 }));
    b.release();
    c.release();
    expect(budget.used).toBe(0);
  });
});

describe('through the server', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ service: { http: { host: '127.0.0.1', port: 0, max_in_flight_bytes: '1MiB' } } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` };
  const body = (records: number, prefix: string) => Buffer.from(otlpJsonLogs(records, { prefix, eventName: 'budget.test' }));

  /** A POST sent in parts: `parts[0]` at once, the rest on `finish()`; chunked when `chunked`. */
  function partialPost(path: string, bytes: Buffer, opts: { chunked?: boolean; split?: number } = {}) {
    const u = new URL(`${svc.url}${path}`);
    const headers: Record<string, string | number> = { ...HEADERS };
    if (!opts.chunked) headers['content-length'] = bytes.length;
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers });
    const reply = new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: text }));
      });
      req.on('error', reject);
    });
    const split = opts.split ?? bytes.length >> 1;
    req.write(bytes.subarray(0, split));
    return { reply, finish: () => req.end(bytes.subarray(split)) };
  }
  const post = (bytes: Buffer) => fetch(`${svc.url}/v1/logs`, { method: 'POST', body: new Uint8Array(bytes), headers: HEADERS });
  const gauge = async () => Number(/^signalhouse_http_in_flight_body_bytes (\S+)$/m.exec(await (await fetch(`${svc.url}/metrics`)).text())?.[1]);

  it('refuses what does not fit with 503 + Retry-After, and stores what was admitted', async () => {
    const held = body(2000, 'held'); // ~720 KB, held half-sent
    expect(held.length).toBeGreaterThan(600 * 1024);
    const first = partialPost('/v1/logs', held);
    await expect.poll(gauge).toBe(held.length);

    const big = await post(body(1000, 'big')); // ~360 KB: 720 + 360 KB > 1 MiB
    expect(big.status).toBe(503);
    expect(big.headers.get('retry-after')).toBe('1');
    expect(await big.json()).toMatchObject({ code: 14, message: expect.stringContaining('exceed 1048576 bytes') });

    const envelope = await fetch(`${svc.url}/api/v1/analytics/events/batch`, {
      method: 'POST',
      body: JSON.stringify({
        events: Array.from({ length: 400 }, (_, i) => ({ event_name: 'budget.envelope', event_id: `env-${i}`, properties: { pad: 'x'.repeat(900) } })),
      }),
      headers: HEADERS,
    });
    expect(envelope.status).toBe(503);
    expect(envelope.headers.get('retry-after')).toBe('1');

    // Chunked: no declared length, refused once the bytes that arrived no longer fit.
    const chunked = partialPost('/v1/logs', body(1000, 'chunked'), { chunked: true, split: 350 * 1024 });
    chunked.finish();
    expect(await chunked.reply).toMatchObject({ status: 503, retryAfter: '1' });

    // Gzip: ~20 KB on the wire fit, the ~360 KB it inflates to do not.
    const zipped = gzipSync(body(1000, 'zipped'));
    expect(zipped.length).toBeLessThan(64 * 1024);
    const inflated = await fetch(`${svc.url}/v1/logs`, { method: 'POST', body: new Uint8Array(zipped), headers: { ...HEADERS, 'content-encoding': 'gzip' } });
    expect(inflated.status).toBe(503);
    expect(inflated.headers.get('retry-after')).toBe('1');

    const small = await post(body(200, 'small')); // ~72 KB fits beside the held body
    expect(small.status).toBe(200);

    first.finish();
    expect((await first.reply).status).toBe(200);
    expect((await post(body(1000, 'big-again'))).status).toBe(200);
    const zippedAgain = gzipSync(body(1000, 'zipped-again'));
    expect(
      (await fetch(`${svc.url}/v1/logs`, { method: 'POST', body: new Uint8Array(zippedAgain), headers: { ...HEADERS, 'content-encoding': 'gzip' } })).status,
    ).toBe(200);
    await expect.poll(gauge).toBe(0);

    const [row] = await svc.rows<{ n: string }>("SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = 'budget.test'");
    expect(Number(row.n)).toBe(2000 + 200 + 1000 + 1000);
  });
});
