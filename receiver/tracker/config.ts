/** The tracker API's options (`receivers.tracker`). */
import { z } from 'zod';
import { byteSize } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

export const trackerReceiverSchema = z.strictObject({
  max_event_size: byteSize.default(32 * 1024),
  max_batch_size: byteSize.default(512 * 1024),
  limits: limitsSchema,
});
export type TrackerReceiverConfig = z.infer<typeof trackerReceiverSchema>;
