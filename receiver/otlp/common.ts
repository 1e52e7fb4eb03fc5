/**
 * What the OTLP protobuf and JSON decoders share: limits on hostile records, the two failure kinds (a request
 * that cannot be decoded at all → 400; one bad record → partial success), and conversions both formats need.
 */
import type { RecordLimits } from '../receiverhelper/limits.ts';
import { SignalhouseError } from '../../core/errors.ts';
import type { Attributes, Identity, Rejection, Resource, SpanRecord } from '../../core/event.ts';
import { addRejection } from '../../core/event.ts';
import { ATTR_SERVICE_NAME, identityFromAttributes, TENANT_ATTRIBUTES } from '../../semconv/attributes.ts';

/** The request body is not a valid OTLP message: the whole request is refused with 400. */
export class DecodeError extends SignalhouseError {
  constructor(message: string) {
    super('UNDECODABLE_BODY', message);
  }
}

/** One record breaks a rule: it is skipped and reported in the partial-success reply; the rest are kept. */
export class RecordRejected extends Error {
  constructor(
    readonly code: 'invalid_id' | 'invalid_field' | 'limit',
    readonly reason: string,
  ) {
    super(reason);
  }
}

export interface DecodeContext {
  readonly tenantId: string;
  readonly limits: RecordLimits;
  /** Used for records that carry neither a time nor an observed time. */
  readonly receivedAtUnixNano: bigint;
  readonly rejections: Rejection[];
}

/** Counts a refused record (RecordRejected); any other error propagates and fails the request. */
export function rejectRecord(ctx: DecodeContext, err: unknown, what: string): void {
  rejectRecords(ctx, err, what, 1);
}

export function rejectRecords(ctx: DecodeContext, err: unknown, what: string, count: number): void {
  if (!(err instanceof RecordRejected)) throw err;
  if (count > 0) addRejection(ctx.rejections, err.code, `${what}: ${err.reason}`, count);
}

/** Adds one attribute, enforcing the per-record limits. */
export function putAttribute(attrs: Attributes, count: number, key: string, value: string, limits: RecordLimits): void {
  if (count >= limits.max_attributes_per_record) {
    throw new RecordRejected('limit', `more than ${limits.max_attributes_per_record} attributes`);
  }
  if (key.length > limits.max_attribute_key_length) {
    throw new RecordRejected('limit', `attribute key longer than ${limits.max_attribute_key_length} characters`);
  }
  if (value.length > limits.max_attribute_value_length) {
    throw new RecordRejected('limit', `attribute "${key.slice(0, 64)}" value longer than ${limits.max_attribute_value_length} characters`);
  }
  attrs[key] = value;
}

/** A string field within its limit (`max` characters), else the record is refused naming the field. */
export function checkLength(value: string, max: number, field: string): string {
  if (value.length > max) throw new RecordRejected('limit', `${field} longer than ${max} characters`);
  return value;
}

/** How a receiver names the fields its identity columns come from, for refusals. */
export interface IdentityFields {
  readonly eventId: string;
  readonly sessionId: string;
  readonly userId: string;
  readonly anonymousId: string;
}

/** OTLP takes the identity from these attributes (semconv/attributes.ts). */
export const OTLP_IDENTITY_FIELDS: IdentityFields = {
  eventId: 'log.record.uid / event.id',
  sessionId: 'session.id',
  userId: 'user.id / enduser.id',
  anonymousId: 'anonymous.id',
};

/** The identity columns within `max_id_length`. */
export function checkIdentity(id: Identity, limits: RecordLimits, fields: IdentityFields): void {
  const max = limits.max_id_length;
  if (id.eventId.length > max) checkLength(id.eventId, max, fields.eventId);
  if (id.sessionId.length > max) checkLength(id.sessionId, max, fields.sessionId);
  if (id.userId.length > max) checkLength(id.userId, max, fields.userId);
  if (id.anonymousId.length > max) checkLength(id.anonymousId, max, fields.anonymousId);
}

export function checkBody(body: string, limits: RecordLimits): string {
  if (body.length > limits.max_body_length) throw new RecordRejected('limit', `body longer than ${limits.max_body_length} characters`);
  return body;
}

