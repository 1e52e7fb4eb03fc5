/**
 * OTLP/protobuf decoding straight into the event model, with `@bufbuild/protobuf`'s wire reader. No `.proto`
 * files and no intermediate message objects: each field is read once and lands in its final place. Field
 * numbers follow opentelemetry-proto (common/v1, resource/v1, logs/v1, trace/v1). Unknown fields are skipped;
 * a known field with the wrong wire type, a truncated message or a bad length makes the request undecodable.
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { Attributes, LogEvent, Resource, Scope, SpanEventRecord, SpanLink, SpanRecord } from '../../core/event.ts';
import { identityFromAttributes } from '../../semconv/attributes.ts';
import {
  binaryId,
  checkBody,
  checkDepth,
  DecodeError,
  type DecodeContext,
  doubleAsJson,
  effectiveTime,
  formatDouble,
  makeResource,
  putAttribute,
  RecordRejected,
  rejectRecord,
  rejectRecords,
  finishSpan,
} from './common.ts';

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

class Reader {
  readonly r: BinaryReader;
  constructor(buf: Uint8Array) {
    this.r = new BinaryReader(buf);
  }

  /** End offset of the length-delimited message starting here. */
  messageEnd(): number {
    const len = this.r.uint32();
    const end = this.r.pos + len;
    if (end > this.r.len) throw new DecodeError('truncated message: a length-delimited field runs past the end of the body');
    return end;
  }

  expect(wireType: WireType, actual: WireType, field: string): void {
    if (wireType !== actual) {
      throw new DecodeError(`field ${field} has wire type ${WIRE_NAMES[actual] ?? actual}, expected ${WIRE_NAMES[wireType]}`);
    }
  }

  skip(wireType: WireType, fieldNo: number): void {
    if (wireType === WireType.EndGroup) throw new DecodeError('unexpected end-group tag');
    this.r.skip(wireType, fieldNo);
  }

  /** Confirms a message ended exactly at its declared end. */
  close(end: number): void {
    if (this.r.pos !== end) throw new DecodeError('truncated or malformed message: field data does not match the declared length');
  }
}

/** Wire-level failures from the reader (premature EOF, bad tags, invalid varints) become 400s. */
function wrapWireErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Error && !(err instanceof DecodeError) && (err instanceof RangeError || /premature EOF|illegal tag|invalid|wire type|varint|recursion/i.test(err.message))) {
      throw new DecodeError(`malformed protobuf: ${err.message}`);
    }
    throw err;
  }
}

// ---- common/v1: AnyValue, KeyValue, InstrumentationScope; resource/v1: Resource --------------------------------

/** AnyValue as the string stored in an attribute map (nested arrays and maps as JSON, like the Collector). */
function readAnyValueText(rd: Reader, end: number, depth: number, ctx: DecodeContext): string {
  let text = '';
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    switch (no) {
      case 1: rd.expect(WireType.LengthDelimited, wt, 'AnyValue.string_value'); text = rd.r.string(); break;
      case 2: rd.expect(WireType.Varint, wt, 'AnyValue.bool_value'); text = rd.r.bool() ? 'true' : 'false'; break;
      case 3: rd.expect(WireType.Varint, wt, 'AnyValue.int_value'); text = String(rd.r.int64()); break;
      case 4: rd.expect(WireType.Bit64, wt, 'AnyValue.double_value'); text = formatDouble(rd.r.double()); break;
      case 5: rd.expect(WireType.LengthDelimited, wt, 'AnyValue.array_value'); text = readArrayJson(rd, rd.messageEnd(), depth + 1, ctx); break;
      case 6: rd.expect(WireType.LengthDelimited, wt, 'AnyValue.kvlist_value'); text = readKvListJson(rd, rd.messageEnd(), depth + 1, ctx); break;
      case 7: rd.expect(WireType.LengthDelimited, wt, 'AnyValue.bytes_value'); text = Buffer.from(rd.r.bytes()).toString('base64'); break;
      default: rd.skip(wt, no);
    }
  }
  rd.close(end);
  return text;
}

