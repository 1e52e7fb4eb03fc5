/**
 * A Segment Spec message (track, identify, page, screen, group, alias) as a product event: `event` (or the
 * message type) is the event name, `messageId` the event id, properties / traits / context become attributes,
 * `userId` and `anonymousId` the identity columns, and the time is corrected by the request's `sentAt`.
 */
import { type Attributes, type LogEvent, newAttributes } from '../../core/event.ts';
import type { RecordLimits } from '../receiverhelper/limits.ts';
import { RecordRejected } from '../otlp/common.ts';
import {
  checkEventSize,
  eventTimeNs,
  CONTEXT_ATTRIBUTES,
  isObject,
  type Json,
  optionalString,
  parseTime,
  productEvent,
  specPerson,
  specTrack,
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
  const { userId, anonymousId } = specPerson(msg, type);

  const attributes = newAttributes();
  const { limits } = ctx;
  let eventName: string = type;
  switch (type) {
    case 'track':
      eventName = specTrack(attributes, msg, limits);
      break;
    case 'page':
      putValue(attributes, 'page.name', msg.name, limits);
      putValue(attributes, 'page.category', msg.category, limits);
      putPageProperties(attributes, msg, limits);
      break;
    case 'screen':
      putValue(attributes, 'screen.name', msg.name, limits);
      putValue(attributes, 'screen.category', msg.category, limits);
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

/** The Spec's page properties that describe the page itself, and the attributes `context.page`'s fields become. */
const PAGE_FIELDS: Readonly<Record<string, string | undefined>> = {
  url: CONTEXT_ATTRIBUTES.url,
  path: CONTEXT_ATTRIBUTES.path,
  title: CONTEXT_ATTRIBUTES.title,
  referrer: CONTEXT_ATTRIBUTES.referrer,
  // Not stored from the context: it is the query of the URL, which url.full holds (and redaction governs).
  search: undefined,
};

/**
 * A page call's properties, with the page described once. analytics.js copies the page (`url`, `path`, `title`,
 * `referrer`, `search`) into both the properties and `context.page`, and the call's name into the properties: a
 * property equal to its `context.page` field, or `name` equal to the call's, is not stored again; one that the
 * context lacks stands in for it (`url` → `url.full`, …); any other is kept as sent under its own key.
 */
function putPageProperties(attributes: Attributes, msg: Json, limits: RecordLimits): void {
  const properties = msg.properties;
  if (!isObject(properties)) {
    putAll(attributes, properties, limits);
    return;
  }
  const context = isObject(msg.context) ? msg.context : undefined;
  const page = context !== undefined && isObject(context.page) ? context.page : undefined;
  for (const key of Object.keys(properties)) {
    const value = properties[key];
    if (key === 'name' && value === msg.name) continue;
    if (Object.hasOwn(PAGE_FIELDS, key)) {
      const inContext = page?.[key];
      if (value === inContext) continue;
      const standard = PAGE_FIELDS[key];
      if (standard !== undefined && (inContext === undefined || inContext === null)) {
        putValue(attributes, standard, value, limits);
        continue;
      }
    }
    putValue(attributes, key, value, limits);
  }
}
