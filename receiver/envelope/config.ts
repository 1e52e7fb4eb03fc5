/** The envelope API's options (`receivers.envelope`). */
import { z } from 'zod';
import { byteSize, intLike } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

export const envelopeReceiverSchema = z.strictObject({
  max_event_size: byteSize.default(32 * 1024),
  max_batch_size: byteSize.default(500 * 1024),
  max_batch_events: intLike(1, 100_000).default(500),
  limits: limitsSchema,
});
export type EnvelopeReceiverConfig = z.infer<typeof envelopeReceiverSchema>;
