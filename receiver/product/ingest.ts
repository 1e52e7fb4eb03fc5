/**
 * Runs one product-API request through its pipeline: each raw event is mapped on its own (a bad one is
 * refused with its index and reason, the rest go on), the batch runs through the processors and is committed,
 * and the caller gets a result per event. The reply's counts are counted from those results, so they cannot
 * disagree; counting happens here, once, for every product receiver.
 */
import type { Signal } from '../../core/config.ts';
import { addRejection, type EventOutcome, type EventStatus, type LogBatch, type LogEvent } from '../../core/event.ts';
import type { Pipeline } from '../../core/components.ts';
import { countDroppedAndRejected, type Telemetry } from '../../core/telemetry.ts';
import { RecordRejected } from '../otlp/common.ts';

/** One event's outcome in a product-API reply (statuses as in core/event.ts). */
export interface EventResult {
  index: number;
  id: string;
  status: EventStatus;
  /** Accepted as a repeat of an event accepted before (a retry): stored once, by the earlier request. */
  duplicate?: true;
  /** Why it was dropped (the drop's code, e.g. `consent`). */
  reason?: string;
  /** Why it was rejected. */
  error?: string;
}

/** The results, and how many have each status: accepted + dropped + rejected = results.length. */
export interface IngestOutcome {
  results: EventResult[];
  accepted: number;
  dropped: number;
  rejected: number;
}

export async function ingestProductEvents(
  receiver: string,
  pipeline: Pipeline,
  telemetry: Telemetry,
  tenantId: string,
  items: readonly unknown[],
  map: (item: unknown, index: number) => LogEvent,
): Promise<IngestOutcome> {
  const signal: Signal = 'logs';
  const events: LogEvent[] = [];
  const results: EventResult[] = [];
  const outcomes = new Map<object, EventOutcome>();
  const batch: LogBatch = { tenantId, signal, events, rejections: [], drops: [], outcomes };
  items.forEach((item, index) => {
    try {
      const event = map(item, index);
      events.push(event);
      results.push({ index, id: event.eventId, status: 'accepted' });
    } catch (err) {
      if (!(err instanceof RecordRejected)) throw err;
      addRejection(batch.rejections, err.code, err.reason);
      results.push({ index, id: '', status: 'rejected', error: err.reason });
    }
  });
  telemetry.receivedRecords.inc({ receiver, signal }, items.length);
  const mapped = events.slice();
  const out = await pipeline.consume(batch);
  // What the processors did with the events they did not pass on, against each event's index.
  const counts = { accepted: 0, dropped: 0, rejected: 0 };
  let m = 0;
  for (const r of results) {
    const outcome = r.status === 'accepted' ? outcomes.get(mapped[m++]) : undefined;
    if (outcome?.status === 'accepted') r.duplicate = true;
    else if (outcome?.status === 'dropped') {
      r.status = 'dropped';
      r.reason = outcome.code;
    } else if (outcome?.status === 'rejected') {
      r.status = 'rejected';
      r.error = outcome.reason;
    }
    counts[r.status]++;
  }
  telemetry.acceptedRecords.inc({ receiver, signal }, counts.accepted);
  countDroppedAndRejected(telemetry, receiver, signal, out);
  return { results, ...counts };
}

/** The events that were not accepted, by index, as the Segment and PostHog replies list them. */
export function listedByIndex(outcome: IngestOutcome) {
  const dropped: Array<{ index: number; reason: string }> = [];
  const rejected: Array<{ index: number; error: string }> = [];
  for (const r of outcome.results) {
    if (r.status === 'dropped') dropped.push({ index: r.index, reason: r.reason! });
    else if (r.status === 'rejected') rejected.push({ index: r.index, error: r.error! });
  }
  return { dropped, rejected };
}
