/**
 * The event envelope (`event_id`, `event_name`, `occurred_at`, `tenant_id`, `site_id`,
 * `session_id`, `user_id`, `source`, `attributes`, `context`) as a product event. Its camelCase form
 * (`eventName`, `properties`, `userId`, `sessionId`, `timestamp`) maps to the same fields.
 */
import { SignalhouseError } from '../../core/errors.ts';
import { type LogEvent, newAttributes } from '../../core/event.ts';
import { RecordRejected } from '../otlp/common.ts';
import {
  CONTEXT_ATTRIBUTES,
  checkEventSize,
  eventTimeNs,
  isObject,
  type Json,
  optionalString,
  parseTime,
  productEvent,
  type ProductContext,
  type ProductFieldNames,
  putAll,
  putContext,
  putValue,
} from '../product/common.ts';

export const ENVELOPE_SOURCES = ['web', 'widget', 'voice_ws', 'server'] as const;

export type EnvelopeSource = (typeof ENVELOPE_SOURCES)[number];

export interface EnvelopeContext extends ProductContext {
  /** The `source` of events that name none (WebSocket ingest: `voice_ws`); none by default. */
  defaultSource?: EnvelopeSource;
}

const first = (e: Json, ...keys: string[]): unknown => {
  for (const k of keys) if (e[k] !== undefined && e[k] !== null) return e[k];
  return undefined;
};

/** Throws SignalhouseError (403) for another tenant's id: such a request is refused whole, not per event. */
export function checkTenant(e: unknown, tenantId: string): void {
  if (!isObject(e)) return;
  const named = e.tenant_id ?? e.tenantId;
  if (named !== undefined && named !== null && named !== tenantId) {
    // JSON text, not String(): a sender's object may carry `toString` / `valueOf` keys that String() would call.
    throw new SignalhouseError('FORBIDDEN_TENANT', `tenant_id ${JSON.stringify(named)} does not match the write key's tenant`);
  }
}

const FIELDS: ProductFieldNames = { eventName: 'event_name', eventId: 'event_id', sessionId: 'session_id', userId: 'user_id', anonymousId: 'anonymous_id' };

export function envelopeEvent(e: unknown, ctx: EnvelopeContext): LogEvent {
  if (!isObject(e)) throw new RecordRejected('invalid_field', 'event must be an object');
  checkEventSize(e, ctx);
  const eventName = first(e, 'event_name', 'eventName');
  if (typeof eventName !== 'string' || eventName === '') throw new RecordRejected('invalid_field', 'event_name must be a non-empty string');
  const source = first(e, 'source') ?? ctx.defaultSource;
  if (source !== undefined && !(ENVELOPE_SOURCES as readonly unknown[]).includes(source)) {
    throw new RecordRejected('invalid_field', `source must be one of ${ENVELOPE_SOURCES.join(', ')}`);
  }
  const attributes = newAttributes();
  const { limits } = ctx;
  putAll(attributes, first(e, 'attributes', 'properties'), limits);
  putContext(attributes, e.context, limits);
  putValue(attributes, CONTEXT_ATTRIBUTES.site, first(e, 'site_id', 'siteId'), limits);
  putValue(attributes, CONTEXT_ATTRIBUTES.source, source, limits);
  const timestampMs = parseTime(first(e, 'occurred_at', 'occurredAt', 'timestamp'), 'occurred_at');
  return productEvent(
    {
      eventId: optionalString(first(e, 'event_id', 'eventId'), 'event_id'),
      sessionId: optionalString(first(e, 'session_id', 'sessionId'), 'session_id'),
      userId: optionalString(first(e, 'user_id', 'userId'), 'user_id'),
      anonymousId: optionalString(first(e, 'anonymous_id', 'anonymousId'), 'anonymous_id'),
      timeUnixNano: eventTimeNs(timestampMs, ctx.sentAtMs, ctx.receivedAtMs, 'occurred_at'),
      eventName,
      attributes,
    },
    ctx,
    FIELDS,
  );
}
