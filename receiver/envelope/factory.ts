/** The envelope API (`receivers.envelope`): single events and batches in the event envelope. */
import type { ReceiverFactory } from '../../core/components.ts';
import { productReceiver } from '../product/receiver.ts';
import { envelopeReceiverSchema } from './config.ts';
import { envelopeRoutes } from './routes.ts';

export const envelopeReceiverFactory: ReceiverFactory<typeof envelopeReceiverSchema> = {
  type: 'envelope',
  configSchema: envelopeReceiverSchema,
  create: (config, settings) => productReceiver(config, settings, envelopeRoutes),
};
