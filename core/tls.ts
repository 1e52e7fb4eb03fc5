/**
 * TLS for a listener, in the OpenTelemetry Collector's shape (`tls: {cert_file, key_file, client_ca_file}`):
 * the HTTP listener's is `service.http.tls`, the gRPC listener's `receivers.otlp.protocols.grpc.tls`. The files
 * are read, and the certificate and key checked to make a pair, while the config is validated, so a missing or
 * mismatched file fails the start with its path. With `client_ca_file` every client must present a certificate
 * that CA signed (mutual TLS), as the Collector's RequireAndVerifyClientCert. Files are read once, at start.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';

/** A listener's certificate, key and, for mutual TLS, the CA its clients' certificates must chain to (PEM text). */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  /** Present: clients must send a certificate signed by it. */
  readonly clientCa: string | undefined;
}

const FILES = ['cert_file', 'key_file', 'client_ca_file'] as const;

export const tlsSchema = z
  .strictObject({
    /** The server's certificate (PEM), its chain after it. */
    cert_file: z.string().min(1),
    /** Its private key (PEM, unencrypted). */
    key_file: z.string().min(1),
    /** CA certificates (PEM) that clients' certificates must be signed by; set: clients must send one. */
    client_ca_file: z.string().min(1).optional(),
  })
  .transform((cfg, ctx): TlsMaterial => {
    const pem: Partial<Record<(typeof FILES)[number], string>> = {};
    for (const field of FILES) {
      const path = cfg[field];
      if (path === undefined) continue;
      try {
        pem[field] = readFileSync(path, 'utf8');
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        });
      }
    }
    if (pem.cert_file !== undefined && pem.key_file !== undefined) {
      try {
        createSecureContext({ cert: pem.cert_file, key: pem.key_file, ca: pem.client_ca_file });
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: [],
          message: `cert_file, key_file and client_ca_file do not make a TLS server identity: ${(err as Error).message}`,
        });
      }
    }
    return { cert: pem.cert_file ?? '', key: pem.key_file ?? '', clientCa: pem.client_ca_file };
  });
export type TlsConfig = z.input<typeof tlsSchema>;
