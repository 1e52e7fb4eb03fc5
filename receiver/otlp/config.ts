/**
 * The OTLP receiver's options (`receivers.otlp`), in the OpenTelemetry Collector's shape: `protocols.http` and
 * `protocols.grpc`, each turned on by being listed (an empty `grpc:` takes the defaults); without `protocols`
 * both are on. `protocols.grpc` also configures the service's one gRPC listener, which serves the analytics
 * service and `grpc.health.v1` beside OTLP.
 */
import { z } from 'zod';
import type { GrpcListenerSettings } from '../../core/components.ts';
import { DEFAULT_GRPC_ENDPOINT } from '../../core/config.ts';
import { tlsSchema } from '../../core/tls.ts';
import { byteSize, durationMs, endpoint, intLike } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

const httpSchema = z.strictObject({
  /** Largest accepted body, counted after decompression. */
  max_request_body_size: byteSize.default(16 * 1024 * 1024),
  /** The HTTP listener is shared by every HTTP API: its TLS is `service.http.tls`. */
  tls: z
    .unknown()
    .refine(() => false, 'the HTTP listener serves every HTTP API: set its TLS in service.http.tls')
    .optional(),
});

const grpcSchema = z.strictObject({
  /** `host:port`; `GRPC_PORT` and `HOST` override its parts (core/config.ts). */
  endpoint: endpoint.prefault(DEFAULT_GRPC_ENDPOINT),
  transport: z.literal('tcp').default('tcp'),
  /** Serve gRPC over TLS from these files (core/tls.ts); absent: plaintext HTTP/2. */
  tls: tlsSchema.optional(),
  /** Largest request message, counted after decompression (the Collector's default, gRPC's: 4 MiB). */
  max_recv_msg_size_mib: intLike(1, 2047).default(4),
  /** HTTP/2 streams per connection (default: the library's, unlimited). */
  max_concurrent_streams: intLike(1, 2 ** 31 - 1).optional(),
  keepalive: z
    .strictObject({
      server_parameters: z
        .strictObject({
          max_connection_idle: durationMs.optional(),
          max_connection_age: durationMs.optional(),
          max_connection_age_grace: durationMs.optional(),
          time: durationMs.optional(),
          timeout: durationMs.optional(),
        })
        .prefault({}),
    })
    .prefault({}),
});

/** `grpc:` with no options parses as null in YAML: the protocol with its defaults, as in the Collector. */
const listed = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === null ? {} : v), schema).optional();

export const otlpReceiverSchema = z.strictObject({
  protocols: z
    .strictObject({ http: listed(httpSchema), grpc: listed(grpcSchema) })
    .optional()
    .transform((p) => (p === undefined ? { http: httpSchema.parse({}), grpc: grpcSchema.parse({}) } : p)),
  limits: limitsSchema,
});
export type OtlpReceiverConfig = z.infer<typeof otlpReceiverSchema>;
export type OtlpGrpcConfig = z.infer<typeof grpcSchema>;

/** The service's gRPC listener as `protocols.grpc` configures it. */
export function grpcListenerSettings(grpc: OtlpGrpcConfig): GrpcListenerSettings {
  const sp = grpc.keepalive.server_parameters;
  return {
    host: grpc.endpoint.host,
    port: grpc.endpoint.port,
    maxReceiveMessageBytes: grpc.max_recv_msg_size_mib * 1024 * 1024,
    maxConcurrentStreams: grpc.max_concurrent_streams,
    tls: grpc.tls,
    keepalive: {
      timeMs: sp.time,
      timeoutMs: sp.timeout,
      maxConnectionIdleMs: sp.max_connection_idle,
      maxConnectionAgeMs: sp.max_connection_age,
      maxConnectionAgeGraceMs: sp.max_connection_age_grace,
    },
  };
}
