/**
 * The analytics service (`receivers.analytics`): `analytics.v1.AnalyticsService`'s ingest RPCs on the gRPC
 * listener, into the logs pipeline that names it. Its read RPCs are the query side's (query/grpc.ts).
 */
import type { ReceiverFactory } from '../../core/components.ts';
import { receiverCounters } from '../receiverhelper/counters.ts';
import { analyticsReceiverSchema } from './config.ts';
import { analyticsGrpcMethods } from './grpc.ts';

export const analyticsReceiverFactory: ReceiverFactory<typeof analyticsReceiverSchema> = {
  type: 'analytics',
  configSchema: analyticsReceiverSchema,
  create(config, { name, pipelines, telemetry, rateLimits }) {
    const counters = receiverCounters(telemetry, name);
    return {
      name,
      // gRPC only: no HTTP routes (the count API serves its reads over HTTP).
      routes: async () => {},
      grpcMethods: analyticsGrpcMethods({ config, pipeline: pipelines.find(name, 'logs'), counters, rateLimits }),
    };
  },
};