/** AnyValue as a JSON fragment, for values nested in arrays and maps. */
function readAnyValueJson(rd: Reader, end: number, depth: number, ctx: DecodeContext): string {
  checkDepth(depth, ctx.limits);
  let json = 'null';
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    switch (no) {
      case 1: rd.expect(WireType.LengthDelimited, wt, 'AnyValue.string_value'); json = JSON.stringify(rd.r.string()); break;
      case 2: rd.expect(WireType.Varint, wt, 'AnyValue.bool_value'); json = rd.r.bool() ? 'true' : 'false'; break;
      case 3: rd.expect(WireType.Varint, wt, 'AnyValue.int_value'); json = String(rd.r.int64()); break;
      case 4: rd.expect(WireType.Bit64, wt, 'AnyValue.double_value'); json = doubleAsJson(rd.r.double()); break;
      case 5: rd.expect(WireType.LengthDelimited, wt, 'AnyValue.array_value'); json = readArrayJson(rd, rd.messageEnd(), depth + 1, ctx); break;
      case 6: rd.expect(WireType.LengthDelimited, wt, 'AnyValue.kvlist_value'); json = readKvListJson(rd, rd.messageEnd(), depth + 1, ctx); break;
      case 7: rd.expect(WireType.LengthDelimited, wt, 'AnyValue.bytes_value'); json = JSON.stringify(Buffer.from(rd.r.bytes()).toString('base64')); break;
      default: rd.skip(wt, no);
    }
  }
  rd.close(end);
  return json;
}

function readArrayJson(rd: Reader, end: number, depth: number, ctx: DecodeContext): string {
  checkDepth(depth, ctx.limits);
  const parts: string[] = [];
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    if (no === 1) {
      rd.expect(WireType.LengthDelimited, wt, 'ArrayValue.values');
      parts.push(readAnyValueJson(rd, rd.messageEnd(), depth, ctx));
    } else rd.skip(wt, no);
  }
  rd.close(end);
  return `[${parts.join(',')}]`;
}

function readKvListJson(rd: Reader, end: number, depth: number, ctx: DecodeContext): string {
  checkDepth(depth, ctx.limits);
  const parts: string[] = [];
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    if (no === 1) {
      rd.expect(WireType.LengthDelimited, wt, 'KeyValueList.values');
      const kvEnd = rd.messageEnd();
      let key = '';
      let value = 'null';
      while (rd.r.pos < kvEnd) {
        const [kno, kwt] = rd.r.tag();
        if (kno === 1) { rd.expect(WireType.LengthDelimited, kwt, 'KeyValue.key'); key = rd.r.string(); }
        else if (kno === 2) { rd.expect(WireType.LengthDelimited, kwt, 'KeyValue.value'); value = readAnyValueJson(rd, rd.messageEnd(), depth, ctx); }
        else rd.skip(kwt, kno);
      }
      rd.close(kvEnd);
      parts.push(`${JSON.stringify(key)}:${value}`);
    } else rd.skip(wt, no);
  }
  rd.close(end);
  return `{${parts.join(',')}}`;
}

/** One KeyValue into `attrs`; returns the new attribute count. */
function readKeyValueInto(rd: Reader, end: number, attrs: Attributes, count: number, ctx: DecodeContext): number {
  let key = '';
  let value = '';
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    if (no === 1) { rd.expect(WireType.LengthDelimited, wt, 'KeyValue.key'); key = rd.r.string(); }
    else if (no === 2) { rd.expect(WireType.LengthDelimited, wt, 'KeyValue.value'); value = readAnyValueText(rd, rd.messageEnd(), 1, ctx); }
    else rd.skip(wt, no);
  }
  rd.close(end);
  const isNew = !(key in attrs);
  putAttribute(attrs, isNew ? count : count - 1, key, value, ctx.limits);
  return isNew ? count + 1 : count;
}

function readResource(rd: Reader, end: number, ctx: DecodeContext): Attributes {
  const attrs: Attributes = {};
  let n = 0;
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    if (no === 1) { rd.expect(WireType.LengthDelimited, wt, 'Resource.attributes'); n = readKeyValueInto(rd, rd.messageEnd(), attrs, n, ctx); }
    else rd.skip(wt, no);
  }
  rd.close(end);
  return attrs;
}

function readScope(rd: Reader, end: number, scope: Scope, ctx: DecodeContext): void {
  let n = 0;
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    switch (no) {
      case 1: rd.expect(WireType.LengthDelimited, wt, 'InstrumentationScope.name'); scope.name = rd.r.string(); break;
      case 2: rd.expect(WireType.LengthDelimited, wt, 'InstrumentationScope.version'); scope.version = rd.r.string(); break;
      case 3: rd.expect(WireType.LengthDelimited, wt, 'InstrumentationScope.attributes'); n = readKeyValueInto(rd, rd.messageEnd(), scope.attributes, n, ctx); break;
      default: rd.skip(wt, no);
    }
  }
  rd.close(end);
}

