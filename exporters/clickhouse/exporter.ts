/**
 * ClickHouse exporter: the ClickHouse push behind the exporter helper's group-commit queue (one INSERT per table
 * at a time; requests are answered when the INSERT carrying their rows commits, so a 2xx always means
 * "stored"; bounded memory; per-request isolation of a permanent failure: exporterhelper/queue.ts). A push
 * encodes its requests' events into one Native block and inserts it.
 *
 * Small INSERTs (under `landing.max_rows`, embedded store) commit into a landing slot instead and move on
 * to their table in bulk (landing.ts): the reply then waits for a ~2 ms INSERT rather than one that runs the
 * rollup's view. Big INSERTs, which amortize the view, go straight to their table.
 *
 * Loss and duplication: each INSERT carries an `insert_deduplication_token` (the push's id), kept across its
 * retries, so an INSERT that committed but whose reply was lost is not stored twice. Retryable failures are
 * retried with the `retry` policy (exporterhelper/retry.ts) up to `retry.max_elapsed_time`, then the requests
 * get a retryable 503. Landed rows' moves run the same policy, past `max_elapsed_time` while not draining.
 */
import type { Logger } from 'pino';
import type { Exporter, ExporterFactory } from '../../core/components.ts';
import { SignalhouseError } from '../../core/errors.ts';
import type { Batch, LogBatch, SpanBatch } from '../../core/event.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import { isRetryableStoreError, type Store } from '../../storage/store.ts';
import { createWriteGate } from '../exporterhelper/gate.ts';
import { createGroupCommitQueue } from '../exporterhelper/queue.ts';
import { createRetryPolicy, retryPolicyOf } from '../exporterhelper/retry.ts';
import type { ExporterHost } from '../host.ts';
import { type ClickHouseExporterConfig, clickhouseExporterSchema } from './config.ts';
import { createLanding, type Landing, type TargetTable } from './landing.ts';
import type { TableFormat } from './native.ts';
import { encodeLogBlock, encodeSpanBlock, LOG_FORMAT, SPAN_FORMAT } from './rows.ts';

type Table = TargetTable;

/** Rough heap size of a decoded event beyond its encoded bytes (objects, strings), for the queue's bound. */
const DECODED_ROW_OVERHEAD = 1024;

/** Landed rows not yet moved, in generations, beyond which small groups skip the landing table. */
const LANDING_BACKLOG_GENERATIONS = 4;
/** The landed blocks' bytes, held in memory until they move, past which groups go straight to their table. */
const LANDING_BACKLOG_BYTES = 64 * 1024 * 1024;

/** Rows waiting for a busy table that justify a second, parallel INSERT. */
const PARALLEL_MIN_ROWS = 5_000;

/**
 * The longest wait between a landed generation's move attempts. Its rows are acknowledged, so it keeps trying
 * (past `retry.max_elapsed_time` unless draining); the wait grows further than a request's retries would.
 */
const MOVE_MAX_INTERVAL = 30_000;

export interface ClickHouseExporterOptions {
  store: Store;
  config: ClickHouseExporterConfig;
  telemetry: Telemetry;
  /** Its config key (default `clickhouse`). */
  name?: string;
  /** INSERTs running at once, all tables together. */
  maxConcurrentInserts?: number;
  /**
   * INSERTs running at once into one table (default 1). With embedded chDB a second parallel INSERT only adds
   * contention on two cores: one INSERT at a time made larger INSERTs, less merging and more events/s in
   * bench:ingest. A remote server with more cores may take 2.
   */
  maxInsertsPerTable?: number;
  /** Bytes of rows accepted but not committed. */
  maxQueueBytes?: number;
  logger?: Logger;
}

/** The Native block of a table's batches (they all carry its signal: export picks the table from it). */
function encodeBlock(table: Table, batches: readonly Batch[]): Buffer {
  return table === 'otel_logs' ? encodeLogBlock(batches as readonly LogBatch[]) : encodeSpanBlock(batches as readonly SpanBatch[]);
}

export const clickhouseExporterFactory: ExporterFactory<typeof clickhouseExporterSchema, ExporterHost> = {
  type: 'clickhouse',
  configSchema: clickhouseExporterSchema,
  create: (config, name, host) => createClickHouseExporter({ store: host.store, config, telemetry: host.telemetry, logger: host.logger, name }),
};

