/** The OTLP receiver's options (`receivers.otlp`). */
import { z } from 'zod';
import { byteSize } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

export const otlpReceiverSchema = z.strictObject({
  protocols: z
    .strictObject({
      http: z
        .strictObject({
          /** Largest accepted body, counted after decompression. */
          max_request_body_size: byteSize.default(16 * 1024 * 1024),
        })
        .prefault({}),
    })
    .prefault({}),
  limits: limitsSchema,
});
export type OtlpReceiverConfig = z.infer<typeof otlpReceiverSchema>;