/**
 * Decodes the resource-level wrapper shared by logs and traces (ResourceLogs / ResourceSpans: resource = 1,
 * scope blocks = 2, schema_url = 3) and hands each scope block to `readScopeBlock`. The resource may follow its
 * scope blocks on the wire, so scope blocks are remembered as offsets and read once the resource is known.
 */
function readResourceBlock(
  rd: Reader,
  end: number,
  ctx: DecodeContext,
  readScopeBlock: (scopeEnd: number, resource: Resource) => void,
): void {
  let resourceAttrs: Attributes = {};
  let schemaUrl = '';
  let refusal: unknown;
  const scopeBlocks: number[] = [];
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    if (no === 1) {
      rd.expect(WireType.LengthDelimited, wt, 'resource');
      const resourceEnd = rd.messageEnd();
      try {
        resourceAttrs = readResource(rd, resourceEnd, ctx);
      } catch (err) {
        if (!(err instanceof RecordRejected)) throw err;
        refusal = err;
        rd.r.pos = resourceEnd;
      }
    } else if (no === 2) {
      rd.expect(WireType.LengthDelimited, wt, 'scope block');
      scopeBlocks.push(rd.r.pos);
      rd.r.pos = rd.messageEnd();
    } else if (no === 3) {
      rd.expect(WireType.LengthDelimited, wt, 'schema_url');
      schemaUrl = rd.r.string();
    } else rd.skip(wt, no);
  }
  rd.close(end);
  if (refusal !== undefined) {
    // A resource-level breach cannot be pinned on single records: every record under it is refused.
    let count = 0;
    for (const start of scopeBlocks) {
      rd.r.pos = start;
      count += countRecords(rd, rd.messageEnd());
    }
    rejectRecords(ctx, refusal, 'resource', count);
  } else {
    const resource = makeResource(resourceAttrs, schemaUrl, ctx);
    for (const start of scopeBlocks) {
      rd.r.pos = start;
      readScopeBlock(rd.messageEnd(), resource);
    }
  }
  rd.r.pos = end;
}

/** Number of records (field 2) in a scope block, without decoding them. */
function countRecords(rd: Reader, end: number): number {
  let count = 0;
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    if (no === 2) count++;
    rd.skip(wt, no);
  }
  rd.close(end);
  return count;
}

/** ScopeLogs / ScopeSpans: scope = 1, records = 2, schema_url = 3. */
function readScopeBlock(rd: Reader, end: number, ctx: DecodeContext, readRecord: (recordEnd: number, scope: Scope) => void): void {
  const start = rd.r.pos;
  const scope: Scope = { name: '', version: '', attributes: {}, schemaUrl: '' };
  const records: number[] = [];
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    if (no === 1) {
      rd.expect(WireType.LengthDelimited, wt, 'scope');
      const scopeEnd = rd.messageEnd();
      try {
        readScope(rd, scopeEnd, scope, ctx);
      } catch (err) {
        if (!(err instanceof RecordRejected)) throw err;
        rd.r.pos = start;
        rejectRecords(ctx, err, 'scope', countRecords(rd, end));
        return;
      }
    } else if (no === 2) {
      rd.expect(WireType.LengthDelimited, wt, 'records');
      records.push(rd.r.pos);
      rd.r.pos = rd.messageEnd();
    } else if (no === 3) {
      rd.expect(WireType.LengthDelimited, wt, 'schema_url');
      scope.schemaUrl = rd.r.string();
    } else rd.skip(wt, no);
  }
  rd.close(end);
  for (const start of records) {
    rd.r.pos = start;
    readRecord(rd.messageEnd(), scope);
  }
  rd.r.pos = end;
}

/** ExportLogsServiceRequest / ExportTraceServiceRequest: repeated resource blocks in field 1. */
function readRequest(buf: Uint8Array, onResourceBlock: (rd: Reader, end: number) => void): void {
  wrapWireErrors(() => {
    const rd = new Reader(buf);
    while (rd.r.pos < rd.r.len) {
      const [no, wt] = rd.r.tag();
      if (no === 1) {
        rd.expect(WireType.LengthDelimited, wt, 'resource block');
        onResourceBlock(rd, rd.messageEnd());
      } else rd.skip(wt, no);
    }
    rd.close(rd.r.len);
  });
}

