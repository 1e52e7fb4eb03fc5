/**
 * OTLP/protobuf decoding straight into the event model. No `.proto` files and no intermediate message objects:
 * each field is read once by the wire reader and lands in its final place. Field numbers follow
 * opentelemetry-proto (common/v1, resource/v1, logs/v1, trace/v1). Decoders switch on the whole tag
 * (`field << 3 | wire type`); unknown fields are skipped, a known field with the wrong wire type, a truncated
 * message or a bad length makes the request undecodable (400). A record that breaks a limit is refused alone.
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
import {
  checkBody,
  checkDepth,
  checkIdentity,
  checkLength,
  checkTime,
  type DecodeContext,
  doubleAsJson,
  effectiveTime,
  finishSpan,
  formatDouble,
  makeResource,
  OTLP_IDENTITY_FIELDS,
  RecordRejected,
  rejectRecord,
  rejectRecords,
  putAttribute,
} from './common.ts';
import { FIXED32, FIXED64, LEN, VARINT, WireReader } from './wire.ts';

const t = (field: number, wire: number) => (field << 3) | wire;
/** Field names by number, to tell "wrong wire type" (error) from "unknown field" (skipped). */
const names = (fields: Record<number, string>) => fields;

// ---- common/v1 ----------------------------------------------------------------------------------------------------

const ANY_VALUE = names({
  1: 'AnyValue.string_value',
  2: 'AnyValue.bool_value',
  3: 'AnyValue.int_value',
  4: 'AnyValue.double_value',
  5: 'AnyValue.array_value',
  6: 'AnyValue.kvlist_value',
  7: 'AnyValue.bytes_value',
});
const KEY_VALUE = names({ 1: 'KeyValue.key', 2: 'KeyValue.value' });

/** AnyValue as the string stored in an attribute map (nested arrays and maps as JSON, like the Collector). */
function anyValueText(rd: WireReader, end: number, depth: number, ctx: DecodeContext): string {
  let text = '';
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, LEN):
        text = rd.string();
        break;
      case t(2, VARINT):
        text = rd.bool() ? 'true' : 'false';
        break;
      case t(3, VARINT):
        text = rd.int64Text();
        break;
      case t(4, FIXED64):
        text = formatDouble(rd.double());
        break;
      case t(5, LEN):
        text = arrayJson(rd, rd.end(), depth + 1, ctx);
        break;
      case t(6, LEN):
        text = kvlistJson(rd, rd.end(), depth + 1, ctx);
        break;
      case t(7, LEN):
        text = rd.bytes().toString('base64');
        break;
      default:
        rd.skip(tag, ANY_VALUE[tag >>> 3]);
    }
  }
  rd.close(end);
  return text;
}

/** AnyValue as a JSON fragment, for values nested in arrays and maps. */
function anyValueJson(rd: WireReader, end: number, depth: number, ctx: DecodeContext): string {
  checkDepth(depth, ctx.limits);
  let json = 'null';
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, LEN):
        json = JSON.stringify(rd.string());
        break;
      case t(2, VARINT):
        json = rd.bool() ? 'true' : 'false';
        break;
      case t(3, VARINT):
        json = rd.int64Text();
        break;
      case t(4, FIXED64):
        json = doubleAsJson(rd.double());
        break;
      case t(5, LEN):
        json = arrayJson(rd, rd.end(), depth + 1, ctx);
        break;
      case t(6, LEN):
        json = kvlistJson(rd, rd.end(), depth + 1, ctx);
        break;
      case t(7, LEN):
        json = JSON.stringify(rd.bytes().toString('base64'));
        break;
      default:
        rd.skip(tag, ANY_VALUE[tag >>> 3]);
    }
  }
  rd.close(end);
  return json;
}

function arrayJson(rd: WireReader, end: number, depth: number, ctx: DecodeContext): string {
  checkDepth(depth, ctx.limits);
  const parts: string[] = [];
  while (rd.pos < end) {
    const tag = rd.uint32();
    if (tag === t(1, LEN)) parts.push(anyValueJson(rd, rd.end(), depth, ctx));
    else rd.skip(tag, tag >>> 3 === 1 ? 'ArrayValue.values' : undefined);
  }
  rd.close(end);
  return `[${parts.join(',')}]`;
}

