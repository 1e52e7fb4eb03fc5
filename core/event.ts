/**
 * The event model every receiver decodes into and every processor and exporter works on. It mirrors the
 * OpenTelemetry data model closely (a product event is an OTel log record named by `eventName`), so that the
 * ClickHouse rows follow from it field by field. Resource and scope objects are shared by all records of one
 * OTLP resource/scope block: they are decoded once, not per record.
 */
import type { Signal } from './config.ts';

/** Attribute values are stored as strings (ClickHouse `Map(LowCardinality(String), String)`), as the Collector does. */
export type Attributes = Record<string, string>;

/**
 * Instances have a prototype without members, so every key a sender chooses (`__proto__`, `constructor`,
 * `toString`, …) is an own data property: assigning it stores it and reading an absent one gives undefined.
 * Unlike `Object.create(null)`, whose objects start in V8's slow dictionary mode, these keep fast properties.
 */
function AttributesObject(): void {}
AttributesObject.prototype = Object.create(null);
const AttributesConstructor = AttributesObject as unknown as new () => Attributes;

/** An empty attributes object that is safe for any key: receivers build every attribute map with it. */
export function newAttributes(): Attributes {
  return new AttributesConstructor();
}

export interface Resource {
  attributes: Attributes;
  schemaUrl: string;
  /** `service.name`, or '' when absent. */
  serviceName: string;
}

export interface Scope {
  name: string;
  version: string;
  attributes: Attributes;
  schemaUrl: string;
}

/** Identity fields Signalhouse stores in their own columns. */
export interface Identity {
  /** Client-supplied unique id of the event (dedupe key); '' when the sender gave none. */
  eventId: string;
  sessionId: string;
  userId: string;
  anonymousId: string;
}

export interface LogEvent extends Identity {
  /** Nanoseconds since the Unix epoch (exact; exceeds 2^53). */
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  traceId: string;
  spanId: string;
  traceFlags: number;
  severityText: string;
  severityNumber: number;
  body: string;
  eventName: string;
  attributes: Attributes;
  resource: Resource;
  scope: Scope;
}

export interface SpanEventRecord {
  timeUnixNano: bigint;
  name: string;
  attributes: Attributes;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attributes;
}

export interface SpanRecord extends Identity {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  /** OTLP SpanKind enum value (0–5). */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: SpanEventRecord[];
  links: SpanLink[];
  /** OTLP StatusCode enum value (0 unset, 1 ok, 2 error). */
  statusCode: number;
  statusMessage: string;
  resource: Resource;
  scope: Scope;
}

/**
 * What a pipeline does with each record it is given, and what every reply and ingest counter says:
 * - accepted: stored, by this request or — a duplicate, e.g. a retry — by an earlier one (idempotent);
 * - dropped: accepted and intentionally not stored by a processor's policy (consent); not an error;
 * - rejected: refused, not stored, because the data is bad (decoding, limits, validation); named with its reason.
 * A processor that removes a record from the batch says which of these it is (`markDuplicate`, `dropEvent`,
 * `refuseEvent`); the chain helper holds every processor to that (processors/chain.ts).
 */
export type EventStatus = 'accepted' | 'dropped' | 'rejected';

/** Records refused (rejected), counted by reason for the replies. */
export interface Rejection {
  /** Stable, low-cardinality class of the refusal (a metric label), e.g. `invalid_id`, `limit`, `invalid_field`. */
  code: string;
  /** What was wrong, for the client: names the field or rule. */
  reason: string;
  count: number;
}

/**
 * Records accepted but not passed on to storage, counted by reason: duplicates (code `duplicate`: an earlier copy
 * is stored, so they count as accepted) and drops by policy (any other code, e.g. `consent`: they count as dropped).
 */
export interface Drop {
  /** `duplicate`, or the drop's class (a metric label and the per-event result's `reason`), e.g. `consent`. */
  code: string;
  /** For the client, e.g. in OTLP's `error_message`: "dropped: no consent (consent.analytics)". */
  reason: string;
  count: number;
}

