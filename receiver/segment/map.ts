/**
 * A Segment Spec message (track, identify, page, screen, group, alias) as a product event: `event` (or the
 * message type) is the event name, `messageId` the event id, properties / traits / context become attributes,
 * `userId` and `anonymousId` the identity columns, and the time is corrected by the request's `sentAt`.
 */
import { type LogEvent, newAttributes } from '../../core/event.ts';
import { RecordRejected } from '../otlp/common.ts';
import {
  checkEventSize,
  eventTimeNs,
  isObject,
  optionalString,
  parseTime,
  productEvent,
  type ProductContext,
  type ProductFieldNames,
  putAll,
  putContext,
  putValue,
} from '../product/common.ts';

export const SEGMENT_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type SegmentType = (typeof SEGMENT_TYPES)[number];

export type SegmentContext = ProductContext;

const FIELDS: ProductFieldNames = { eventName: 'event', eventId: 'messageId', sessionId: 'session.id', userId: 'userId', anonymousId: 'anonymousId' };

export function segmentEvent(msg: unknown, typeFromPath: SegmentType | undefined, ctx: SegmentContext): LogEvent {
  if (!isObject(msg)) throw new RecordRejected('invalid_field', 'message must be an object');
  checkEventSize(msg, ctx);
  const type = (typeFromPath ?? msg.type) as SegmentType;
  if (!SEGMENT_TYPES.includes(type)) throw new RecordRejected('invalid_field', `type must be one of ${SEGMENT_TYPES.join(', ')}`);
  const userId = optionalString(msg.userId, 'userId');
  const anonymousId = optionalString(msg.anonymousId, 'anonymousId');
  if (!userId && !anonymousId) throw new RecordRejected('invalid_field', `${type}: userId or anonymousId is required`);

  const attributes = newAttributes();
  const { limits } = ctx;
  let eventName: string = type;
  switch (type) {
    case 'track':
      if (typeof msg.event !== 'string' || msg.event === '') throw new RecordRejected('invalid_field', 'track: event must be a non-empty string');
      eventName = msg.event;
      putAll(attributes, msg.properties, limits);
      break;
    case 'page':
    case 'screen':
      putValue(attributes, `${type}.name`, msg.name, limits);
      putValue(attributes, `${type}.category`, msg.category, limits);
      putAll(attributes, msg.properties, limits);
      break;
    case 'identify':
      putAll(attributes, msg.traits, limits, 'traits.');
      break;
    case 'group':
      putValue(attributes, 'group.id', msg.groupId, limits);
      putAll(attributes, msg.traits, limits, 'group.traits.');
      break;
    case 'alias':
      putValue(attributes, 'alias.previous_id', msg.previousId, limits);
      break;
  }
  putContext(attributes, msg.context, limits);

  const sentAtMs = parseTime(msg.sentAt, 'sentAt') ?? ctx.sentAtMs;
  const timestampMs = parseTime(msg.timestamp ?? msg.originalTimestamp, 'timestamp');
  return productEvent(
    {
      eventId: optionalString(msg.messageId, 'messageId'),
      sessionId: attributes['session.id'] ?? attributes.sessionId ?? '',
      userId,
      anonymousId,
      timeUnixNano: eventTimeNs(timestampMs, sentAtMs, ctx.receivedAtMs, 'timestamp'),
      eventName,
      attributes,
    },
    ctx,
    FIELDS,
  );
}
