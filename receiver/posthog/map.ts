/**
 * A PostHog capture event as a product event. `event` names it (PostHog's own names such as `$pageview` are
 * kept), `uuid` is the event id, `distinct_id` the person: the user id, unless PostHog marks it anonymous
 * (`$is_identified: false`, or equal to `$device_id`), when it is the anonymous id. An identified event keeps
 * its `$device_id` (the browser's anonymous id) as the anonymous id. `$identify` links `$anon_distinct_id` to
 * the user; `$create_alias` links `alias`. PostHog's `$`-properties for page, client and session land on the
 * standard attributes (and a `$pageview`'s `title`, the document's, on `page.title`); `$set` / `$set_once`,
 * in the properties (posthog-node) or beside them (posthog-js), become `traits.*` (`$set` over `$set_once`, the
 * event's over the properties'); everything else, autocapture's `$elements_chain` / `$elements` included, is
 * kept under its own key.
 */
import { type LogEvent, newAttributes } from '../../core/event.ts';
import { RecordRejected } from '../otlp/common.ts';
import {
  CONTEXT_ATTRIBUTES,
  checkEventSize,
  eventTimeNs,
  isObject,
  optionalString,
  parseTime,
  productEvent,
  type ProductContext,
  type ProductFieldNames,
  putAll,
  putValue,
} from '../product/common.ts';

export type PosthogContext = ProductContext;

/**
 * PostHog property → Signalhouse attribute (the original key is not kept twice). A Map, not an object literal:
 * looking up a sender's key such as `constructor` in an object would find Object.prototype's members.
 */
const RENAMED = new Map<string, string>([
  ['$current_url', CONTEXT_ATTRIBUTES.url],
  ['$pathname', CONTEXT_ATTRIBUTES.path],
  ['$title', CONTEXT_ATTRIBUTES.title],
  ['$referrer', CONTEXT_ATTRIBUTES.referrer],
  ['$ip', CONTEXT_ATTRIBUTES.ip],
  ['$raw_user_agent', CONTEXT_ATTRIBUTES.userAgent],
  ['$lib', CONTEXT_ATTRIBUTES.library],
  ['$lib_version', CONTEXT_ATTRIBUTES.libraryVersion],
  ['$browser_language', CONTEXT_ATTRIBUTES.locale],
  ['$session_id', 'session.id'],
]);
const SKIPPED = new Set(['$set', '$set_once', 'distinct_id', 'token', '$anon_distinct_id']);

const FIELDS: ProductFieldNames = {
  eventName: 'event',
  eventId: 'uuid',
  sessionId: '$session_id',
  userId: 'distinct_id',
  anonymousId: 'distinct_id / $anon_distinct_id / $device_id',
};

export function posthogEvent(e: unknown, ctx: PosthogContext): LogEvent {
  if (!isObject(e)) throw new RecordRejected('invalid_field', 'event must be an object');
  checkEventSize(e, ctx);
  if (typeof e.event !== 'string' || e.event === '') throw new RecordRejected('invalid_field', 'event must be a non-empty string');
  const props = e.properties === undefined || e.properties === null ? {} : e.properties;
  if (!isObject(props)) throw new RecordRejected('invalid_field', 'properties must be an object');
  const distinctId = optionalString(e.distinct_id ?? e.$distinct_id ?? props.distinct_id, 'distinct_id');
  if (!distinctId) throw new RecordRejected('invalid_field', 'distinct_id is required');

  const { limits } = ctx;
  const attributes = newAttributes();
  const isPageview = e.event === '$pageview';
  for (const key of Object.keys(props)) {
    if (SKIPPED.has(key)) continue;
    putValue(attributes, isPageview && key === 'title' ? CONTEXT_ATTRIBUTES.title : (RENAMED.get(key) ?? key), props[key], limits);
  }
  putAll(attributes, props.$set_once, limits, 'traits.');
  putAll(attributes, e.$set_once, limits, 'traits.');
  putAll(attributes, props.$set, limits, 'traits.');
  putAll(attributes, e.$set, limits, 'traits.');

  const deviceId = typeof props.$device_id === 'string' ? props.$device_id : '';
  const anonymous = props.$is_identified === false || deviceId === distinctId;
  let userId = anonymous ? '' : distinctId;
  let anonymousId = anonymous ? distinctId : deviceId;
  if (e.event === '$identify') {
    userId = distinctId;
    anonymousId = optionalString(props.$anon_distinct_id, '$anon_distinct_id') || deviceId;
  } else if (e.event === '$create_alias') {
    putValue(attributes, 'alias.previous_id', props.alias, limits);
  }
  const timestampMs = parseTime(e.timestamp, 'timestamp');
  return productEvent(
    {
      eventId: optionalString(e.uuid, 'uuid'),
      sessionId: attributes['session.id'] ?? '',
      userId,
      anonymousId,
      timeUnixNano: eventTimeNs(timestampMs, parseTime(e.sent_at, 'sent_at') ?? ctx.sentAtMs, ctx.receivedAtMs, 'timestamp'),
      eventName: e.event,
      attributes,
    },
    ctx,
    FIELDS,
  );
}
