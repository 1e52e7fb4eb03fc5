/**
 * OTLP failures keep OTLP's wire format (google.rpc.Status) and the one error mapping: a storage failure's text
 * (the engine's message, naming tables and SQL) goes to the log under a request id, never to the client.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { otlpJsonLogs } from '../../test/helpers/payloads.ts';
import { ACME_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  // Straight to otel_logs (no landing slot), so that renaming the table fails the request's INSERT.
  svc = await startTestService({ exporters: { clickhouse: { landing: { max_rows: 0 }, retry: { max_elapsed_time: '200ms' } } } }, { captureLogs: true });
});
afterAll(async () => {
  await svc?.close();
});

const send = (prefix: string) =>
  fetch(`${svc.url}/v1/logs`, {
    method: 'POST',
    body: otlpJsonLogs(3, { prefix }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
  });

it('answers a storage failure with a fixed message and a request id; the log has the engine text', async () => {
  const client = svc.service.store.client;
  await client.command({ query: 'RENAME TABLE signalhouse.otel_logs TO signalhouse.otel_logs_away' });
  let res: Response;
  try {
    res = await send('gone');
  } finally {
    await client.command({ query: 'RENAME TABLE signalhouse.otel_logs_away TO signalhouse.otel_logs' });
  }
  expect(res.status).toBe(500);
  const requestId = res.headers.get('x-request-id');
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  const body = await res.text();
  expect(JSON.parse(body)).toEqual({ code: 13, message: 'storage refused the request' });
  expect(body).not.toMatch(/otel_logs|INSERT|Code:/);
  const logged = svc.logs.find((l) => l.request_id === requestId);
  expect(JSON.stringify(logged)).toContain('otel_logs');
  expect((await send('back')).status).toBe(200);
});
