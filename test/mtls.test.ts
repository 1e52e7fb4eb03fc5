/**
 * Mutual TLS on both listeners (`tls.client_ca_file`): a client with a certificate the CA signed is served (the
 * official OpenTelemetry gRPC exporter with its certificate, fetch (undici) with its certificate); one without a
 * certificate, or with another CA's, is refused during the handshake and nothing of it is stored.
 */
import * as grpc from '@grpc/grpc-js';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts } from './helpers/certs.ts';
import { authMetadata, healthCheckRequest, unary } from './helpers/grpc.ts';
import { ACME_KEY, startTestService, type TestService } from './helpers/service.ts';

const certs = makeTestCerts();
const tls = { cert_file: certs.files.serverCert, key_file: certs.files.serverKey, client_ca_file: certs.files.caCert };
const withCert = new Agent({ connect: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
const withoutCert = new Agent({ connect: { ca: certs.ca } });
const withStranger = new Agent({ connect: { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey } });

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({
    receivers: { otlp: { protocols: { http: {}, grpc: { endpoint: '127.0.0.1:0', tls } } } },
    service: { http: { host: '127.0.0.1', port: 0, tls } },
  });
});
afterAll(async () => {
  await Promise.all([withCert.close(), withoutCert.close(), withStranger.close()]);
  await svc?.close();
  certs.remove();
});

const countOf = async (service: string) => {
  const [row] = await svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE ServiceName = {s:String}', { s: service });
  return Number(row.n);
};

/** One log record through the official gRPC exporter with `credentials`; resolves with the export's outcome. */
async function exportOne(service: string, credentials: grpc.ChannelCredentials): Promise<'ok' | 'failed'> {
  const exporter = new OTLPLogExporter({ url: `https://${svc.grpcAddress}`, credentials, metadata: authMetadata(ACME_KEY) });
  const outcome = new Promise<'ok' | 'failed'>((resolve) => {
    const original = exporter.export.bind(exporter);
    exporter.export = (records, done) =>
      original(records, (r) => {
        resolve(r.code === 0 ? 'ok' : 'failed');
        done(r);
      });
  });
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  provider.getLogger('mtls.test').emit({ eventName: 'mtls.event', body: 'hello' });
  const result = await outcome;
  await provider.shutdown();
  return result;
}

describe('mutual TLS, gRPC', () => {
  it('stores what a client with a certificate the CA signed exports', async () => {
    expect(await exportOne('mtls-grpc-ok', grpc.credentials.createSsl(certs.ca, certs.clientKey, certs.clientCert))).toBe('ok');
    expect(await countOf('mtls-grpc-ok')).toBe(1);
  });

  it('refuses a client without a certificate or with another CA’s', async () => {
    expect(await exportOne('mtls-grpc-refused', grpc.credentials.createSsl(certs.ca))).toBe('failed');
    expect(await exportOne('mtls-grpc-refused', grpc.credentials.createSsl(certs.ca, certs.strangerKey, certs.strangerCert))).toBe('failed');
    const client = new grpc.Client(svc.grpcAddress!, grpc.credentials.createSsl(certs.ca));
    expect((await unary(client, '/grpc.health.v1.Health/Check', healthCheckRequest(''))).code).toBe(grpc.status.UNAVAILABLE);
    client.close();
    expect(await countOf('mtls-grpc-refused')).toBe(0);
  });
});

describe('mutual TLS, HTTP', () => {
  const send = (dispatcher: Agent, service: string) =>
    fetch(`${svc.url}/v1/logs`, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
      body: JSON.stringify({
        resourceLogs: [
          { resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeLogs: [{ logRecords: [{ eventName: 'mtls.http' }] }] },
        ],
      }),
    });

  it('serves a client with a certificate the CA signed, and refuses one without or with another CA’s', async () => {
    expect((await send(withCert, 'mtls-http-ok')).status).toBe(200);
    expect(await countOf('mtls-http-ok')).toBe(1);
    await expect(send(withoutCert, 'mtls-http-refused')).rejects.toThrow();
    await expect(send(withStranger, 'mtls-http-refused')).rejects.toThrow();
    expect(await countOf('mtls-http-refused')).toBe(0);
  });
});