// ---- logs/v1 -------------------------------------------------------------------------------------------------------

function readLogRecord(rd: Reader, end: number, resource: Resource, scope: Scope, ctx: DecodeContext): LogEvent {
  let time = 0n;
  let observed = 0n;
  let severityNumber = 0;
  let severityText = '';
  let body = '';
  const attributes: Attributes = {};
  let n = 0;
  let flags = 0;
  let traceId = '';
  let spanId = '';
  let eventName = '';
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    switch (no) {
      case 1: rd.expect(WireType.Bit64, wt, 'LogRecord.time_unix_nano'); time = BigInt(rd.r.fixed64()); break;
      case 11: rd.expect(WireType.Bit64, wt, 'LogRecord.observed_time_unix_nano'); observed = BigInt(rd.r.fixed64()); break;
      case 2: rd.expect(WireType.Varint, wt, 'LogRecord.severity_number'); severityNumber = rd.r.int32(); break;
      case 3: rd.expect(WireType.LengthDelimited, wt, 'LogRecord.severity_text'); severityText = rd.r.string(); break;
      case 5: rd.expect(WireType.LengthDelimited, wt, 'LogRecord.body'); body = checkBody(readAnyValueText(rd, rd.messageEnd(), 1, ctx), ctx.limits); break;
      case 6: rd.expect(WireType.LengthDelimited, wt, 'LogRecord.attributes'); n = readKeyValueInto(rd, rd.messageEnd(), attributes, n, ctx); break;
      case 8: rd.expect(WireType.Bit32, wt, 'LogRecord.flags'); flags = rd.r.fixed32(); break;
      case 9: rd.expect(WireType.LengthDelimited, wt, 'LogRecord.trace_id'); traceId = binaryId(rd.r.bytes(), 16, 'trace_id'); break;
      case 10: rd.expect(WireType.LengthDelimited, wt, 'LogRecord.span_id'); spanId = binaryId(rd.r.bytes(), 8, 'span_id'); break;
      case 12: rd.expect(WireType.LengthDelimited, wt, 'LogRecord.event_name'); eventName = rd.r.string(); break;
      default: rd.skip(wt, no);
    }
  }
  rd.close(end);
  if (severityNumber < 0 || severityNumber > 24) severityNumber = 0;
  return {
    ...identityFromAttributes(attributes, resource.attributes),
    timeUnixNano: effectiveTime(time, observed, ctx),
    observedTimeUnixNano: observed,
    traceId,
    spanId,
    traceFlags: flags & 0xff,
    severityText,
    severityNumber,
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
  readRequest(buf, (rd, end) =>
    readResourceBlock(rd, end, ctx, (scopeEnd, resource) =>
      readScopeBlock(rd, scopeEnd, ctx, (recordEnd, scope) => {
        try {
          out.push(readLogRecord(rd, recordEnd, resource, scope, ctx));
        } catch (err) {
          rejectRecord(ctx, err, 'log record');
          rd.r.pos = recordEnd;
        }
      }),
    ),
  );
  return out;
}

// ---- trace/v1 ------------------------------------------------------------------------------------------------------

function readSpanEvent(rd: Reader, end: number, ctx: DecodeContext): SpanEventRecord {
  const ev: SpanEventRecord = { timeUnixNano: 0n, name: '', attributes: {} };
  let n = 0;
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    switch (no) {
      case 1: rd.expect(WireType.Bit64, wt, 'Span.Event.time_unix_nano'); ev.timeUnixNano = BigInt(rd.r.fixed64()); break;
      case 2: rd.expect(WireType.LengthDelimited, wt, 'Span.Event.name'); ev.name = rd.r.string(); break;
      case 3: rd.expect(WireType.LengthDelimited, wt, 'Span.Event.attributes'); n = readKeyValueInto(rd, rd.messageEnd(), ev.attributes, n, ctx); break;
      default: rd.skip(wt, no);
    }
  }
  rd.close(end);
  return ev;
}

function readSpanLink(rd: Reader, end: number, ctx: DecodeContext): SpanLink {
  const link: SpanLink = { traceId: '', spanId: '', traceState: '', attributes: {} };
  let n = 0;
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    switch (no) {
      case 1: rd.expect(WireType.LengthDelimited, wt, 'Span.Link.trace_id'); link.traceId = binaryId(rd.r.bytes(), 16, 'link trace_id'); break;
      case 2: rd.expect(WireType.LengthDelimited, wt, 'Span.Link.span_id'); link.spanId = binaryId(rd.r.bytes(), 8, 'link span_id'); break;
      case 3: rd.expect(WireType.LengthDelimited, wt, 'Span.Link.trace_state'); link.traceState = rd.r.string(); break;
      case 4: rd.expect(WireType.LengthDelimited, wt, 'Span.Link.attributes'); n = readKeyValueInto(rd, rd.messageEnd(), link.attributes, n, ctx); break;
      default: rd.skip(wt, no);
    }
  }
  rd.close(end);
  return link;
}

