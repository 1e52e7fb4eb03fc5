/** WebSocket ingest (`receivers.websocket`): envelope events and batches over a long-lived connection. */
import type { ReceiverFactory } from '../../core/components.ts';
import { websocketReceiverSchema } from './config.ts';
import { websocketReceiver } from './receiver.ts';

export const websocketReceiverFactory: ReceiverFactory<typeof websocketReceiverSchema> = {
  type: 'websocket',
  configSchema: websocketReceiverSchema,
  create: (config, settings) => websocketReceiver(config, settings),
};
