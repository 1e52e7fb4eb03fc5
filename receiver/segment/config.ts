/** The Segment-style tracking API's options (`receivers.segment`). */
import { z } from 'zod';
import { byteSize } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

export const segmentReceiverSchema = z.strictObject({
  max_event_size: byteSize.default(32 * 1024),
  max_batch_size: byteSize.default(500 * 1024),
  limits: limitsSchema,
});
export type SegmentReceiverConfig = z.infer<typeof segmentReceiverSchema>;
