/**
 * TLS on both listeners (`service.http.tls`, `receivers.otlp.protocols.grpc.tls`) from a certificate made in the
 * test: the official OpenTelemetry gRPC exporters with TLS credentials send logs and traces (stored rows checked
 * field by field, test/helpers/otel-sdk-export.ts); fetch (undici) with the CA ingests over HTTPS and WebSocket
 * ingest answers over `wss://`; a
 * client that does not trust the CA, or speaks plaintext, gets no answer from either listener.
 */
import * as grpc from '@grpc/grpc-js';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts } from './helpers/certs.ts';
import { authMetadata, healthCheckRequest, unary } from './helpers/grpc.ts';
import { describeSdkExporters } from './helpers/otel-sdk-export.ts';
import { connectWs } from './helpers/websocket.ts';
import { ACME_KEY, startTestService, type TestService } from './helpers/service.ts';

const certs = makeTestCerts();
const tls = { cert_file: certs.files.serverCert, key_file: certs.files.serverKey };
const trusting = new Agent({ connect: { ca: certs.ca } });

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({
    receivers: { otlp: { protocols: { http: {}, grpc: { endpoint: '127.0.0.1:0', tls } } } },
    service: { http: { host: '127.0.0.1', port: 0, tls } },
  });
});
afterAll(async () => {
  await trusting.close();
  await svc?.close();
  certs.remove();
});

const credentials = () => grpc.credentials.createSsl(certs.ca);
const metadata = () => authMetadata(ACME_KEY);

describeSdkExporters(
  [
    {
      name: 'grpc-tls',
      logs: () => new OTLPLogExporter({ url: `https://${svc.grpcAddress}`, credentials: credentials(), metadata: metadata() }),
      traces: () => new OTLPTraceExporter({ url: `https://${svc.grpcAddress}`, credentials: credentials(), metadata: metadata() }),
    },
  ],
  () => svc,
);

describe('HTTPS', () => {
  it('serves the HTTP APIs over TLS to a client that trusts the CA', async () => {
    expect(svc.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const body = {
      resourceLogs: [
        { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'https-json' } }] }, scopeLogs: [{ logRecords: [{ eventName: 'tls.ok' }] }] },
      ],
    };
    const res = await fetch(`${svc.url}/v1/logs`, {
      method: 'POST',
      dispatcher: trusting,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    expect(await svc.rows("SELECT EventName FROM signalhouse.otel_logs WHERE ServiceName = 'https-json'")).toEqual([{ EventName: 'tls.ok' }]);
    expect((await fetch(`${svc.url}/health`, { dispatcher: trusting })).status).toBe(200);
  });

  it('takes WebSocket ingest over wss:// and acknowledges after the commit', async () => {
    const client = await connectWs(svc.url, { key: ACME_KEY, client: { ca: certs.ca } });
    expect(client.socket.url).toMatch(/^wss:\/\//);
    client.send({ type: 'event', id: 'wss-1', event: { event_id: 'wss-event', event_name: 'tls.ws' } });
    expect(await client.answer('wss-1')).toMatchObject({ type: 'ack', id: 'wss-1' });
    client.socket.close();
    expect(await svc.rows("SELECT EventName FROM signalhouse.otel_logs WHERE EventId = 'wss-event'")).toEqual([{ EventName: 'tls.ws' }]);
  });

  it('gives a client that does not trust the CA, or sends plaintext, no answer', async () => {
    await expect(fetch(`${svc.url}/health`)).rejects.toThrow();
    await expect(fetch(`${svc.url.replace('https:', 'http:')}/health`)).rejects.toThrow();
  });
});

describe('gRPC over TLS', () => {
  it('answers a client that trusts the CA, and none that does not or sends plaintext', async () => {
    const health = healthCheckRequest('');
    const trusted = new grpc.Client(svc.grpcAddress!, credentials());
    expect(await unary(trusted, '/grpc.health.v1.Health/Check', health)).toMatchObject({ code: grpc.status.OK });
    trusted.close();
    for (const creds of [grpc.credentials.createSsl(), grpc.credentials.createInsecure()]) {
      const client = new grpc.Client(svc.grpcAddress!, creds);
      expect((await unary(client, '/grpc.health.v1.Health/Check', health)).code).toBe(grpc.status.UNAVAILABLE);
      client.close();
    }
  });
});