function kvlistJson(rd: WireReader, end: number, depth: number, ctx: DecodeContext): string {
  checkDepth(depth, ctx.limits);
  const parts: string[] = [];
  while (rd.pos < end) {
    const tag = rd.uint32();
    if (tag !== t(1, LEN)) {
      rd.skip(tag, tag >>> 3 === 1 ? 'KeyValueList.values' : undefined);
      continue;
    }
    const kvEnd = rd.end();
    let key = '';
    let value = 'null';
    while (rd.pos < kvEnd) {
      const kt = rd.uint32();
      if (kt === t(1, LEN)) key = rd.internedString();
      else if (kt === t(2, LEN)) value = anyValueJson(rd, rd.end(), depth, ctx);
      else rd.skip(kt, KEY_VALUE[kt >>> 3]);
    }
    rd.close(kvEnd);
    parts.push(`${JSON.stringify(key)}:${value}`);
  }
  rd.close(end);
  return `{${parts.join(',')}}`;
}

/** One KeyValue into `attrs`; returns the new attribute count. */
function keyValueInto(rd: WireReader, end: number, attrs: Attributes, count: number, ctx: DecodeContext): number {
  let key = '';
  let value = '';
  while (rd.pos < end) {
    const tag = rd.uint32();
    if (tag === t(1, LEN)) key = rd.internedString();
    else if (tag === t(2, LEN)) value = anyValueText(rd, rd.end(), 1, ctx);
    else rd.skip(tag, KEY_VALUE[tag >>> 3]);
  }
  rd.close(end);
  const isNew = attrs[key] === undefined;
  putAttribute(attrs, isNew ? count : count - 1, key, value, ctx.limits);
  return isNew ? count + 1 : count;
}

/** A message whose only decoded field is `repeated KeyValue attributes = fieldNo` (Resource). */
function attributesMessage(rd: WireReader, end: number, fieldNo: number, name: string, ctx: DecodeContext): Attributes {
  const attrs = newAttributes();
  let n = 0;
  while (rd.pos < end) {
    const tag = rd.uint32();
    if (tag === t(fieldNo, LEN)) n = keyValueInto(rd, rd.end(), attrs, n, ctx);
    else rd.skip(tag, tag >>> 3 === fieldNo ? name : undefined);
  }
  rd.close(end);
  return attrs;
}

const SCOPE = names({ 1: 'InstrumentationScope.name', 2: 'InstrumentationScope.version', 3: 'InstrumentationScope.attributes' });

function readScope(rd: WireReader, end: number, scope: Scope, ctx: DecodeContext): void {
  let n = 0;
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, LEN):
        scope.name = checkLength(rd.string(), ctx.limits.max_name_length, 'scope.name');
        break;
      case t(2, LEN):
        scope.version = checkLength(rd.string(), ctx.limits.max_field_length, 'scope.version');
        break;
      case t(3, LEN):
        n = keyValueInto(rd, rd.end(), scope.attributes, n, ctx);
        break;
      default:
        rd.skip(tag, SCOPE[tag >>> 3]);
    }
  }
  rd.close(end);
}

// ---- request structure shared by logs and traces -------------------------------------------------------------------

const BLOCK = names({ 1: 'resource', 2: 'scope block', 3: 'schema_url' });
const SCOPE_BLOCK = names({ 1: 'scope', 2: 'records', 3: 'schema_url' });

/** Number of records (field 2) in a scope block, without decoding them. */
function countRecords(rd: WireReader, end: number): number {
  let count = 0;
  while (rd.pos < end) {
    const tag = rd.uint32();
    if (tag >>> 3 === 2) count++;
    rd.skip(tag);
  }
  rd.close(end);
  return count;
}

type RecordReader = (rd: WireReader, end: number, resource: Resource, scope: Scope, ctx: DecodeContext) => void;

/**
 * ResourceLogs / ResourceSpans (resource = 1, scope blocks = 2, schema_url = 3). The resource may follow its
 * scope blocks on the wire, so scope blocks are remembered as offsets and read once the resource is known.
 */