function readStatus(rd: Reader, end: number, span: SpanRecord): void {
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    if (no === 2) { rd.expect(WireType.LengthDelimited, wt, 'Status.message'); span.statusMessage = rd.r.string(); }
    else if (no === 3) { rd.expect(WireType.Varint, wt, 'Status.code'); span.statusCode = rd.r.int32(); }
    else rd.skip(wt, no);
  }
  rd.close(end);
  if (span.statusCode < 0 || span.statusCode > 2) span.statusCode = 0;
}

function readSpan(rd: Reader, end: number, resource: Resource, scope: Scope, ctx: DecodeContext): SpanRecord {
  const span: SpanRecord = {
    eventId: '', sessionId: '', userId: '', anonymousId: '',
    traceId: '', spanId: '', parentSpanId: '', traceState: '', name: '', kind: 0,
    startTimeUnixNano: 0n, endTimeUnixNano: 0n, attributes: {}, events: [], links: [],
    statusCode: 0, statusMessage: '', resource, scope,
  };
  let n = 0;
  while (rd.r.pos < end) {
    const [no, wt] = rd.r.tag();
    switch (no) {
      case 1: rd.expect(WireType.LengthDelimited, wt, 'Span.trace_id'); span.traceId = binaryId(rd.r.bytes(), 16, 'trace_id'); break;
      case 2: rd.expect(WireType.LengthDelimited, wt, 'Span.span_id'); span.spanId = binaryId(rd.r.bytes(), 8, 'span_id'); break;
      case 3: rd.expect(WireType.LengthDelimited, wt, 'Span.trace_state'); span.traceState = rd.r.string(); break;
      case 4: rd.expect(WireType.LengthDelimited, wt, 'Span.parent_span_id'); span.parentSpanId = binaryId(rd.r.bytes(), 8, 'parent_span_id'); break;
      case 5: rd.expect(WireType.LengthDelimited, wt, 'Span.name'); span.name = rd.r.string(); break;
      case 6: rd.expect(WireType.Varint, wt, 'Span.kind'); span.kind = rd.r.int32(); break;
      case 7: rd.expect(WireType.Bit64, wt, 'Span.start_time_unix_nano'); span.startTimeUnixNano = BigInt(rd.r.fixed64()); break;
      case 8: rd.expect(WireType.Bit64, wt, 'Span.end_time_unix_nano'); span.endTimeUnixNano = BigInt(rd.r.fixed64()); break;
      case 9: rd.expect(WireType.LengthDelimited, wt, 'Span.attributes'); n = readKeyValueInto(rd, rd.messageEnd(), span.attributes, n, ctx); break;
      case 11: rd.expect(WireType.LengthDelimited, wt, 'Span.events'); span.events.push(readSpanEvent(rd, rd.messageEnd(), ctx)); break;
      case 13: rd.expect(WireType.LengthDelimited, wt, 'Span.links'); span.links.push(readSpanLink(rd, rd.messageEnd(), ctx)); break;
      case 15: rd.expect(WireType.LengthDelimited, wt, 'Span.status'); readStatus(rd, rd.messageEnd(), span); break;
      default: rd.skip(wt, no);
    }
  }
  rd.close(end);
  return finishSpan(span, ctx);
}

/** Decodes an ExportTraceServiceRequest. Refused spans are counted in `ctx.rejections`. */
export function decodeTracesProtobuf(buf: Uint8Array, ctx: DecodeContext): SpanRecord[] {
  const out: SpanRecord[] = [];
  readRequest(buf, (rd, end) =>
    readResourceBlock(rd, end, ctx, (scopeEnd, resource) =>
      readScopeBlock(rd, scopeEnd, ctx, (recordEnd, scope) => {
        try {
          out.push(readSpan(rd, recordEnd, resource, scope, ctx));
        } catch (err) {
          rejectRecord(ctx, err, 'span');
          rd.r.pos = recordEnd;
        }
      }),
    ),
  );
  return out;
}