export const DUPLICATE = 'duplicate';

/** What became of one event the pipeline did not pass on to storage (kept only for receivers that ask). */
export type EventOutcome =
  | { readonly status: 'accepted'; readonly duplicate: true }
  | { readonly status: 'dropped'; readonly code: string; readonly reason: string }
  | { readonly status: 'rejected'; readonly code: string; readonly reason: string };

export type DroppedOutcome = Extract<EventOutcome, { status: 'dropped' }>;

const DUPLICATE_OUTCOME: EventOutcome = { status: 'accepted', duplicate: true };
const DUPLICATE_REASON = 'duplicate of an event already accepted';

interface BatchBase {
  tenantId: string;
  /** Records refused so far (by the receiver's decoder or a processor). Shared by every batch derived from this one. */
  rejections: Rejection[];
  /**
   * Records accepted and not passed on so far (duplicates, drops). Receivers start it empty; processors note
   * drops on the batch they were given, before deriving their output from it, so it is shared like `rejections`.
   */
  drops?: Drop[];
  /** Set by receivers that answer per event: what became of each event a processor did not pass on. */
  outcomes?: Map<object, EventOutcome>;
  /**
   * Commits of other requests this one relies on: dedupe dropped events here as copies of events still in
   * flight elsewhere. The reply waits for them, and fails (retryably) if they fail, so nothing is lost.
   */
  dependsOn?: Promise<void>[];
  /** An identity that a batch shares with every batch a processor derives from it (spreads keep it). */
  lineage?: object;
}

export interface LogBatch extends BatchBase {
  signal: 'logs';
  events: LogEvent[];
}

export interface SpanBatch extends BatchBase {
  signal: 'traces';
  events: SpanRecord[];
}

export type Batch = LogBatch | SpanBatch;

export type BatchOf<S extends Signal> = Extract<Batch, { signal: S }>;

export function rejectedCount(batch: Pick<Batch, 'rejections'>): number {
  let n = 0;
  for (const r of batch.rejections) n += r.count;
  return n;
}

/** Records not passed on because an earlier copy was accepted. */
export function duplicateCount(batch: Pick<Batch, 'drops'>): number {
  let n = 0;
  for (const d of batch.drops ?? []) if (d.code === DUPLICATE) n += d.count;
  return n;
}

/** A processor refuses one event: counted for the reply, and remembered per event when the receiver asks. */
export function refuseEvent(batch: Batch, event: object, code: string, reason: string): void {
  addRejection(batch.rejections, code, reason);
  batch.outcomes?.set(event, { status: 'rejected', code, reason });
}

/** A processor drops one event on purpose; `outcome` is made once per processor, so this allocates nothing. */
export function dropEvent(batch: Batch, event: object, outcome: DroppedOutcome): void {
  addDrop((batch.drops ??= []), outcome.code, outcome.reason);
  batch.outcomes?.set(event, outcome);
}

/** A processor passes over one event because an earlier copy was accepted: the event counts as accepted. */
export function markDuplicate(batch: Batch, event: object): void {
  addDrop((batch.drops ??= []), DUPLICATE, DUPLICATE_REASON);
  batch.outcomes?.set(event, DUPLICATE_OUTCOME);
}

/** Adds `count` refusals for `reason`, merging equal reasons so replies stay short. */
export function addRejection(rejections: Rejection[], code: string, reason: string, count = 1): void {
  const existing = rejections.find((r) => r.reason === reason);
  if (existing) existing.count += count;
  else rejections.push({ code, reason, count });
}

/** Adds `count` drops for `reason`, merging equal reasons. */
export function addDrop(drops: Drop[], code: string, reason: string, count = 1): void {
  const existing = drops.find((d) => d.reason === reason);
  if (existing) existing.count += count;
  else drops.push({ code, reason, count });
}
