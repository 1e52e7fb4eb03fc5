/**
 * What the JSON product APIs (Segment-style tracking, the event envelope) share: the write key from a
 * header or the body, attribute flattening with the OTLP receiver's rules (scalars as text, arrays and objects
 * as JSON), timestamps with clock-skew correction, the standard context attributes, and per-event refusals
 * that are reported back instead of failing the whole request.
 */
import type { FastifyRequest } from 'fastify';
import type { Pipeline } from '../../core/components.ts';
import type { RateLimiter } from '../../core/rate-limit/limiter.ts';
import { SignalhouseError } from '../../core/errors.ts';
import { type Attributes, type LogEvent, newAttributes, type Resource, type Scope } from '../../core/event.ts';
import { credentialFromAuthorization, type Principal, requireWritePrincipal, type TenantRegistry } from '../../core/tenants.ts';
import { mediaTypeOf, readBody } from '../receiverhelper/body.ts';
import type { ReceiverCounters } from '../receiverhelper/counters.ts';
import type { RecordLimits } from '../receiverhelper/limits.ts';
import { checkIdentity, checkLength, type IdentityFields, MAX_TIME_UNIX_NANO, putAttribute, RecordRejected } from '../otlp/common.ts';

export type Json = Record<string, unknown>;
export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Attribute keys for the context every product API carries (OpenTelemetry names where they exist). */
export const CONTEXT_ATTRIBUTES = {
  url: 'url.full',
  path: 'url.path',
  title: 'page.title',
  referrer: 'page.referrer',
  userAgent: 'user_agent.original',
  ip: 'client.address',
  locale: 'locale',
  consent: 'consent.analytics',
  site: 'site.id',
  source: 'event.source',
  library: 'library.name',
  libraryVersion: 'library.version',
} as const;

/** What every product-API plugin is registered with. */
export interface ProductRoutesOptions<C> {
  config: C;
  /** The logs pipeline that names the receiver. */
  pipeline: Pipeline;
  tenants: TenantRegistry;
  counters: ReceiverCounters;
  rateLimits: RateLimiter;
}

/** JSON bodies arrive as application/json, or as text/plain from browsers avoiding a CORS preflight. */
const JSON_MEDIA_TYPES = ['application/json', 'text/plain'];

/** The request's JSON document, through the shared body reader (media type, Content-Encoding, size limit). */
export async function readJsonBody(request: FastifyRequest, limit: number): Promise<unknown> {
  mediaTypeOf(request, JSON_MEDIA_TYPES);
  return parseJson(await readBody(request, { limit }));
}

export function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new SignalhouseError('BAD_REQUEST', `invalid JSON body: ${(err as Error).message}`);
  }
}

/**
 * Who sends (the write key's tenant and key id) from `Authorization` (Bearer or Basic) or, failing that,
 * `writeKey` / `api_key` in the body.
 */
export function writerOf(registry: TenantRegistry, authorization: string | undefined, body: unknown, origin: string | undefined): Principal {
  const fromHeader = credentialFromAuthorization(authorization);
  let fromBody: string | undefined;
  if (isObject(body)) {
    const named = body.writeKey ?? body.api_key;
    if (typeof named === 'string' && named !== '') fromBody = named;
  }
  const writer = requireWritePrincipal(registry, fromHeader ?? fromBody, origin);
  const { tenant } = writer;
  // A body naming another key than the header is either a mistake or an attempt at another tenant: neither is
  // guessed at (a key of the same tenant is fine).
  if (fromHeader !== undefined && fromBody !== undefined && fromBody !== fromHeader && registry.byWriteKey(fromBody)?.id !== tenant.id) {
    throw new SignalhouseError('FORBIDDEN_TENANT', "the body's write key does not belong to the tenant of the Authorization header");
  }
  return writer;
}

/** Adds `value` under `key` with the OTLP receiver's text rules; null and undefined are skipped. */
export function putValue(attrs: Attributes, key: string, value: unknown, limits: RecordLimits): void {
  if (value === undefined || value === null) return;
  let text: string;
  switch (typeof value) {
    case 'string':
      text = value;
      break;
    case 'number':
    case 'boolean':
    case 'bigint':
      text = String(value);
      break;
    default:
      if (!withinDepth(value as object, 1, limits.max_value_depth)) {
        throw new RecordRejected('limit', `attribute "${key.slice(0, 64)}" value nested deeper than ${limits.max_value_depth} levels`);
      }
      text = JSON.stringify(value);
  }
  // The attribute count is checked once per event, in productEvent(), not per value.
  putAttribute(attrs, 0, key, text, limits);
}