export function createClickHouseExporter(opts: ClickHouseExporterOptions): Exporter {
  const { store, config, telemetry } = opts;
  const db = config.database;
  /** Encoded bytes per row, running average (for the queue's memory bound). */
  let avgRowBytes = 300;

  // The retry policy, configured here only: INSERTs that requests wait for, and the moves of landed rows.
  const insertRetry = createRetryPolicy(retryPolicyOf(config.retry));
  const moveRetry = createRetryPolicy({
    initialInterval: config.retry.initial_interval,
    maxInterval: Math.max(config.retry.max_interval, MOVE_MAX_INTERVAL),
    maxElapsedTime: config.retry.max_elapsed_time,
    jitter: 0,
  });

  const formats: Record<Table, TableFormat> = { otel_logs: LOG_FORMAT, otel_traces: SPAN_FORMAT };
  // Every INSERT into a table (requests' and landed rows' moves) passes the gate; `holdWrites` closes it.
  const gate = createWriteGate();

  function insert(table: Table, payloads: readonly Buffer[], token: string, extraSettings = ''): Promise<void> {
    const f = formats[table];
    return gate.pass(() =>
      store.insertNative({
        table: `${db}.${table}`,
        columns: f.columns,
        structure: f.structure,
        payloads,
        settings: `insert_deduplication_token = '${token}'${extraSettings}`,
      }),
    );
  }

  /** Runs one INSERT (`label`: its table) with the retry policy; resolves with the error its requests get, if any. */
  async function withRetry(label: string, attempt: () => Promise<void>): Promise<SignalhouseError | undefined> {
    const end = telemetry.exportCommitDuration.startTimer({ table: label });
    const failure = await insertRetry.run(attempt, {
      isRetryable: isRetryableStoreError,
      onFailure(_err, _retryable, retrying) {
        if (retrying) telemetry.exportRetries.inc({ table: label });
      },
    });
    end();
    if (failure === undefined) return undefined;
    const { error, retryable } = failure;
    telemetry.exportFailures.inc({ table: label, retryable: String(retryable) });
    const message = error instanceof Error ? error.message : String(error);
    return retryable
      ? new SignalhouseError('STORAGE_UNAVAILABLE', `storage unavailable, retry later: ${message}`, { cause: error, retryAfterSeconds: 5 })
      : new SignalhouseError('STORAGE_REJECTED', `storage refused the rows: ${message}`, { cause: error });
  }

  /**
   * Small groups commit into the landing table (embedded store only, see landing.ts) while its backlog is
   * moving on; past `LANDING_BACKLOG_GENERATIONS` generations of rows they go straight to their table again, so a
   * stalled move slows ingest down instead of letting the backlog grow.
   */
  const landing: Landing | undefined =
    // Landing slots are File tables, which do not fsync what they append: `fsync` sends everything straight on.
    config.landing.max_rows > 0 && store.kind === 'embedded' && !config.fsync
      ? createLanding({
          store,
          database: db,
          moveDelay: config.landing.move_delay,
          moveMaxRows: config.landing.move_max_rows,
          moveRetry,
          // A generation may span many days of event time: lift the per-INSERT partition limit for it. Its
          // threads run niced, so requests' INSERTs into the landing table get the CPU first (bench:ingest).
          insertTarget: (table, payloads, token) => insert(table, payloads, token, ', throw_on_max_partitions_per_insert_block = 0, os_thread_priority = 19'),
          encodeBlock,
          isRetryable: isRetryableStoreError,
          telemetry,
          logger: opts.logger,
        })
      : undefined;
  const landingBacklogLimit = config.landing.move_max_rows * LANDING_BACKLOG_GENERATIONS;
  const landsHere = (rows: number) =>
    landing !== undefined &&
    rows < config.landing.max_rows &&
    landing.backlogRows < landingBacklogLimit &&
    landing.backlogBytes < LANDING_BACKLOG_BYTES &&
    landing.hasRoom;

  /** The Native block of some requests' events; encoded once per INSERT and reused by its retries. */
  function encode(table: Table, batches: readonly Batch[], rows: number): Buffer {
    const block = encodeBlock(table, batches);
    avgRowBytes = avgRowBytes * 0.8 + (block.length / rows) * 0.2;
    return block;
  }

  /**
   * The push: encodes and commits, into the landing table or straight into the table (`id` is the INSERT's
   * deduplication token). A request whose events cannot be encoded fails on its own, as a permanent error.
   */
  async function push(table: Table, batches: readonly Batch[], rows: number, id: string): Promise<SignalhouseError | undefined> {
    let payload: Buffer;
    try {
      payload = encode(table, batches, rows);
    } catch (err) {
      return new SignalhouseError('INTERNAL', `events could not be encoded for storage: ${(err as Error).message}`, { cause: err });
    }
    if (landing && landsHere(rows)) return landing.stage(table, payload, rows, batches);
    return withRetry(table, () => insert(table, [payload], id));
  }

  const queue = createGroupCommitQueue<Table, Batch>({
    maxBatchRows: config.batch.max_rows,
    maxDelay: config.batch.max_delay,
    maxQueueRows: config.queue.max_rows,
    maxQueueBytes: opts.maxQueueBytes ?? 512 * 1024 * 1024,
    maxConcurrent: opts.maxConcurrentInserts ?? 2,
    maxPerKey: opts.maxInsertsPerTable ?? 1,
    parallelMinRows: PARALLEL_MIN_ROWS,
    push,
    onCommitted: (table, rows) => telemetry.exportBatchRows.observe({ table }, rows),
    onQueueRows: (rows) => telemetry.exportQueueRows.set(rows),
  });

  return {
    name: opts.name ?? 'clickhouse',
    async start(): Promise<void> {
      const moved = (await landing?.recover()) ?? 0;
      if (moved > 0) opts.logger?.info({ generations: moved }, 'rows left in the landing table by the previous run moved on');
    },
    export(batch: Batch): Promise<void> {
      const rows = batch.events.length;
      if (rows === 0) return Promise.resolve();
      // Memory held per waiting row: its encoded size (running average) plus the decoded event it still is.
      const bytes = Math.ceil(rows * (avgRowBytes + DECODED_ROW_OVERHEAD));
      return queue.offer(batch.signal === 'logs' ? 'otel_logs' : 'otel_traces', batch, rows, bytes);
    },
    flushNow(): void {
      queue.flushNow();
    },
    async drain(): Promise<void> {
      await queue.drain();
      await landing?.drain();
    },
    async settle(): Promise<void> {
      await landing?.settle();
    },
    holdWrites: (fn) => gate.hold(fn),
  };
}
