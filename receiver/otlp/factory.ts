/**
 * The OTLP receiver (`receivers.otlp`): OTLP/HTTP and OTLP/gRPC logs and traces, each into the pipeline that
 * names it. Its `protocols.grpc` also sets up the service's gRPC listener.
 */
import type { ReceiverFactory } from '../../core/components.ts';
import { receiverCounters } from '../receiverhelper/counters.ts';
import { grpcListenerSettings, otlpReceiverSchema } from './config.ts';
import { otlpGrpcMethods } from './grpc.ts';
import { otlpRoutes } from './routes.ts';

export const otlpReceiverFactory: ReceiverFactory<typeof otlpReceiverSchema> = {
  type: 'otlp',
  configSchema: otlpReceiverSchema,
  create(config, { name, pipelines, tenants, telemetry, rateLimits }) {
    const counters = receiverCounters(telemetry, name);
    const grpc = config.protocols.grpc;
    return {
      name,
      routes: (app) => otlpRoutes(app, { name, config, pipelines, tenants, counters, rateLimits }),
      grpcMethods: grpc ? otlpGrpcMethods({ name, config, pipelines, counters, rateLimits }) : [],
      grpcListener: grpc ? grpcListenerSettings(grpc) : undefined,
    };
  },
};