function resourceBlock(rd: WireReader, end: number, ctx: DecodeContext, readRecord: RecordReader): void {
  let attrs = newAttributes();
  let schemaUrl = '';
  let refusal: unknown;
  const scopeBlocks: number[] = [];
  while (rd.pos < end) {
    const tag = rd.uint32();
    if (tag === t(1, LEN)) {
      const resourceEnd = rd.end();
      try {
        attrs = attributesMessage(rd, resourceEnd, 1, 'Resource.attributes', ctx);
      } catch (err) {
        if (!(err instanceof RecordRejected)) throw err;
        refusal = err;
        rd.pos = resourceEnd;
      }
    } else if (tag === t(2, LEN)) {
      scopeBlocks.push(rd.pos);
      rd.pos = rd.end();
    } else if (tag === t(3, LEN)) {
      schemaUrl = rd.string();
      if (schemaUrl.length > ctx.limits.max_field_length)
        refusal ??= new RecordRejected('limit', `schema_url longer than ${ctx.limits.max_field_length} characters`);
    } else rd.skip(tag, BLOCK[tag >>> 3]);
  }
  rd.close(end);
  if (refusal !== undefined) {
    // A resource-level breach cannot be pinned on single records: every record under it is refused.
    let count = 0;
    for (const start of scopeBlocks) {
      rd.pos = start;
      count += countRecords(rd, rd.end());
    }
    rejectRecords(ctx, refusal, 'resource', count);
  } else {
    const resource = makeResource(attrs, schemaUrl, ctx);
    for (const start of scopeBlocks) {
      rd.pos = start;
      scopeBlock(rd, rd.end(), resource, ctx, readRecord);
    }
  }
  rd.pos = end;
}

/** ScopeLogs / ScopeSpans: scope = 1, records = 2, schema_url = 3. */
function scopeBlock(rd: WireReader, end: number, resource: Resource, ctx: DecodeContext, readRecord: RecordReader): void {
  const scope: Scope = { name: '', version: '', attributes: newAttributes(), schemaUrl: '' };
  const records: number[] = [];
  let refusal: RecordRejected | undefined;
  while (rd.pos < end) {
    const tag = rd.uint32();
    if (tag === t(1, LEN)) {
      const scopeEnd = rd.end();
      try {
        readScope(rd, scopeEnd, scope, ctx);
      } catch (err) {
        if (!(err instanceof RecordRejected)) throw err;
        refusal ??= err;
        rd.pos = scopeEnd;
      }
    } else if (tag === t(2, LEN)) {
      records.push(rd.pos);
      rd.pos = rd.end();
    } else if (tag === t(3, LEN)) {
      scope.schemaUrl = rd.string();
      if (scope.schemaUrl.length > ctx.limits.max_field_length)
        refusal ??= new RecordRejected('limit', `schema_url longer than ${ctx.limits.max_field_length} characters`);
    } else rd.skip(tag, SCOPE_BLOCK[tag >>> 3]);
  }
  rd.close(end);
  if (refusal !== undefined) {
    // A scope-level breach refuses every record under it.
    rejectRecords(ctx, refusal, 'scope', records.length);
    return;
  }
  for (const recordStart of records) {
    rd.pos = recordStart;
    readRecord(rd, rd.end(), resource, scope, ctx);
  }
  rd.pos = end;
}

/** ExportLogsServiceRequest / ExportTraceServiceRequest: repeated resource blocks in field 1. */
function request(buf: Uint8Array, ctx: DecodeContext, readRecord: RecordReader): void {
  const rd = new WireReader(buf);
  while (rd.pos < rd.len) {
    const tag = rd.uint32();
    if (tag === t(1, LEN)) resourceBlock(rd, rd.end(), ctx, readRecord);
    else rd.skip(tag, tag >>> 3 === 1 ? 'resource block' : undefined);
  }
}

// ---- logs/v1 -------------------------------------------------------------------------------------------------------

const LOG_RECORD = names({
  1: 'LogRecord.time_unix_nano',
  11: 'LogRecord.observed_time_unix_nano',
  2: 'LogRecord.severity_number',
  3: 'LogRecord.severity_text',
  5: 'LogRecord.body',
  6: 'LogRecord.attributes',
  7: 'LogRecord.dropped_attributes_count',
  8: 'LogRecord.flags',
  9: 'LogRecord.trace_id',
  10: 'LogRecord.span_id',
  12: 'LogRecord.event_name',
});

/** Hex of a binary id; empty stays ''. */
function binaryId(rd: WireReader, bytes: number, field: string): string {
  const b = rd.bytes();
  if (b.length === 0) return '';
  if (b.length !== bytes) throw new RecordRejected('invalid_id', `invalid ${field}: expected ${bytes} bytes, got ${b.length}`);
  return b.toString('hex');
}

