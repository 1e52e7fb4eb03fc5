/** The PostHog capture API's options (`receivers.posthog`). */
import { z } from 'zod';
import { byteSize } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

export const posthogReceiverSchema = z.strictObject({
  max_event_size: byteSize.default(1024 * 1024),
  max_batch_size: byteSize.default(20 * 1024 * 1024),
  limits: limitsSchema,
});
export type PosthogReceiverConfig = z.infer<typeof posthogReceiverSchema>;
