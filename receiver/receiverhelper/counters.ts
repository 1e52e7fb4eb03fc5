/**
 * What every receiver counts, under the same metric names (core/telemetry.ts), like the Collector's
 * receiverhelper: records received, accepted, dropped and rejected per signal, and requests refused as a whole
 * by HTTP status. The record counters are bound to their labels once, when the receiver is made: a request costs
 * an increment each, whatever its number of records.
 */
import type { Signal } from '../../core/config.ts';
import type { Batch } from '../../core/event.ts';
import { countDroppedAndRejected, type Telemetry } from '../../core/telemetry.ts';

/** One receiver's record counters for one signal. */
export interface SignalCounters {
  /** Records that arrived, before any processing: those decoded and those refused while decoding. */
  received(count: number): void;
  /**
   * The pipeline's answer: `accepted` records (committed now, or by an earlier request: duplicates), and what the
   * batch dropped and refused, by reason. received = accepted + dropped + rejected, as in every reply.
   */
  consumed(out: Batch, accepted: number): void;
}

export interface ReceiverCounters {
  readonly name: string;
  /** The record counters of `signal` (bind once, when the routes are set up). */
  signal(signal: Signal): SignalCounters;
  /** A request refused as a whole (an error reply), by its HTTP status. */
  failed(status: number): void;
}

export function receiverCounters(telemetry: Telemetry, name: string): ReceiverCounters {
  return {
    name,
    signal(signal) {
      const received = telemetry.receivedRecords.labels(name, signal);
      const accepted = telemetry.acceptedRecords.labels(name, signal);
      return {
        received: (count) => received.inc(count),
        consumed(out, acceptedCount) {
          accepted.inc(acceptedCount);
          countDroppedAndRejected(telemetry, name, signal, out);
        },
      };
    },
    failed(status) {
      telemetry.failedRequests.inc({ receiver: name, status: String(status) });
    },
  };
}