function logRecord(rd: WireReader, end: number, resource: Resource, scope: Scope, ctx: DecodeContext): LogEvent {
  let time = 0n;
  let observed = 0n;
  let severityNumber = 0;
  let severityText = '';
  let body = '';
  const attributes = newAttributes();
  let n = 0;
  let flags = 0;
  let traceId = '';
  let spanId = '';
  let eventName = '';
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, FIXED64):
        time = rd.fixed64();
        break;
      case t(11, FIXED64):
        observed = rd.fixed64();
        break;
      case t(2, VARINT):
        severityNumber = rd.int32();
        break;
      case t(3, LEN):
        severityText = checkLength(rd.internedString(), ctx.limits.max_field_length, 'severity_text');
        break;
      case t(5, LEN):
        body = checkBody(anyValueText(rd, rd.end(), 1, ctx), ctx.limits);
        break;
      case t(6, LEN):
        n = keyValueInto(rd, rd.end(), attributes, n, ctx);
        break;
      case t(7, VARINT):
        rd.uint32();
        break;
      case t(8, FIXED32):
        flags = rd.fixed32();
        break;
      case t(9, LEN):
        traceId = binaryId(rd, 16, 'trace_id');
        break;
      case t(10, LEN):
        spanId = binaryId(rd, 8, 'span_id');
        break;
      case t(12, LEN):
        eventName = checkLength(rd.internedString(), ctx.limits.max_name_length, 'event_name');
        break;
      default:
        rd.skip(tag, LOG_RECORD[tag >>> 3]);
    }
  }
  rd.close(end);
  checkTime(time, 'time_unix_nano');
  checkTime(observed, 'observed_time_unix_nano');
  const id = identityFromAttributes(attributes, resource.attributes);
  checkIdentity(id, ctx.limits, OTLP_IDENTITY_FIELDS);
  return {
    eventId: id.eventId,
    sessionId: id.sessionId,
    userId: id.userId,
    anonymousId: id.anonymousId,
    timeUnixNano: effectiveTime(time, observed, ctx),
    observedTimeUnixNano: observed,
    traceId,
    spanId,
    traceFlags: flags & 0xff,
    severityText,
    severityNumber: severityNumber >= 0 && severityNumber <= 24 ? severityNumber : 0,
    body,
    eventName,
    attributes,
    resource,
    scope,
  };
}

/** Decodes an ExportLogsServiceRequest. Refused records are counted in `ctx.rejections`. */
export function decodeLogsProtobuf(buf: Uint8Array, ctx: DecodeContext): LogEvent[] {
  const out: LogEvent[] = [];
  request(buf, ctx, (rd, end, resource, scope) => {
    try {
      out.push(logRecord(rd, end, resource, scope, ctx));
    } catch (err) {
      rejectRecord(ctx, err, 'log record');
      rd.pos = end;
    }
  });
  return out;
}

// ---- trace/v1 ------------------------------------------------------------------------------------------------------

const SPAN = names({
  1: 'Span.trace_id',
  2: 'Span.span_id',
  3: 'Span.trace_state',
  4: 'Span.parent_span_id',
  5: 'Span.name',
  6: 'Span.kind',
  7: 'Span.start_time_unix_nano',
  8: 'Span.end_time_unix_nano',
  9: 'Span.attributes',
  11: 'Span.events',
  13: 'Span.links',
  15: 'Span.status',
  16: 'Span.flags',
});
const SPAN_EVENT = names({ 1: 'Span.Event.time_unix_nano', 2: 'Span.Event.name', 3: 'Span.Event.attributes' });
const SPAN_LINK = names({ 1: 'Span.Link.trace_id', 2: 'Span.Link.span_id', 3: 'Span.Link.trace_state', 4: 'Span.Link.attributes', 6: 'Span.Link.flags' });
const STATUS = names({ 2: 'Status.message', 3: 'Status.code' });

function spanEvent(rd: WireReader, end: number, ctx: DecodeContext): SpanEventRecord {
  const ev: SpanEventRecord = { timeUnixNano: 0n, name: '', attributes: newAttributes() };
  let n = 0;
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, FIXED64):
        ev.timeUnixNano = rd.fixed64();
        break;
      case t(2, LEN):
        ev.name = checkLength(rd.internedString(), ctx.limits.max_name_length, 'events.name');
        break;
      case t(3, LEN):
        n = keyValueInto(rd, rd.end(), ev.attributes, n, ctx);
        break;
      default:
        rd.skip(tag, SPAN_EVENT[tag >>> 3]);
    }
  }
  rd.close(end);
  checkTime(ev.timeUnixNano, 'events.time_unix_nano');
  return ev;
}

