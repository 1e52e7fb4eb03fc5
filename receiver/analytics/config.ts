/** The analytics service's options (`receivers.analytics`): its ingest RPCs over the gRPC listener. */
import { z } from 'zod';
import { byteSize, intLike } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

export const analyticsReceiverSchema = z.strictObject({
  /** Largest TrackEvent / IdentifyUser message (RESOURCE_EXHAUSTED beyond). */
  max_event_size: byteSize.default(32 * 1024),
  /** Per user: a token bucket refilled at this many events a minute, holding as many (0: no limit). */
  rate_limit: z
    .strictObject({
      events_per_user_per_minute: intLike(0, 1_000_000_000).default(1000),
      /** Users whose buckets are kept (memory bound); past it the least recently seen user's bucket is forgotten. */
      max_users: intLike(1, 10_000_000).default(100_000),
    })
    .prefault({}),
  limits: limitsSchema,
});
export type AnalyticsReceiverConfig = z.infer<typeof analyticsReceiverSchema>;
