/**
 * The concurrency cap (`service.http.max_concurrent_requests`): with one request held in flight (its body half
 * sent), the next is refused at once with 503 OVERLOADED and `Retry-After`, through the error table; once the
 * held one is answered, requests are admitted again.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { otlpJsonLogs } from '../test/helpers/payloads.ts';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ service: { http: { host: '127.0.0.1', port: 0, max_concurrent_requests: 1 } } });
});
afterAll(async () => {
  await svc?.close();
});

const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` };

it('refuses requests beyond the cap with 503 + Retry-After, and admits them again after', async () => {
  const bytes = Buffer.from(otlpJsonLogs(10, { prefix: 'held', eventName: 'admission.test' }));
  const u = new URL(`${svc.url}/v1/logs`);
  const held = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...HEADERS, 'content-length': bytes.length } });
  const heldStatus = new Promise<number>((resolve, reject) => {
    held.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    held.on('error', reject);
  });
  held.write(bytes.subarray(0, 10));
  // Once the held request is admitted (its headers arrived), every other request is refused.
  await expect.poll(async () => (await fetch(`${svc.url}/health`)).status).toBe(503);
  const refused = await fetch(`${svc.url}/api/v1/analytics/events`, {
    method: 'POST',
    body: JSON.stringify({ event_name: 'admission.test' }),
    headers: HEADERS,
  });
  expect(refused.status).toBe(503);
  expect(refused.headers.get('retry-after')).toBe('1');
  expect(await refused.json()).toEqual({ error: 'OVERLOADED', message: 'too many concurrent requests, retry later' });

  held.end(bytes.subarray(10));
  expect(await heldStatus).toBe(200);
  await expect.poll(async () => (await fetch(`${svc.url}/health`)).status).toBe(200);
  const [row] = await svc.rows<{ n: string }>("SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = 'admission.test'");
  expect(Number(row.n)).toBe(10);
});