function spanLink(rd: WireReader, end: number, ctx: DecodeContext): SpanLink {
  const link: SpanLink = { traceId: '', spanId: '', traceState: '', attributes: newAttributes() };
  let n = 0;
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, LEN):
        link.traceId = binaryId(rd, 16, 'link trace_id');
        break;
      case t(2, LEN):
        link.spanId = binaryId(rd, 8, 'link span_id');
        break;
      case t(3, LEN):
        link.traceState = checkLength(rd.string(), ctx.limits.max_field_length, 'links.trace_state');
        break;
      case t(4, LEN):
        n = keyValueInto(rd, rd.end(), link.attributes, n, ctx);
        break;
      case t(6, FIXED32):
        rd.fixed32();
        break;
      default:
        rd.skip(tag, SPAN_LINK[tag >>> 3]);
    }
  }
  rd.close(end);
  return link;
}

function spanStatus(rd: WireReader, end: number, span: SpanRecord, ctx: DecodeContext): void {
  while (rd.pos < end) {
    const tag = rd.uint32();
    if (tag === t(2, LEN)) span.statusMessage = checkLength(rd.string(), ctx.limits.max_attribute_value_length, 'status.message');
    else if (tag === t(3, VARINT)) span.statusCode = rd.int32();
    else rd.skip(tag, STATUS[tag >>> 3]);
  }
  rd.close(end);
  if (span.statusCode < 0 || span.statusCode > 2) span.statusCode = 0;
}

function span(rd: WireReader, end: number, resource: Resource, scope: Scope, ctx: DecodeContext): SpanRecord {
  const s: SpanRecord = {
    eventId: '',
    sessionId: '',
    userId: '',
    anonymousId: '',
    traceId: '',
    spanId: '',
    parentSpanId: '',
    traceState: '',
    name: '',
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: newAttributes(),
    events: [],
    links: [],
    statusCode: 0,
    statusMessage: '',
    resource,
    scope,
  };
  let n = 0;
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, LEN):
        s.traceId = binaryId(rd, 16, 'trace_id');
        break;
      case t(2, LEN):
        s.spanId = binaryId(rd, 8, 'span_id');
        break;
      case t(3, LEN):
        s.traceState = checkLength(rd.string(), ctx.limits.max_field_length, 'trace_state');
        break;
      case t(4, LEN):
        s.parentSpanId = binaryId(rd, 8, 'parent_span_id');
        break;
      case t(5, LEN):
        s.name = rd.internedString();
        break;
      case t(6, VARINT):
        s.kind = rd.int32();
        break;
      case t(7, FIXED64):
        s.startTimeUnixNano = rd.fixed64();
        break;
      case t(8, FIXED64):
        s.endTimeUnixNano = rd.fixed64();
        break;
      case t(9, LEN):
        n = keyValueInto(rd, rd.end(), s.attributes, n, ctx);
        break;
      case t(11, LEN):
        s.events.push(spanEvent(rd, rd.end(), ctx));
        break;
      case t(13, LEN):
        s.links.push(spanLink(rd, rd.end(), ctx));
        break;
      case t(15, LEN):
        spanStatus(rd, rd.end(), s, ctx);
        break;
      case t(16, FIXED32):
        rd.fixed32();
        break;
      default:
        rd.skip(tag, SPAN[tag >>> 3]);
    }
  }
  rd.close(end);
  checkTime(s.startTimeUnixNano, 'start_time_unix_nano');
  checkTime(s.endTimeUnixNano, 'end_time_unix_nano');
  return finishSpan(s, ctx);
}

/** Decodes an ExportTraceServiceRequest. Refused spans are counted in `ctx.rejections`. */
export function decodeTracesProtobuf(buf: Uint8Array, ctx: DecodeContext): SpanRecord[] {
  const out: SpanRecord[] = [];
  request(buf, ctx, (rd, end, resource, scope) => {
    try {
      out.push(span(rd, end, resource, scope, ctx));
    } catch (err) {
      rejectRecord(ctx, err, 'span');
      rd.pos = end;
    }
  });
  return out;
}
