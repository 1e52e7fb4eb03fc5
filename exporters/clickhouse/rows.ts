/**
 * Event model → RowBinary rows for `otel_logs` and `otel_traces`. Each table has an explicit insert column list
 * (`*_COLUMNS`) and the matching RowBinary structure. Columns from the shared resource and scope objects are
 * adjacent in that list, so their bytes are encoded once per object and copied for every record.
 */
import type { LogEvent, Resource, Scope, SpanRecord } from '../../core/event.ts';
import { SPAN_KIND_NAMES, STATUS_CODE_NAMES } from '../../semconv/otlp.ts';
import { RowBinaryWriter } from './rowbinary.ts';

export interface TableFormat {
  /** `(col, col, …)` for the INSERT. */
  readonly columns: string;
  /** `col Type, …` for reading the RowBinary payload (the table's own types). */
  readonly structure: string;
}

function tableFormat(cols: ReadonlyArray<[string, string]>): TableFormat {
  return { columns: `(${cols.map(([n]) => n).join(', ')})`, structure: cols.map(([n, t]) => `\`${n}\` ${t}`).join(', ') };
}

const ATTRS = 'Map(LowCardinality(String), String)';
const LC = 'LowCardinality(String)';

export const LOG_FORMAT = tableFormat([
  ['TenantId', LC], ['EventId', 'String'], ['SessionId', 'String'], ['UserId', 'String'], ['AnonymousId', 'String'],
  ['Timestamp', 'DateTime64(9)'], ['ObservedTimestamp', 'DateTime64(9)'], ['TraceId', 'String'], ['SpanId', 'String'], ['TraceFlags', 'UInt8'],
  ['SeverityText', LC], ['SeverityNumber', 'UInt8'], ['Body', 'String'], ['EventName', 'String'], ['LogAttributes', ATTRS],
  ['ServiceName', LC], ['ResourceSchemaUrl', LC], ['ResourceAttributes', ATTRS],
  ['ScopeSchemaUrl', LC], ['ScopeName', 'String'], ['ScopeVersion', LC], ['ScopeAttributes', ATTRS],
]);

export const SPAN_FORMAT = tableFormat([
  ['TenantId', LC], ['EventId', 'String'], ['SessionId', 'String'], ['UserId', 'String'], ['AnonymousId', 'String'],
  ['Timestamp', 'DateTime64(9)'], ['TraceId', 'String'], ['SpanId', 'String'], ['ParentSpanId', 'String'], ['TraceState', 'String'],
  ['SpanName', LC], ['SpanKind', LC], ['SpanAttributes', ATTRS], ['Duration', 'UInt64'], ['StatusCode', LC], ['StatusMessage', 'String'],
  ['Events.Timestamp', 'Array(DateTime64(9))'], ['Events.Name', `Array(${LC})`], ['Events.Attributes', `Array(${ATTRS})`],
  ['Links.TraceId', 'Array(String)'], ['Links.SpanId', 'Array(String)'], ['Links.TraceState', 'Array(String)'], ['Links.Attributes', `Array(${ATTRS})`],
  ['ServiceName', LC], ['ResourceAttributes', ATTRS],
  ['ScopeName', 'String'], ['ScopeVersion', 'String'],
]);


/** Encoded bytes of a shared object's columns, computed once per object. */
function cached<K extends object>(cache: WeakMap<K, Buffer>, key: K, encode: (w: RowBinaryWriter) => void): Buffer {
  let bytes = cache.get(key);
  if (bytes === undefined) {
    const w = new RowBinaryWriter(256);
    encode(w);
    bytes = Buffer.from(w.view());
    cache.set(key, bytes);
  }
  return bytes;
}

const logResources = new WeakMap<Resource, Buffer>();
const logScopes = new WeakMap<Scope, Buffer>();
const spanResources = new WeakMap<Resource, Buffer>();
const spanScopes = new WeakMap<Scope, Buffer>();

/** Negative or absent times clamp to the epoch (DateTime64 cannot hold them). */
const ticks = (ns: bigint) => (ns > 0n ? ns : 0n);

export function writeLogRows(w: RowBinaryWriter, tenantId: string, events: readonly LogEvent[]): void {
  for (const e of events) {
    w.str(tenantId);
    w.str(e.eventId);
    w.str(e.sessionId);
    w.str(e.userId);
    w.str(e.anonymousId);
    w.i64(ticks(e.timeUnixNano));
    w.i64(ticks(e.observedTimeUnixNano));
    w.str(e.traceId);
    w.str(e.spanId);
    w.u8(e.traceFlags);
    w.str(e.severityText);
    w.u8(e.severityNumber);
    w.str(e.body);
    w.str(e.eventName);
    w.map(e.attributes);
    w.bytes(cached(logResources, e.resource, (r) => { r.str(e.resource.serviceName); r.str(e.resource.schemaUrl); r.map(e.resource.attributes); }));
    w.bytes(cached(logScopes, e.scope, (s) => { s.str(e.scope.schemaUrl); s.str(e.scope.name); s.str(e.scope.version); s.map(e.scope.attributes); }));
  }
}

export function writeSpanRows(w: RowBinaryWriter, tenantId: string, spans: readonly SpanRecord[]): void {
  for (const s of spans) {
    w.str(tenantId);
    w.str(s.eventId);
    w.str(s.sessionId);
    w.str(s.userId);
    w.str(s.anonymousId);
    w.i64(ticks(s.startTimeUnixNano));
    w.str(s.traceId);
    w.str(s.spanId);
    w.str(s.parentSpanId);
    w.str(s.traceState);
    w.str(s.name);
    w.str(SPAN_KIND_NAMES[s.kind] ?? SPAN_KIND_NAMES[0]);
    w.map(s.attributes);
    w.i64(s.endTimeUnixNano - s.startTimeUnixNano);
    w.str(STATUS_CODE_NAMES[s.statusCode] ?? STATUS_CODE_NAMES[0]);
    w.str(s.statusMessage);
    const events = s.events;
    w.varint(events.length);
    for (const ev of events) w.i64(ticks(ev.timeUnixNano));
    w.varint(events.length);
    for (const ev of events) w.str(ev.name);
    w.varint(events.length);
    for (const ev of events) w.map(ev.attributes);
    const links = s.links;
    w.varint(links.length);
    for (const l of links) w.str(l.traceId);
    w.varint(links.length);
    for (const l of links) w.str(l.spanId);
    w.varint(links.length);
    for (const l of links) w.str(l.traceState);
    w.varint(links.length);
    for (const l of links) w.map(l.attributes);
    w.bytes(cached(spanResources, s.resource, (r) => { r.str(s.resource.serviceName); r.map(s.resource.attributes); }));
    w.bytes(cached(spanScopes, s.scope, (sc) => { sc.str(s.scope.name); sc.str(s.scope.version); }));
  }
}
