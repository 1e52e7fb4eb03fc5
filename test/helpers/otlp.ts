/**
 * OTLP request bodies built from one small model, in both encodings: a resource with one scope block of log
 * records or spans, string-valued attributes (kept as key/value pairs, so any key — `__proto__` included — is
 * sent as given). Protobuf field numbers follow opentelemetry-proto (common/v1, resource/v1, logs/v1, trace/v1).
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

export type KeyValues = ReadonlyArray<readonly [string, string]>;

export interface ScopeModel {
  name?: string;
  version?: string;
  attributes?: KeyValues;
}

export interface LogModel {
  timeUnixNano?: bigint;
  severityText?: string;
  body?: string;
  eventName?: string;
  attributes?: KeyValues;
}

export interface SpanModel {
  /** 32 hex characters. */
  traceId: string;
  /** 16 hex characters. */
  spanId: string;
  name?: string;
  traceState?: string;
  startTimeUnixNano?: bigint;
  /** Default: 1 ms after the start. */
  endTimeUnixNano?: bigint;
  statusMessage?: string;
  attributes?: KeyValues;
  events?: ReadonlyArray<{ name?: string; attributes?: KeyValues }>;
  links?: ReadonlyArray<{ traceId: string; spanId: string; traceState?: string; attributes?: KeyValues }>;
}

export interface LogsModel {
  resource?: KeyValues;
  scope?: ScopeModel;
  records: readonly LogModel[];
}

export interface TracesModel {
  resource?: KeyValues;
  scope?: ScopeModel;
  spans: readonly SpanModel[];
}

const LEN = WireType.LengthDelimited;

function keyValues(w: BinaryWriter, field: number, kvs: KeyValues | undefined): void {
  for (const [key, value] of kvs ?? []) {
    w.tag(field, LEN).fork();
    w.tag(1, LEN).string(key);
    w.tag(2, LEN).fork().tag(1, LEN).string(value).join();
    w.join();
  }
}

function scope(w: BinaryWriter, s: ScopeModel | undefined): void {
  if (!s) return;
  w.tag(1, LEN).fork();
  if (s.name !== undefined) w.tag(1, LEN).string(s.name);
  if (s.version !== undefined) w.tag(2, LEN).string(s.version);
  keyValues(w, 3, s.attributes);
  w.join();
}

/** resource block { resource = 1 { attributes = 1 }; scope block = 2 { scope = 1; records = 2 } } */
function request(resource: KeyValues | undefined, s: ScopeModel | undefined, records: () => void, w: BinaryWriter): Buffer {
  w.tag(1, LEN).fork();
  w.tag(1, LEN).fork();
  keyValues(w, 1, resource);
  w.join();
  w.tag(2, LEN).fork();
  scope(w, s);
  records();
  w.join();
  w.join();
  return Buffer.from(w.finish());
}

export function logsProtobuf(m: LogsModel): Buffer {
  const w = new BinaryWriter();
  return request(
    m.resource,
    m.scope,
    () => {
      for (const r of m.records) {
        w.tag(2, LEN).fork();
        if (r.timeUnixNano !== undefined) w.tag(1, WireType.Bit64).fixed64(r.timeUnixNano);
        if (r.severityText !== undefined) w.tag(3, LEN).string(r.severityText);
        if (r.body !== undefined) w.tag(5, LEN).fork().tag(1, LEN).string(r.body).join();
        keyValues(w, 6, r.attributes);
        if (r.eventName !== undefined) w.tag(12, LEN).string(r.eventName);
        w.join();
      }
    },
    w,
  );
}

