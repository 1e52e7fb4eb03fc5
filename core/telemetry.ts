/**
 * Signalhouse's own metrics, exposed at `GET /metrics` in Prometheus text format. One registry per service
 * instance (not prom-client's global one), so several instances can live in one test process.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type Batch, DUPLICATE } from './event.ts';

export interface Telemetry {
  readonly registry: Registry;
  /** Records received by a receiver, before any processing. */
  readonly receivedRecords: Counter<'receiver' | 'signal'>;
  /**
   * Records accepted: committed to storage, by this request or (duplicates) an earlier one. received = accepted +
   * dropped + rejected, as in every reply (core/event.ts).
   */
  readonly acceptedRecords: Counter<'receiver' | 'signal'>;
  /** Records accepted and dropped on purpose, by reason (`consent`). */
  readonly droppedRecords: Counter<'receiver' | 'signal' | 'reason'>;
  /** Records refused, by reason (decode, limits, processors). */
  readonly rejectedRecords: Counter<'receiver' | 'signal' | 'reason'>;
  /** Requests refused as a whole, by HTTP status. */
  readonly failedRequests: Counter<'receiver' | 'status'>;
  /** Per processor: records in, records out, records dropped on purpose. */
  readonly processorRecords: Counter<'pipeline' | 'processor' | 'outcome'>;
  readonly processorDuration: Histogram<'pipeline' | 'processor'>;
  readonly exportBatchRows: Histogram<'table'>;
  readonly exportCommitDuration: Histogram<'table'>;
  readonly exportRetries: Counter<'table'>;
  readonly exportFailures: Counter<'table' | 'retryable'>;
  /** Rows accepted and waiting for their INSERT to commit. */
  readonly exportQueueRows: Gauge;
  /** Rows committed to the landing table and not yet moved on to their tables. */
  readonly landingRows: Gauge;
  readonly landingMovedRows: Counter;
  readonly landingMoveDuration: Histogram;
  readonly landingMergedBlocks: Counter;
  readonly landingMoveFailures: Counter<'retryable'>;
  readonly inFlightRequests: Gauge;
  /** Request-body and WebSocket message bytes held until answered (the in-flight byte budget). */
  readonly inFlightBodyBytes: Gauge;
  /** WebSocket ingest connections open. */
  readonly websocketConnections: Gauge;
  /** WebSocket ingest connections whose reading is paused: their in-flight budget is full (backpressure). */
  readonly websocketPausedConnections: Gauge;
  /** Times a WebSocket connection's reading was paused for backpressure. */
  readonly websocketPauses: Counter;
  /** WebSocket messages read and not answered yet (waiting for their turn, or being processed). */
  readonly websocketInFlightMessages: Gauge;
  /** Bytes WebSocket connections hold: messages until their answers are written, and unread answers. */
  readonly websocketInFlightBytes: Gauge;
  /** WebSocket ingest connections closed, by close code. */
  readonly websocketClosedConnections: Counter<'code'>;
  /** HTTP request latency, from the request's arrival to its reply sent, by kind of route (`ingest`, `query`). */
  readonly requestDuration: Histogram<'kind'>;
  /**
   * Requests refused by a rate limit: by tenant, by the kind of tokens that ran short (`requests`, `events`)
   * and whose bucket it was (`tenant`, `key`).
   */
  readonly rateLimited: Counter<'tenant' | 'kind' | 'reason'>;
  /** Rate-limit decisions made by the local buckets because Redis did not answer in time (or was down). */
  readonly rateLimitFallbacks: Counter;
}

const TIME_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Request latency buckets; 0.2 and 5 are the operational alerts' thresholds (ingest p95 200 ms, query p95 5 s). */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30];
/** Kinds of routes whose latency is measured; their series exist from the start, so rates are defined at once. */
export const REQUEST_KINDS = ['ingest', 'query'] as const;

