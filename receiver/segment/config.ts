/** The Segment-style tracking API's options (`receivers.segment`). */
import { z } from 'zod';
import { byteSize } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

/** `''`, or an absolute http(s) URL without query or fragment: where browsers reach this server. */
const publicUrl = z.string().refine(
  (s) => {
    if (s === '') return true;
    if (!URL.canParse(s)) return false;
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.search === '' && u.hash === '' && u.username === '' && u.password === '';
  },
  { message: 'expected an http(s) URL without credentials, query or fragment, e.g. "https://signalhouse.example.com"' },
);

export const segmentReceiverSchema = z.strictObject({
  max_event_size: byteSize.default(32 * 1024),
  max_batch_size: byteSize.default(500 * 1024),
  /**
   * The address browsers reach this server at, as the analytics.js settings document tells them (`apiHost`,
   * `protocol`). Empty: the request's `Host` header and connection scheme.
   */
  public_url: publicUrl.default(''),
  limits: limitsSchema,
});
export type SegmentReceiverConfig = z.infer<typeof segmentReceiverSchema>;