export function tracesProtobuf(m: TracesModel): Buffer {
  const w = new BinaryWriter();
  const hex = (s: string) => Buffer.from(s, 'hex');
  return request(
    m.resource,
    m.scope,
    () => {
      for (const s of m.spans) {
        w.tag(2, LEN).fork();
        w.tag(1, LEN).bytes(hex(s.traceId));
        w.tag(2, LEN).bytes(hex(s.spanId));
        if (s.traceState !== undefined) w.tag(3, LEN).string(s.traceState);
        if (s.name !== undefined) w.tag(5, LEN).string(s.name);
        if (s.startTimeUnixNano !== undefined) {
          w.tag(7, WireType.Bit64).fixed64(s.startTimeUnixNano);
          w.tag(8, WireType.Bit64).fixed64(s.endTimeUnixNano ?? s.startTimeUnixNano + 1_000_000n);
        }
        keyValues(w, 9, s.attributes);
        for (const e of s.events ?? []) {
          w.tag(11, LEN).fork();
          if (e.name !== undefined) w.tag(2, LEN).string(e.name);
          keyValues(w, 3, e.attributes);
          w.join();
        }
        for (const l of s.links ?? []) {
          w.tag(13, LEN).fork();
          w.tag(1, LEN).bytes(hex(l.traceId));
          w.tag(2, LEN).bytes(hex(l.spanId));
          if (l.traceState !== undefined) w.tag(3, LEN).string(l.traceState);
          keyValues(w, 4, l.attributes);
          w.join();
        }
        if (s.statusMessage !== undefined) w.tag(15, LEN).fork().tag(2, LEN).string(s.statusMessage).join();
        w.join();
      }
    },
    w,
  );
}

const jsonAttributes = (kvs: KeyValues | undefined) => (kvs ?? []).map(([key, value]) => ({ key, value: { stringValue: value } }));
const jsonScope = (s: ScopeModel | undefined) => (s ? { name: s.name, version: s.version, attributes: jsonAttributes(s.attributes) } : undefined);

export function logsJson(m: LogsModel): string {
  const logRecords = m.records.map((r) => ({
    timeUnixNano: r.timeUnixNano === undefined ? undefined : String(r.timeUnixNano),
    severityText: r.severityText,
    body: r.body === undefined ? undefined : { stringValue: r.body },
    eventName: r.eventName,
    attributes: jsonAttributes(r.attributes),
  }));
  return JSON.stringify({ resourceLogs: [{ resource: { attributes: jsonAttributes(m.resource) }, scopeLogs: [{ scope: jsonScope(m.scope), logRecords }] }] });
}

export function tracesJson(m: TracesModel): string {
  const spans = m.spans.map((s) => ({
    traceId: s.traceId,
    spanId: s.spanId,
    traceState: s.traceState,
    name: s.name,
    startTimeUnixNano: s.startTimeUnixNano === undefined ? undefined : String(s.startTimeUnixNano),
    endTimeUnixNano: s.startTimeUnixNano === undefined ? undefined : String(s.endTimeUnixNano ?? s.startTimeUnixNano + 1_000_000n),
    attributes: jsonAttributes(s.attributes),
    events: (s.events ?? []).map((e) => ({ name: e.name, attributes: jsonAttributes(e.attributes) })),
    links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId, traceState: l.traceState, attributes: jsonAttributes(l.attributes) })),
    status: s.statusMessage === undefined ? undefined : { message: s.statusMessage },
  }));
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: jsonAttributes(m.resource) }, scopeSpans: [{ scope: jsonScope(m.scope), spans }] }] });
}

/** The partial success of an OTLP reply: JSON, or Export*ServiceResponse { partial_success = 1 { rejected = 1; error_message = 2 } }. */
export function partialSuccess(reply: Buffer, encoding: 'json' | 'protobuf'): { rejected: number; message: string } {
  if (encoding === 'json') {
    const p = JSON.parse(reply.toString()).partialSuccess;
    return { rejected: Number(p?.rejectedLogRecords ?? p?.rejectedSpans ?? 0), message: p?.errorMessage ?? '' };
  }
  const out = { rejected: 0, message: '' };
  const r = new BinaryReader(reply);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no !== 1) {
      r.skip(wt);
      continue;
    }
    const inner = new BinaryReader(r.bytes());
    while (inner.pos < inner.len) {
      const [ino, iwt] = inner.tag();
      if (ino === 1) out.rejected = Number(inner.int64());
      else if (ino === 2) out.message = inner.string();
      else inner.skip(iwt);
    }
  }
  return out;
}
