/**
 * Runs one product-API request through its pipeline: each raw event is mapped on its own (a bad one is
 * refused with its index and reason, the rest go on), the batch runs through the processors and is committed,
 * and the caller gets a result per event. Counting happens here, once, for every product receiver.
 */
import type { Signal } from '../../core/config.ts';
import { addRejection, type LogBatch, type LogEvent, rejectedCount } from '../../core/event.ts';
import type { Pipeline } from '../../core/pipeline.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import { RecordRejected } from '../otlp/common.ts';
import type { EventResult } from './common.ts';

export interface IngestOutcome {
  results: EventResult[];
  accepted: number;
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
  const batch: LogBatch = { tenantId, signal, events, rejections: [], refused: new Map() };
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
  // Processors may refuse events too (validate): report them against their index.
  if (batch.refused!.size > 0) {
    let m = 0;
    for (const r of results) {
      if (r.status !== 'accepted') continue;
      const reason = batch.refused!.get(mapped[m++]);
      if (reason !== undefined) {
        r.status = 'rejected';
        r.error = reason;
      }
    }
  }
  telemetry.acceptedRecords.inc({ receiver, signal }, out.events.length);
  for (const r of out.rejections) telemetry.rejectedRecords.inc({ receiver, signal, reason: r.code }, r.count);
  return { results, accepted: out.events.length, rejected: rejectedCount(out) };
}
