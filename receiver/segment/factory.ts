/** The Segment-style tracking API (`receivers.segment`): what analytics.js and `@segment/analytics-node` send. */
import type { ReceiverFactory } from '../../core/components.ts';
import { productReceiver } from '../product/receiver.ts';
import { segmentReceiverSchema } from './config.ts';
import { segmentRoutes } from './routes.ts';

export const segmentReceiverFactory: ReceiverFactory<typeof segmentReceiverSchema> = {
  type: 'segment',
  configSchema: segmentReceiverSchema,
  create: (config, settings) => productReceiver(config, settings, segmentRoutes),
};