/**
 * Whether an array or object at `depth` keeps every value inside it within `max` levels, counted as OTLP does
 * (an attribute's value is level 1, each array or object adds one). The walk stops at `max`, so it never
 * recurses deeper than the limit, however deep the value goes.
 */
function withinDepth(value: object, depth: number, max: number): boolean {
  if (depth >= max) return false;
  if (Array.isArray(value)) {
    for (const v of value) if (typeof v === 'object' && v !== null && !withinDepth(v, depth + 1, max)) return false;
  } else {
    for (const k in value) {
      const v = (value as Json)[k];
      if (typeof v === 'object' && v !== null && !withinDepth(v, depth + 1, max)) return false;
    }
  }
  return true;
}

/** Every top-level property as an attribute, optionally prefixed (`traits.email`). */
export function putAll(attrs: Attributes, values: unknown, limits: RecordLimits, prefix = ''): void {
  if (values === undefined || values === null) return;
  if (!isObject(values)) throw new RecordRejected('invalid_field', `${prefix ? prefix.slice(0, -1) : 'properties'} must be an object`);
  for (const k of Object.keys(values)) putValue(attrs, prefix + k, values[k], limits);
}

/** Context fields (Segment's `context`, the envelope's `context`) as standard attributes. */
export function putContext(attrs: Attributes, context: unknown, limits: RecordLimits): void {
  if (!isObject(context)) return;
  const page = isObject(context.page) ? context.page : {};
  const device = isObject(context.device) ? context.device : {};
  const library = isObject(context.library) ? context.library : {};
  const consent = isObject(context.consent) ? context.consent : {};
  putValue(attrs, CONTEXT_ATTRIBUTES.url, page.url, limits);
  putValue(attrs, CONTEXT_ATTRIBUTES.path, page.path, limits);
  putValue(attrs, CONTEXT_ATTRIBUTES.title, page.title, limits);
  putValue(attrs, CONTEXT_ATTRIBUTES.referrer, page.referrer, limits);
  putValue(attrs, CONTEXT_ATTRIBUTES.userAgent, context.userAgent ?? device.user_agent, limits);
  putValue(attrs, CONTEXT_ATTRIBUTES.ip, context.ip, limits);
  putValue(attrs, CONTEXT_ATTRIBUTES.locale, context.locale, limits);
  putValue(attrs, CONTEXT_ATTRIBUTES.consent, consent.analytics, limits);
  putValue(attrs, CONTEXT_ATTRIBUTES.library, library.name, limits);
  putValue(attrs, CONTEXT_ATTRIBUTES.libraryVersion, library.version, limits);
}

/** Milliseconds since the epoch for an ISO 8601 / RFC 3339 string, a Date-parsable string or a number (ms). */
export function parseTime(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw new RecordRejected('invalid_field', `${field} is not a valid timestamp`);
  return ms;
}

/**
 * The event time in ns, corrected for the sender's clock: when the client says when it sent the request
 * (`sentAt`), the offset between that and our receive time is applied to the event time (Segment's rule).
 */
export function eventTimeNs(timestampMs: number | undefined, sentAtMs: number | undefined, receivedAtMs: number, field: string): bigint {
  if (timestampMs === undefined) return BigInt(receivedAtMs) * 1_000_000n;
  const skew = sentAtMs === undefined ? 0 : receivedAtMs - sentAtMs;
  const ms = Math.round(timestampMs + skew);
  // Also false for NaN and ±Infinity (huge times and skews), which BigInt() would throw on.
  if (!(ms >= 0 && ms <= MAX_TIME_MS))
    throw new RecordRejected('invalid_field', `${field} (after clock-skew correction) is outside 1970 to 2262, the times stored`);
  return BigInt(ms) * 1_000_000n;
}

/** The latest event time in milliseconds whose nanoseconds the tables hold (MAX_TIME_UNIX_NANO). */
const MAX_TIME_MS = Number(MAX_TIME_UNIX_NANO / 1_000_000n);

export function optionalString(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  throw new RecordRejected('invalid_field', `${field} must be a string`);
}

