/**
 * The envelope batch reply: the counts and a result per event, in order. WebSocket ingest acknowledges each
 * message with the same body, so both say the same thing the same way.
 */
import type { IngestOutcome } from '../product/ingest.ts';

export function envelopeBatchReply(batchId: unknown, outcome: IngestOutcome) {
  return {
    batch_id: typeof batchId === 'string' ? batchId : undefined,
    accepted: outcome.accepted,
    dropped: outcome.dropped,
    rejected: outcome.rejected,
    results: outcome.results.map((r) => ({
      index: r.index,
      event_id: r.id || undefined,
      status: r.status,
      duplicate: r.duplicate,
      reason: r.reason,
      error: r.error,
    })),
  };
}
