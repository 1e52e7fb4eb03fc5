/**
 * OTLP/gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export` and
 * `opentelemetry.proto.collector.trace.v1.TraceService/Export`, on the service's gRPC listener. The request
 * arrives as raw bytes (gzip already undone by the listener, its size limit counted after decompression) and is
 * decoded here by the same protobuf decoder as OTLP/HTTP, so a message that cannot be decoded is
 * INVALID_ARGUMENT. The tenant comes from the `authorization` metadata (`Bearer <write key>`). The reply is sent
 * after the commit: OK with the Export*ServiceResponse, its `partial_success` naming what was refused or
 * dropped; failures map to gRPC codes in one place (core/grpc-status.ts).
 */
import type { GrpcCall, GrpcMethod, Pipelines } from '../../core/components.ts';
import { SignalhouseError } from '../../core/errors.ts';
import type { RateLimiter } from '../../core/rate-limit/limiter.ts';
import { credentialFromAuthorization, type Principal, requireWritePrincipal, type TenantRegistry } from '../../core/tenants.ts';
import type { ReceiverCounters } from '../receiverhelper/counters.ts';
import type { OtlpReceiverConfig } from './config.ts';
import { otlpExport } from './export.ts';

export const OTLP_GRPC_PATHS = {
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
} as const;

export interface OtlpGrpcOptions {
  name: string;
  config: OtlpReceiverConfig;
  pipelines: Pipelines;
  tenants: TenantRegistry;
  counters: ReceiverCounters;
  rateLimits: RateLimiter;
}

/** Who holds a gRPC call's write key (`authorization: Bearer <write key>` metadata). */
export function grpcWriter(tenants: TenantRegistry, call: GrpcCall): Principal {
  const key = credentialFromAuthorization(call.metadata('authorization'));
  if (!key) throw new SignalhouseError('UNAUTHENTICATED', 'missing write key: send the metadata "authorization: Bearer <write key>"');
  return requireWritePrincipal(tenants, key, undefined);
}

export function otlpGrpcMethods(opts: OtlpGrpcOptions): GrpcMethod[] {
  const { name, config, pipelines, tenants, counters, rateLimits } = opts;
  const methods: GrpcMethod[] = [];
  for (const signal of ['logs', 'traces'] as const) {
    const pipeline = pipelines.find(name, signal);
    if (!pipeline) continue;
    const exportBody = otlpExport(signal, pipeline, counters.signal(signal), config.limits, rateLimits);
    methods.push({
      path: OTLP_GRPC_PATHS[signal],
      failed: (status) => counters.failed(status),
      async handle(request, call) {
        return (await exportBody(grpcWriter(tenants, call), request, 'protobuf')) as Buffer;
      },
    });
  }
  return methods;
}