/** The person a Segment-Spec call (Segment API, tracker API) names: `userId`, `anonymousId`, at least one. */
export function specPerson(msg: Json, type: string): { userId: string; anonymousId: string } {
  const userId = optionalString(msg.userId, 'userId');
  const anonymousId = optionalString(msg.anonymousId, 'anonymousId');
  if (!userId && !anonymousId) throw new RecordRejected('invalid_field', `${type}: userId or anonymousId is required`);
  return { userId, anonymousId };
}

/** A Segment-Spec `track` call: its `event` names it, its properties become attributes under their own keys. */
export function specTrack(attributes: Attributes, msg: Json, limits: RecordLimits): string {
  if (typeof msg.event !== 'string' || msg.event === '') throw new RecordRejected('invalid_field', 'track: event must be a non-empty string');
  putAll(attributes, msg.properties, limits);
  return msg.event;
}

/**
 * The serialized size of one event, for the per-event limit. JSON.stringify throws a RangeError when the event
 * nests deeper than the engine's stack allows (thousands of levels, far past `max_value_depth`): such an event
 * is refused alone. Stored values get the exact depth check in putValue().
 */
export function checkEventSize(event: unknown, ctx: ProductContext): void {
  let text: string;
  try {
    text = JSON.stringify(event) ?? '';
  } catch (err) {
    if (err instanceof RangeError) throw new RecordRejected('limit', `event nested deeper than ${ctx.limits.max_value_depth} levels`);
    throw err;
  }
  if (Buffer.byteLength(text) > ctx.maxEventBytes) throw new RecordRejected('limit', `event larger than ${ctx.maxEventBytes} bytes`);
}

/** Resource and scope shared by all events of one product-API request. */
export function productOrigin(receiver: string): { resource: Resource; scope: Scope } {
  return {
    resource: { attributes: newAttributes(), schemaUrl: '', serviceName: '' },
    scope: { name: `signalhouse/${receiver}`, version: '', attributes: newAttributes(), schemaUrl: '' },
  };
}

/** What every product-API mapper needs besides the event itself. */
export interface ProductContext {
  limits: RecordLimits;
  maxEventBytes: number;
  receivedAtMs: number;
  /** The request's `sentAt`, when the client sent one (clock-skew correction). */
  sentAtMs: number | undefined;
  resource: Resource;
  scope: Scope;
}

/** The fields a mapper decides; the rest of the event model is the same for every product API. */
export interface ProductFields {
  eventId: string;
  eventName: string;
  sessionId: string;
  userId: string;
  anonymousId: string;
  timeUnixNano: bigint;
  attributes: Attributes;
}

/** How a product API names the fields of ProductFields, for refusals. */
export interface ProductFieldNames extends IdentityFields {
  readonly eventName: string;
}

export function productEvent(f: ProductFields, ctx: ProductContext, names: ProductFieldNames): LogEvent {
  const { limits } = ctx;
  const max = limits.max_attributes_per_record;
  if (Object.keys(f.attributes).length > max) throw new RecordRejected('limit', `more than ${max} attributes`);
  checkLength(f.eventName, limits.max_name_length, names.eventName);
  checkIdentity(f, limits, names);
  return {
    eventId: f.eventId,
    sessionId: f.sessionId,
    userId: f.userId,
    anonymousId: f.anonymousId,
    timeUnixNano: f.timeUnixNano,
    observedTimeUnixNano: BigInt(ctx.receivedAtMs) * 1_000_000n,
    traceId: '',
    spanId: '',
    traceFlags: 0,
    severityText: '',
    severityNumber: 0,
    body: '',
    eventName: f.eventName,
    attributes: f.attributes,
    resource: ctx.resource,
    scope: ctx.scope,
  };
}

/** The context for one product-API request; a malformed `sentAt` refuses the request (400). */
export function requestContext(receiver: string, config: { limits: RecordLimits; max_event_size: number }, sentAt: unknown, field: string): ProductContext {
  let sentAtMs: number | undefined;
  try {
    sentAtMs = parseTime(sentAt, field);
  } catch {
    throw new SignalhouseError('BAD_REQUEST', `${field} is not a valid timestamp`);
  }
  const { resource, scope } = productOrigin(receiver);
  return { limits: config.limits, maxEventBytes: config.max_event_size, receivedAtMs: Date.now(), sentAtMs, resource, scope };
}
