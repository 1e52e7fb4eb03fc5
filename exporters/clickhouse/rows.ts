/**
 * Event model → JSONEachRow lines for `otel_logs` / `otel_traces`. Lines are built by concatenation: the
 * resource and scope parts are serialized once per shared object (cached), not once per record.
 */
import type { LogEvent, Resource, Scope, SpanRecord } from '../../core/event.ts';

const q = JSON.stringify;

/** Nanoseconds → the `seconds.nanoseconds` text ClickHouse parses exactly into DateTime64(9). */
export function formatDateTime64(ns: bigint): string {
  const s = ns < 0n ? '0' : ns.toString();
  const padded = s.length < 19 ? s.padStart(19, '0') : s;
  return `${padded.slice(0, -9)}.${padded.slice(-9)}`;
}

export const SPAN_KIND_NAMES = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
export const STATUS_CODE_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

const resourceLogParts = new WeakMap<Resource, string>();
const scopeLogParts = new WeakMap<Scope, string>();
const resourceSpanParts = new WeakMap<Resource, string>();
const scopeSpanParts = new WeakMap<Scope, string>();

function resourceLogPart(r: Resource): string {
  let part = resourceLogParts.get(r);
  if (part === undefined) {
    part = `"ServiceName":${q(r.serviceName)},"ResourceSchemaUrl":${q(r.schemaUrl)},"ResourceAttributes":${q(r.attributes)}`;
    resourceLogParts.set(r, part);
  }
  return part;
}

function scopeLogPart(s: Scope): string {
  let part = scopeLogParts.get(s);
  if (part === undefined) {
    part = `"ScopeSchemaUrl":${q(s.schemaUrl)},"ScopeName":${q(s.name)},"ScopeVersion":${q(s.version)},"ScopeAttributes":${q(s.attributes)}`;
    scopeLogParts.set(s, part);
  }
  return part;
}

export function logRow(tenantId: string, e: LogEvent): string {
  return (
    `{"TenantId":${q(tenantId)},"EventId":${q(e.eventId)},"SessionId":${q(e.sessionId)},"UserId":${q(e.userId)},"AnonymousId":${q(e.anonymousId)},` +
    `"Timestamp":"${formatDateTime64(e.timeUnixNano)}","ObservedTimestamp":"${formatDateTime64(e.observedTimeUnixNano)}",` +
    `"TraceId":"${e.traceId}","SpanId":"${e.spanId}","TraceFlags":${e.traceFlags},` +
    `"SeverityText":${q(e.severityText)},"SeverityNumber":${e.severityNumber},"Body":${q(e.body)},"EventName":${q(e.eventName)},` +
    `${resourceLogPart(e.resource)},${scopeLogPart(e.scope)},"LogAttributes":${q(e.attributes)}}\n`
  );
}

function resourceSpanPart(r: Resource): string {
  let part = resourceSpanParts.get(r);
  if (part === undefined) {
    part = `"ServiceName":${q(r.serviceName)},"ResourceAttributes":${q(r.attributes)}`;
    resourceSpanParts.set(r, part);
  }
  return part;
}

function scopeSpanPart(s: Scope): string {
  let part = scopeSpanParts.get(s);
  if (part === undefined) {
    part = `"ScopeName":${q(s.name)},"ScopeVersion":${q(s.version)}`;
    scopeSpanParts.set(s, part);
  }
  return part;
}

export function spanRow(tenantId: string, s: SpanRecord): string {
  const evTimes: string[] = [];
  const evNames: string[] = [];
  const evAttrs: string[] = [];
  for (const ev of s.events) {
    evTimes.push(`"${formatDateTime64(ev.timeUnixNano)}"`);
    evNames.push(q(ev.name));
    evAttrs.push(q(ev.attributes));
  }
  const lkTrace: string[] = [];
  const lkSpan: string[] = [];
  const lkState: string[] = [];
  const lkAttrs: string[] = [];
  for (const l of s.links) {
    lkTrace.push(`"${l.traceId}"`);
    lkSpan.push(`"${l.spanId}"`);
    lkState.push(q(l.traceState));
    lkAttrs.push(q(l.attributes));
  }
  return (
    `{"TenantId":${q(tenantId)},"EventId":${q(s.eventId)},"SessionId":${q(s.sessionId)},"UserId":${q(s.userId)},"AnonymousId":${q(s.anonymousId)},` +
    `"Timestamp":"${formatDateTime64(s.startTimeUnixNano)}","TraceId":"${s.traceId}","SpanId":"${s.spanId}","ParentSpanId":"${s.parentSpanId}",` +
    `"TraceState":${q(s.traceState)},"SpanName":${q(s.name)},"SpanKind":"${SPAN_KIND_NAMES[s.kind] ?? SPAN_KIND_NAMES[0]}",` +
    `${resourceSpanPart(s.resource)},${scopeSpanPart(s.scope)},"SpanAttributes":${q(s.attributes)},` +
    `"Duration":"${s.endTimeUnixNano - s.startTimeUnixNano}","StatusCode":"${STATUS_CODE_NAMES[s.statusCode] ?? STATUS_CODE_NAMES[0]}","StatusMessage":${q(s.statusMessage)},` +
    `"Events.Timestamp":[${evTimes.join(',')}],"Events.Name":[${evNames.join(',')}],"Events.Attributes":[${evAttrs.join(',')}],` +
    `"Links.TraceId":[${lkTrace.join(',')}],"Links.SpanId":[${lkSpan.join(',')}],"Links.TraceState":[${lkState.join(',')}],"Links.Attributes":[${lkAttrs.join(',')}]}\n`
  );
}
