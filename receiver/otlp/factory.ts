/** The OTLP receiver (`receivers.otlp`): OTLP/HTTP logs and traces, each into the pipeline that names it. */
import type { ReceiverFactory } from '../../core/components.ts';
import { receiverCounters } from '../receiverhelper/counters.ts';
import { otlpReceiverSchema } from './config.ts';
import { otlpRoutes } from './routes.ts';

export const otlpReceiverFactory: ReceiverFactory<typeof otlpReceiverSchema> = {
  type: 'otlp',
  configSchema: otlpReceiverSchema,
  create(config, { name, pipelines, tenants, telemetry }) {
    const counters = receiverCounters(telemetry, name);
    return { name, routes: (app) => otlpRoutes(app, { name, config, pipelines, tenants, counters }) };
  },
};
