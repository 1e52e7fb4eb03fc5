/** The PostHog API's options (`receivers.posthog`). */
import { z } from 'zod';
import { byteSize } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

export const posthogReceiverSchema = z.strictObject({
  max_event_size: byteSize.default(1024 * 1024),
  max_batch_size: byteSize.default(20 * 1024 * 1024),
  /** Whether the remote config turns posthog-js's autocapture on (`autocapture_opt_out: false`). */
  autocapture: z.boolean().default(true),
  limits: limitsSchema,
});
export type PosthogReceiverConfig = z.infer<typeof posthogReceiverSchema>;