export function checkDepth(depth: number, limits: RecordLimits): void {
  if (depth > limits.max_value_depth) throw new RecordRejected('limit', `value nested deeper than ${limits.max_value_depth} levels`);
}

/** The tenant comes from the key; a resource that names another tenant is refused outright. */
export function makeResource(attributes: Attributes, schemaUrl: string, ctx: DecodeContext): Resource {
  for (const key of TENANT_ATTRIBUTES) {
    const named = attributes[key];
    if (named !== undefined && named !== ctx.tenantId) {
      throw new SignalhouseError('FORBIDDEN_TENANT', `resource attribute ${key}="${named}" does not match the write key's tenant`);
    }
  }
  return { attributes, schemaUrl, serviceName: attributes[ATTR_SERVICE_NAME] ?? '' };
}

/** Text for a double as the Collector stores it: shortest round-trip form, no exponent for ordinary values. */
export function formatDouble(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** A double inside a JSON-encoded array or map value: JSON has no NaN/Infinity, so those become strings. */
export function doubleAsJson(v: number): string {
  return Number.isFinite(v) ? String(v) : JSON.stringify(formatDouble(v));
}

/** The latest time the tables hold: DateTime64(9) is a signed 64-bit count of nanoseconds (2262-04-11). */
export const MAX_TIME_UNIX_NANO = 2n ** 63n - 1n;

/** A time the tables can hold; a later one (OTLP times are unsigned 64-bit) refuses the record. */
export function checkTime(t: bigint, field: string): bigint {
  if (t > MAX_TIME_UNIX_NANO) throw new RecordRejected('invalid_field', `${field} is after 2262-04-11, the latest time stored`);
  return t;
}

/** The record's time, else its observed time, else the receive time (the Collector exporter's order). */
export function effectiveTime(time: bigint, observed: bigint, ctx: DecodeContext): bigint {
  if (time !== 0n) return time;
  if (observed !== 0n) return observed;
  return ctx.receivedAtUnixNano;
}

const HEX_ID = /^[0-9a-fA-F]*$/;

/** Validates a hex id from OTLP/JSON (case-insensitive) and returns it lower-cased; '' stays ''. */
export function hexId(value: unknown, bytes: number, field: string): string {
  if (value === undefined || value === null || value === '') return '';
  if (typeof value !== 'string' || value.length !== bytes * 2 || !HEX_ID.test(value)) {
    throw new RecordRejected('invalid_id', `invalid ${field}: expected ${bytes * 2} hex characters`);
  }
  return value.toLowerCase();
}

export const ZERO_TRACE_ID = '0'.repeat(32);
export const ZERO_SPAN_ID = '0'.repeat(16);

/** Spans need a non-zero trace id and span id (the OTLP spec calls all-zero ids invalid). */
export function requireSpanIds(traceId: string, spanId: string): void {
  if (traceId === '' || traceId === ZERO_TRACE_ID) throw new RecordRejected('invalid_id', 'missing or all-zero trace_id');
  if (spanId === '' || spanId === ZERO_SPAN_ID) throw new RecordRejected('invalid_id', 'missing or all-zero span_id');
}

export function nowUnixNano(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Checks and defaults shared by both span decoders. */
export function finishSpan(span: SpanRecord, ctx: DecodeContext): SpanRecord {
  requireSpanIds(span.traceId, span.spanId);
  checkLength(span.name, ctx.limits.max_name_length, 'name');
  if (span.kind < 0 || span.kind > 5) span.kind = 0;
  if (span.startTimeUnixNano === 0n) span.startTimeUnixNano = ctx.receivedAtUnixNano;
  if (span.endTimeUnixNano < span.startTimeUnixNano) span.endTimeUnixNano = span.startTimeUnixNano;
  const id = identityFromAttributes(span.attributes, span.resource.attributes);
  span.eventId = id.eventId || span.traceId + span.spanId;
  span.sessionId = id.sessionId;
  span.userId = id.userId;
  span.anonymousId = id.anonymousId;
  checkIdentity(span, ctx.limits, OTLP_IDENTITY_FIELDS);
  return span;
}
