/**
 * TLS options as the config validates them: the files are read and checked to make a pair then, so a start
 * with a missing file, a key of another certificate or TLS in the wrong place fails with every problem by path.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTestCerts } from '../test/helpers/certs.ts';
import { parseReceivers } from '../receiver/receiverhelper/factory.ts';
import type { OtlpReceiverConfig } from '../receiver/otlp/config.ts';
import { RECEIVER_FACTORIES } from '../receiver/registry.ts';
import { ConfigError, parseConfig } from './config.ts';

const certs = makeTestCerts();
afterAll(() => certs.remove());
const { serverCert, serverKey, clientKey, caCert } = certs.files;

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}
const httpTls = (tls: unknown) => parseConfig({ service: { http: { tls } } }, {}, 'test');
const grpcTls = (tls: unknown) => parseReceivers(RECEIVER_FACTORIES, { otlp: { protocols: { grpc: { tls } } } });

describe('tls options', () => {
  it('reads the certificate, key and client CA as PEM text', () => {
    const http = httpTls({ cert_file: serverCert, key_file: serverKey, client_ca_file: caCert }).service.http.tls!;
    expect(http.cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(http.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(http.clientCa).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const [otlp] = grpcTls({ cert_file: serverCert, key_file: serverKey });
    expect((otlp.config as OtlpReceiverConfig).protocols.grpc!.tls).toMatchObject({ clientCa: undefined });
  });

  it('refuses missing files, a key that is not the certificate’s and unknown options, by path', () => {
    const missing = join(certs.dir, 'nope.pem');
    expect(problemsOf(() => httpTls({ cert_file: missing, key_file: serverKey }))).toEqual([
      `service.http.tls.cert_file: cannot read ${JSON.stringify(missing)}: ENOENT`,
    ]);
    expect(problemsOf(() => grpcTls({ cert_file: serverCert, key_file: serverKey, client_ca_file: missing }))).toEqual([
      `receivers.otlp.protocols.grpc.tls.client_ca_file: cannot read ${JSON.stringify(missing)}: ENOENT`,
    ]);
    const [mismatch] = problemsOf(() => httpTls({ cert_file: serverCert, key_file: clientKey }));
    expect(mismatch).toMatch(/^service\.http\.tls: cert_file, key_file and client_ca_file do not make a TLS server identity: .*key values mismatch/);
    expect(problemsOf(() => httpTls({ cert_file: serverCert }))[0]).toMatch(/^service\.http\.tls\.key_file: /);
    expect(problemsOf(() => httpTls({ cert_file: serverCert, key_file: serverKey, ca_file: caCert }))[0]).toMatch(
      /^service\.http\.tls: Unrecognized key: "ca_file"/,
    );
  });

  it('points TLS for OTLP/HTTP to the shared HTTP listener', () => {
    expect(
      problemsOf(() => parseReceivers(RECEIVER_FACTORIES, { otlp: { protocols: { http: { tls: { cert_file: serverCert, key_file: serverKey } } } } })),
    ).toEqual(['receivers.otlp.protocols.http.tls: the HTTP listener serves every HTTP API: set its TLS in service.http.tls']);
  });
});
