/**
 * OTLP/JSON decoding (the protobuf JSON mapping as OTLP profiles it): lowerCamelCase keys, trace and span ids as
 * hex, 64-bit integers as strings or numbers, enums as integers (names accepted too), unknown fields ignored.
 * A body that is not JSON or not shaped like a request is undecodable (400); a record with a wrong-typed field
 * is refused alone and reported in the partial-success reply.
 */
import {
  type Attributes,
  type LogEvent,
  newAttributes,
  type Resource,
  type Scope,
  type SpanEventRecord,
  type SpanLink,
  type SpanRecord,
} from '../../core/event.ts';
import { identityFromAttributes } from '../../semconv/attributes.ts';
import { SPAN_KIND_NAMES, STATUS_CODE_NAMES } from '../../semconv/otlp.ts';
import {
  checkBody,
  checkDepth,
  checkIdentity,
  checkLength,
  checkTime,
  DecodeError,
  type DecodeContext,
  doubleAsJson,
  effectiveTime,
  finishSpan,
  formatDouble,
  hexId,
  makeResource,
  OTLP_IDENTITY_FIELDS,
  putAttribute,
  RecordRejected,
  rejectRecord,
  rejectRecords,
} from './common.ts';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseJsonBody(buf: Buffer): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new DecodeError(`invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new DecodeError('invalid OTLP/JSON request: expected a JSON object');
  return parsed;
}

function optionalArray(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new DecodeError(`invalid OTLP/JSON request: ${field} must be an array`);
  return v;
}

function recordArray(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new RecordRejected('invalid_field', `${field} must be an array`);
  return v;
}

function str(v: unknown, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new RecordRejected('invalid_field', `${field} must be a string`);
  return v;
}

const INT64 = /^-?\d{1,20}$/;

/** A fixed64/int64 field: decimal string (exact) or number (exact only below 2^53). */
function int64(v: unknown, field: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'string' && INT64.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  throw new RecordRejected('invalid_field', `${field} must be an integer or a decimal string`);
}

function unsignedTime(v: unknown, field: string): bigint {
  const t = int64(v, field);
  if (t < 0n) throw new RecordRejected('invalid_field', `${field} out of range`);
  return checkTime(t, field);
}

function enumValue(v: unknown, names: readonly string[], field: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v >= 0 && v < names.length ? v : 0;
  if (typeof v === 'string') {
    const i = names.indexOf(v);
    if (i >= 0) return i;
  }
  throw new RecordRejected('invalid_field', `${field} must be an enum integer`);
}

const SEVERITY_NAMES = [
  'SEVERITY_NUMBER_UNSPECIFIED',
  ...['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].flatMap((s) => ['', '2', '3', '4'].map((n) => `SEVERITY_NUMBER_${s}${n}`)),
];

// ---- AnyValue -------------------------------------------------------------------------------------------------------

function anyValueText(v: unknown, depth: number, ctx: DecodeContext): string {
  if (!isObject(v)) return '';
  if ('stringValue' in v) return str(v.stringValue, 'stringValue');
  if ('boolValue' in v) return v.boolValue === true ? 'true' : 'false';
  if ('intValue' in v) return String(int64(v.intValue, 'intValue'));
  if ('doubleValue' in v) return formatDouble(toDouble(v.doubleValue));
  if ('arrayValue' in v) return arrayJson(v.arrayValue, depth + 1, ctx);
  if ('kvlistValue' in v) return kvlistJson(v.kvlistValue, depth + 1, ctx);
  if ('bytesValue' in v) return str(v.bytesValue, 'bytesValue');
  return '';
}

function toDouble(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  throw new RecordRejected('invalid_field', 'doubleValue must be a number');
}

function anyValueJson(v: unknown, depth: number, ctx: DecodeContext): string {
  checkDepth(depth, ctx.limits);
  if (!isObject(v)) return 'null';
  if ('stringValue' in v) return JSON.stringify(str(v.stringValue, 'stringValue'));
  if ('boolValue' in v) return v.boolValue === true ? 'true' : 'false';
  if ('intValue' in v) return String(int64(v.intValue, 'intValue'));
  if ('doubleValue' in v) return doubleAsJson(toDouble(v.doubleValue));
  if ('arrayValue' in v) return arrayJson(v.arrayValue, depth + 1, ctx);
  if ('kvlistValue' in v) return kvlistJson(v.kvlistValue, depth + 1, ctx);
  if ('bytesValue' in v) return JSON.stringify(str(v.bytesValue, 'bytesValue'));
  return 'null';
}

function arrayJson(v: unknown, depth: number, ctx: DecodeContext): string {
  checkDepth(depth, ctx.limits);
  const values = isObject(v) ? recordArray(v.values, 'arrayValue.values') : [];
  return `[${values.map((x) => anyValueJson(x, depth, ctx)).join(',')}]`;
}

function kvlistJson(v: unknown, depth: number, ctx: DecodeContext): string {
  checkDepth(depth, ctx.limits);
  const values = isObject(v) ? recordArray(v.values, 'kvlistValue.values') : [];
  const parts = values.map((kv) => {
    if (!isObject(kv)) throw new RecordRejected('invalid_field', 'kvlistValue entries must be objects');
    return `${JSON.stringify(str(kv.key, 'key'))}:${anyValueJson(kv.value, depth, ctx)}`;
  });
  return `{${parts.join(',')}}`;
}

function attributes(list: unknown, ctx: DecodeContext, into: Attributes = newAttributes()): Attributes {
  let n = 0;
  for (const kv of recordArray(list, 'attributes')) {
    if (!isObject(kv)) throw new RecordRejected('invalid_field', 'attributes entries must be objects');
    const key = str(kv.key, 'attribute key');
    const isNew = !(key in into);
    putAttribute(into, isNew ? n : n - 1, key, anyValueText(kv.value, 1, ctx), ctx.limits);
    if (isNew) n++;
  }
  return into;
}

// ---- resource and scope blocks ------------------------------------------------------------------------------------

function forEachBlock(
  body: Json,
  names: { resource: string; scope: string; records: string },
  ctx: DecodeContext,
  onRecord: (record: unknown, resource: Resource, scope: Scope) => void,
): void {
  for (const rb of optionalArray(body[names.resource], names.resource)) {
    if (!isObject(rb)) throw new DecodeError(`invalid OTLP/JSON request: ${names.resource} entries must be objects`);
    const scopeBlocks = optionalArray(rb[names.scope], names.scope);
    let resource: Resource;
    try {
      const res = isObject(rb.resource) ? rb.resource : {};
      resource = makeResource(attributes(res.attributes, ctx), checkLength(str(rb.schemaUrl, 'schemaUrl'), ctx.limits.max_field_length, 'schemaUrl'), ctx);
    } catch (err) {
      const count = scopeBlocks.reduce<number>(
        (n, sb) => n + (isObject(sb) && Array.isArray(sb[names.records]) ? (sb[names.records] as unknown[]).length : 0),
        0,
      );
      rejectRecords(ctx, err, 'resource', count);
      continue;
    }
    for (const sb of scopeBlocks) {
      if (!isObject(sb)) throw new DecodeError(`invalid OTLP/JSON request: ${names.scope} entries must be objects`);
      const records = optionalArray(sb[names.records], names.records);
      let scope: Scope;
      try {
        const s = isObject(sb.scope) ? sb.scope : {};
        const { max_name_length: maxName, max_field_length: maxField } = ctx.limits;
        scope = {
          name: checkLength(str(s.name, 'scope.name'), maxName, 'scope.name'),
          version: checkLength(str(s.version, 'scope.version'), maxField, 'scope.version'),
          attributes: attributes(s.attributes, ctx),
          schemaUrl: checkLength(str(sb.schemaUrl, 'schemaUrl'), maxField, 'schemaUrl'),
        };
      } catch (err) {
        rejectRecords(ctx, err, 'scope', records.length);
        continue;
      }
      for (const record of records) onRecord(record, resource, scope);
    }
  }
}

// ---- logs ---------------------------------------------------------------------------------------------------------

function logRecord(r: unknown, resource: Resource, scope: Scope, ctx: DecodeContext): LogEvent {
  if (!isObject(r)) throw new RecordRejected('invalid_field', 'log record must be an object');
  const attrs = attributes(r.attributes, ctx);
  const observed = unsignedTime(r.observedTimeUnixNano, 'observedTimeUnixNano');
  // Only numbers and numeric text: Number() of an object can throw (a sender's `valueOf` / `toString` keys).
  const flags = typeof r.flags === 'number' || typeof r.flags === 'string' ? Number(r.flags) : 0;
  const id = identityFromAttributes(attrs, resource.attributes);
  checkIdentity(id, ctx.limits, OTLP_IDENTITY_FIELDS);
  return {
    eventId: id.eventId,
    sessionId: id.sessionId,
    userId: id.userId,
    anonymousId: id.anonymousId,
    timeUnixNano: effectiveTime(unsignedTime(r.timeUnixNano, 'timeUnixNano'), observed, ctx),
    observedTimeUnixNano: observed,
    traceId: hexId(r.traceId, 16, 'traceId'),
    spanId: hexId(r.spanId, 8, 'spanId'),
    traceFlags: Number.isInteger(flags) ? flags & 0xff : 0,
    severityText: checkLength(str(r.severityText, 'severityText'), ctx.limits.max_field_length, 'severityText'),
    severityNumber: enumValue(r.severityNumber, SEVERITY_NAMES, 'severityNumber'),
    body: checkBody(anyValueText(r.body, 1, ctx), ctx.limits),
    eventName: checkLength(str(r.eventName, 'eventName'), ctx.limits.max_name_length, 'eventName'),
    attributes: attrs,
    resource,
    scope,
  };
}

export function decodeLogsJson(buf: Buffer, ctx: DecodeContext): LogEvent[] {
  const body = parseJsonBody(buf);
  const out: LogEvent[] = [];
  forEachBlock(body, { resource: 'resourceLogs', scope: 'scopeLogs', records: 'logRecords' }, ctx, (r, resource, scope) => {
    try {
      out.push(logRecord(r, resource, scope, ctx));
    } catch (err) {
      rejectRecord(ctx, err, 'log record');
    }
  });
  return out;
}

// ---- traces -------------------------------------------------------------------------------------------------------

function span(r: unknown, resource: Resource, scope: Scope, ctx: DecodeContext): SpanRecord {
  if (!isObject(r)) throw new RecordRejected('invalid_field', 'span must be an object');
  const status = isObject(r.status) ? r.status : {};
  const events: SpanEventRecord[] = recordArray(r.events, 'events').map((e) => {
    if (!isObject(e)) throw new RecordRejected('invalid_field', 'span events must be objects');
    return {
      timeUnixNano: unsignedTime(e.timeUnixNano, 'events.timeUnixNano'),
      name: checkLength(str(e.name, 'events.name'), ctx.limits.max_name_length, 'events.name'),
      attributes: attributes(e.attributes, ctx),
    };
  });
  const links: SpanLink[] = recordArray(r.links, 'links').map((l) => {
    if (!isObject(l)) throw new RecordRejected('invalid_field', 'span links must be objects');
    return {
      traceId: hexId(l.traceId, 16, 'links.traceId'),
      spanId: hexId(l.spanId, 8, 'links.spanId'),
      traceState: checkLength(str(l.traceState, 'links.traceState'), ctx.limits.max_field_length, 'links.traceState'),
      attributes: attributes(l.attributes, ctx),
    };
  });
  return finishSpan(
    {
      eventId: '',
      sessionId: '',
      userId: '',
      anonymousId: '',
      traceId: hexId(r.traceId, 16, 'traceId'),
      spanId: hexId(r.spanId, 8, 'spanId'),
      parentSpanId: hexId(r.parentSpanId, 8, 'parentSpanId'),
      traceState: checkLength(str(r.traceState, 'traceState'), ctx.limits.max_field_length, 'traceState'),
      name: str(r.name, 'name'),
      kind: enumValue(r.kind, SPAN_KIND_NAMES, 'kind'),
      startTimeUnixNano: unsignedTime(r.startTimeUnixNano, 'startTimeUnixNano'),
      endTimeUnixNano: unsignedTime(r.endTimeUnixNano, 'endTimeUnixNano'),
      attributes: attributes(r.attributes, ctx),
      events,
      links,
      statusCode: enumValue(status.code, STATUS_CODE_NAMES, 'status.code'),
      statusMessage: checkLength(str(status.message, 'status.message'), ctx.limits.max_attribute_value_length, 'status.message'),
      resource,
      scope,
    },
    ctx,
  );
}

export function decodeTracesJson(buf: Buffer, ctx: DecodeContext): SpanRecord[] {
  const body = parseJsonBody(buf);
  const out: SpanRecord[] = [];
  forEachBlock(body, { resource: 'resourceSpans', scope: 'scopeSpans', records: 'spans' }, ctx, (r, resource, scope) => {
    try {
      out.push(span(r, resource, scope, ctx));
    } catch (err) {
      rejectRecord(ctx, err, 'span');
    }
  });
  return out;
}
