/**
 * OTLP/gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export` and
 * `opentelemetry.proto.collector.trace.v1.TraceService/Export`, on the service's gRPC listener. The request
 * arrives as raw bytes (gzip already undone by the listener, its size limit counted after decompression) and is
 * decoded here by the same protobuf decoder as OTLP/HTTP, so a message that cannot be decoded is
 * INVALID_ARGUMENT. The tenant comes from the `authorization` metadata's write key (checked by the listener). The reply is sent
 * after the commit: OK with the Export*ServiceResponse, its `partial_success` naming what was refused or
 * dropped; failures map to gRPC codes in one place (core/grpc-status.ts).
 */
import type { GrpcMethod, Pipelines } from '../../core/components.ts';
import type { RateLimiter } from '../../core/rate-limit/limiter.ts';
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
  counters: ReceiverCounters;
  rateLimits: RateLimiter;
}

export function otlpGrpcMethods(opts: OtlpGrpcOptions): GrpcMethod[] {
  const { name, config, pipelines, counters, rateLimits } = opts;
  const methods: GrpcMethod[] = [];
  for (const signal of ['logs', 'traces'] as const) {
    const pipeline = pipelines.find(name, signal);
    if (!pipeline) continue;
    const exportBody = otlpExport(signal, pipeline, counters.signal(signal), config.limits, rateLimits);
    methods.push({
      path: OTLP_GRPC_PATHS[signal],
      role: 'write',
      failed: (status) => counters.failed(status),
      async handle(request, call) {
        return (await exportBody(call.principal!, request, 'protobuf')) as Buffer;
      },
    });
  }
  return methods;
}
