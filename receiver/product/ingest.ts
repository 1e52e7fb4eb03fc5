/**
 * Runs one product-API request through its pipeline: each raw event is mapped on its own (a bad one is
 * refused with its index and reason, the rest go on), the batch runs through the processors and is committed,
 * and the caller gets a result per event. The reply's counts are counted from those results, so they cannot
 * disagree; the receiver helper's counters count the same numbers, here, once, for every product receiver.
 */
import type { Pipeline } from '../../core/components.ts';
import { addRejection, type EventOutcome, type EventStatus, type LogBatch, type LogEvent } from '../../core/event.ts';
import { RecordRejected } from '../otlp/common.ts';
import type { SignalCounters } from '../receiverhelper/counters.ts';

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
  counters: SignalCounters,
  pipeline: Pipeline,
  tenantId: string,
  items: readonly unknown[],
  map: (item: unknown, index: number) => LogEvent,
): Promise<IngestOutcome> {
  const events: LogEvent[] = [];
  const results: EventResult[] = [];
  const outcomes = new Map<object, EventOutcome>();
  const batch: LogBatch = { tenantId, signal: 'logs', events, rejections: [], drops: [], outcomes };
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
  counters.received(items.length);
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
  counters.consumed(out, counts.accepted);
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
