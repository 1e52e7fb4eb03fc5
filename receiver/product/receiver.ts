/** What the product APIs' factories share: a receiver that serves its routes when a logs pipeline names it. */
import type { FastifyInstance } from 'fastify';
import type { Receiver, ReceiverSettings } from '../../core/components.ts';
import { receiverCounters } from '../receiverhelper/counters.ts';
import type { ProductRoutesOptions } from './common.ts';

/** Product APIs carry events only: without a logs pipeline naming the receiver, it serves no routes. */
export function productReceiver<C>(
  config: C,
  settings: ReceiverSettings,
  routes: (app: FastifyInstance, opts: ProductRoutesOptions<C>) => Promise<void>,
): Receiver {
  const { name, pipelines, tenants, telemetry, rateLimits } = settings;
  const pipeline = pipelines.find(name, 'logs');
  const counters = receiverCounters(telemetry, name);
  return {
    name,
    async routes(app) {
      if (pipeline) await routes(app, { config, pipeline, tenants, counters, rateLimits });
    },
  };
}