export function createTelemetry(): Telemetry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'signalhouse_' });
  const registers = [registry];
  return {
    registry,
    receivedRecords: new Counter({
      name: 'signalhouse_receiver_received_records_total',
      help: 'Records received, before processing.',
      labelNames: ['receiver', 'signal'],
      registers,
    }),
    acceptedRecords: new Counter({
      name: 'signalhouse_receiver_accepted_records_total',
      help: 'Records accepted: committed to storage (duplicates: by an earlier request).',
      labelNames: ['receiver', 'signal'],
      registers,
    }),
    droppedRecords: new Counter({
      name: 'signalhouse_receiver_dropped_records_total',
      help: 'Records accepted and dropped on purpose, by reason.',
      labelNames: ['receiver', 'signal', 'reason'],
      registers,
    }),
    rejectedRecords: new Counter({
      name: 'signalhouse_receiver_rejected_records_total',
      help: 'Records refused, by reason.',
      labelNames: ['receiver', 'signal', 'reason'],
      registers,
    }),
    failedRequests: new Counter({
      name: 'signalhouse_receiver_failed_requests_total',
      help: 'Requests refused as a whole, by HTTP status.',
      labelNames: ['receiver', 'status'],
      registers,
    }),
    processorRecords: new Counter({
      name: 'signalhouse_processor_records_total',
      help: 'Records into and out of each processor, and dropped by it.',
      labelNames: ['pipeline', 'processor', 'outcome'],
      registers,
    }),
    processorDuration: new Histogram({
      name: 'signalhouse_processor_duration_seconds',
      help: 'Time a processor spends on one batch.',
      labelNames: ['pipeline', 'processor'],
      buckets: TIME_BUCKETS,
      registers,
    }),
    exportBatchRows: new Histogram({
      name: 'signalhouse_exporter_batch_rows',
      help: 'Rows per INSERT (group commit size).',
      labelNames: ['table'],
      buckets: [1, 10, 100, 500, 1000, 5000, 10000, 50000, 100000],
      registers,
    }),
    exportCommitDuration: new Histogram({
      name: 'signalhouse_exporter_commit_duration_seconds',
      help: 'INSERT latency, retries included.',
      labelNames: ['table'],
      buckets: TIME_BUCKETS,
      registers,
    }),
    exportRetries: new Counter({
      name: 'signalhouse_exporter_retries_total',
      help: 'INSERT attempts retried after a retryable error.',
      labelNames: ['table'],
      registers,
    }),
    exportFailures: new Counter({
      name: 'signalhouse_exporter_failed_batches_total',
      help: 'INSERTs that failed for good.',
      labelNames: ['table', 'retryable'],
      registers,
    }),
    exportQueueRows: new Gauge({ name: 'signalhouse_exporter_queue_rows', help: 'Rows accepted and waiting for their INSERT to commit.', registers }),
    landingRows: new Gauge({
      name: 'signalhouse_exporter_landing_rows',
      help: 'Rows committed to the landing table, not yet moved on to their tables.',
      registers,
    }),
    landingMovedRows: new Counter({
      name: 'signalhouse_exporter_landing_moved_rows_total',
      help: 'Rows moved from the landing table to their tables.',
      registers,
    }),
    landingMergedBlocks: new Counter({
      name: 'signalhouse_exporter_landing_merged_blocks_total',
      help: 'Landed blocks merged into one block per generation and table before their move.',
      registers,
    }),
    landingMoveDuration: new Histogram({
      name: 'signalhouse_exporter_landing_move_duration_seconds',
      help: 'Time to move one landed generation (merge, INSERT per table, empty the slot).',
      buckets: TIME_BUCKETS,
      registers,
    }),
    landingMoveFailures: new Counter({
      name: 'signalhouse_exporter_landing_move_failures_total',
      help: 'Failed attempts to move a landed generation.',
      labelNames: ['retryable'],
      registers,
    }),
    inFlightRequests: new Gauge({ name: 'signalhouse_http_in_flight_requests', help: 'Requests being processed.', registers }),
    inFlightBodyBytes: new Gauge({
      name: 'signalhouse_http_in_flight_body_bytes',
      help: 'Request-body bytes (received and decompressed) and WebSocket message bytes held until answered.',
      registers,
    }),
    websocketConnections: new Gauge({ name: 'signalhouse_websocket_connections', help: 'WebSocket ingest connections open.', registers }),
    websocketPausedConnections: new Gauge({
      name: 'signalhouse_websocket_paused_connections',
      help: 'WebSocket ingest connections not read for now: their in-flight budget is full (backpressure).',
      registers,
    }),
    websocketPauses: new Counter({
      name: 'signalhouse_websocket_pauses_total',
      help: 'Times a WebSocket connection stopped being read because its in-flight budget was full.',
      registers,
    }),
    websocketInFlightMessages: new Gauge({
      name: 'signalhouse_websocket_in_flight_messages',
      help: 'WebSocket messages read and not answered yet (waiting for their turn, or being processed).',
      registers,
    }),
    websocketInFlightBytes: new Gauge({
      name: 'signalhouse_websocket_in_flight_bytes',
      help: 'Bytes held by WebSocket connections: messages until their answers are written, and answers the client has not read.',
      registers,
    }),
    websocketClosedConnections: new Counter({
      name: 'signalhouse_websocket_closed_connections_total',
      help: 'WebSocket ingest connections closed, by close code.',
      labelNames: ['code'],
      registers,
    }),
    requestDuration: requestDuration(registers),
    rateLimited: new Counter({
      name: 'signalhouse_rate_limited_total',
      help: 'Requests refused by a rate limit, by tenant, kind of tokens (requests, events) and bucket (tenant, key).',
      labelNames: ['tenant', 'kind', 'reason'],
      registers,
    }),
    rateLimitFallbacks: new Counter({
      name: 'signalhouse_rate_limit_redis_fallbacks_total',
      help: 'Rate-limit decisions made by the local buckets because Redis did not answer in time.',
      registers,
    }),
  };
}

function requestDuration(registers: Registry[]): Histogram<'kind'> {
  const h = new Histogram({
    name: 'signalhouse_http_request_duration_seconds',
    help: 'HTTP request latency, arrival to reply sent, by kind of route (ingest, query).',
    labelNames: ['kind'],
    buckets: REQUEST_BUCKETS,
    registers,
  });
  for (const kind of REQUEST_KINDS) h.zero({ kind });
  return h;
}

/** Counts what a receiver's batch dropped and refused, by reason (duplicates are accepted: the receiver counts those). */
export function countDroppedAndRejected(telemetry: Telemetry, receiver: string, signal: string, batch: Batch): void {
  for (const d of batch.drops ?? []) if (d.code !== DUPLICATE) telemetry.droppedRecords.inc({ receiver, signal, reason: d.code }, d.count);
  for (const r of batch.rejections) telemetry.rejectedRecords.inc({ receiver, signal, reason: r.code }, r.count);
}
