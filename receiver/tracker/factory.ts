/** The tracker API (`receivers.tracker`): what Signalhouse's own web tracker (`sdk/browser`) sends. */
import type { ReceiverFactory } from '../../core/components.ts';
import { productReceiver } from '../product/receiver.ts';
import { trackerReceiverSchema } from './config.ts';
import { trackerRoutes } from './routes.ts';

export const trackerReceiverFactory: ReceiverFactory<typeof trackerReceiverSchema> = {
  type: 'tracker',
  configSchema: trackerReceiverSchema,
  create: (config, settings) => productReceiver(config, settings, trackerRoutes),
};
