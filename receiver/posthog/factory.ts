/** The PostHog capture API (`receivers.posthog`): posthog-js and posthog-node with `host` pointed here. */
import type { ReceiverFactory } from '../../core/components.ts';
import { NO_FLAGS } from '../../core/flags.ts';
import { productReceiver } from '../product/receiver.ts';
import { posthogReceiverSchema } from './config.ts';
import { posthogRoutes } from './routes.ts';

export const posthogReceiverFactory: ReceiverFactory<typeof posthogReceiverSchema> = {
  type: 'posthog',
  configSchema: posthogReceiverSchema,
  create: (config, settings) => productReceiver(config, settings, (app, opts) => posthogRoutes(app, opts, settings.flags ?? NO_FLAGS)),
};
