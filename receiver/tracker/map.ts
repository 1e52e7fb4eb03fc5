/**
 * A tracker event as a product event. `type` is `track` (its `event` names it), `page`, `identify` or `alias`
 * (named so, as the Segment API names them, which the identity views and the funnels read); `messageId` is the
 * event id, `sessionId` the session, `userId` / `anonymousId` the person; `url`, `title` and `referrer` the page;
 * properties become attributes under their own keys, identify's traits `traits.*`, alias's `previousId`
 * `alias.previous_id`. What the request says once for all its events (the browser's User-Agent header, its
 * address, `locale`, `library`) is added to each. Times are corrected by the request's `sentAt`.
 */
import { type Attributes, type LogEvent, newAttributes } from '../../core/event.ts';
import { RecordRejected } from '../otlp/common.ts';
import {
  CONTEXT_ATTRIBUTES,
  checkEventSize,
  eventTimeNs,
  isObject,
  optionalString,
  parseTime,
  type ProductContext,
  type ProductFieldNames,
  productEvent,
  specPerson,
  specTrack,
  putAll,
  putValue,
} from '../product/common.ts';

export const TRACKER_TYPES = ['track', 'page', 'identify', 'alias'] as const;
type TrackerType = (typeof TRACKER_TYPES)[number];

const FIELDS: ProductFieldNames = { eventName: 'event', eventId: 'messageId', sessionId: 'sessionId', userId: 'userId', anonymousId: 'anonymousId' };

export interface TrackerContext extends ProductContext {
  /** Attributes every event of the request carries, as [key, value]. */
  shared: ReadonlyArray<readonly [string, unknown]>;
}

export function trackerEvent(msg: unknown, ctx: TrackerContext): LogEvent {
  if (!isObject(msg)) throw new RecordRejected('invalid_field', 'event must be an object');
  checkEventSize(msg, ctx);
  const type = msg.type as TrackerType;
  if (!TRACKER_TYPES.includes(type)) throw new RecordRejected('invalid_field', `type must be one of ${TRACKER_TYPES.join(', ')}`);
  const { userId, anonymousId } = specPerson(msg, type);

  const attributes: Attributes = newAttributes();
  const { limits } = ctx;
  let eventName: string = type;
  switch (type) {
    case 'track':
      eventName = specTrack(attributes, msg, limits);
      break;
    case 'page':
      putValue(attributes, 'page.name', msg.name, limits);
      putAll(attributes, msg.properties, limits);
      break;
    case 'identify':
      putAll(attributes, msg.traits, limits, 'traits.');
      break;
    case 'alias': {
      const previousId = optionalString(msg.previousId, 'previousId');
      if (!userId || !previousId) throw new RecordRejected('invalid_field', 'alias: userId and previousId are required');
      putValue(attributes, 'alias.previous_id', previousId, limits);
      break;
    }
  }
  putValue(attributes, CONTEXT_ATTRIBUTES.url, msg.url, limits);
  putValue(attributes, CONTEXT_ATTRIBUTES.title, msg.title, limits);
  putValue(attributes, CONTEXT_ATTRIBUTES.referrer, msg.referrer, limits);
  for (const [k, v] of ctx.shared) putValue(attributes, k, v, limits);

  const timestampMs = parseTime(msg.timestamp, 'timestamp');
  return productEvent(
    {
      eventId: optionalString(msg.messageId, 'messageId'),
      sessionId: optionalString(msg.sessionId, 'sessionId'),
      userId,
      anonymousId,
      timeUnixNano: eventTimeNs(timestampMs, ctx.sentAtMs, ctx.receivedAtMs, 'timestamp'),
      eventName,
      attributes,
    },
    ctx,
    FIELDS,
  );
}
