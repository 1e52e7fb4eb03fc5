/**
 * ClickHouse exporter with group commit. Requests hand over their rows and wait; every waiting request is
 * answered when the INSERT carrying its rows commits (so a 2xx always means "stored"). One INSERT runs per table
 * at a time: when the table is idle, rows go at once; while an INSERT runs, the rows that arrive wait and then
 * go together in the next one. INSERTs therefore grow with load instead of multiplying. `batch.max_rows` caps an
 * INSERT; `batch.max_delay` > 0 makes rows wait that long first, to
 * gather bigger INSERTs under light load at the cost of latency.
 *
 * Small INSERTs (under `landing.max_rows`, embedded store) commit into a landing slot instead and move on
 * to their table in bulk (landing.ts): the reply then waits for a ~2 ms INSERT rather than one that runs the
 * rollup's view. Big INSERTs, which amortize the view, go straight to their table.
 *
 * Loss and duplication: each INSERT carries an `insert_deduplication_token`, kept across its retries, so an
 * INSERT that committed but whose reply was lost is not stored twice. Retryable failures are retried with
 * exponential backoff up to `retry.max_elapsed_time`, then the requests get a retryable 503. A permanent
 * failure of a merged INSERT is retried per request, so one bad request cannot fail its neighbours.
 *
 * Memory is bounded: rows accepted but not committed are capped by `queue.max_rows` / `queue.max_bytes`;
 * beyond that `export` refuses at once with OVERLOADED (503 + Retry-After) instead of queueing.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseExporterConfig } from '../../core/config.ts';
import { SignalhouseError } from '../../core/errors.ts';
import type { Batch, LogBatch, SpanBatch } from '../../core/event.ts';
import type { Exporter } from '../../core/components.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import type { TableFormat } from './native.ts';
import { encodeLogBlock, encodeSpanBlock, LOG_FORMAT, SPAN_FORMAT } from './rows.ts';
import { createLanding, type Landing, type TargetTable } from './landing.ts';
import { isRetryableStoreError, type Store } from '../../storage/store.ts';


type Table = TargetTable;

interface Waiter {
  /** The request's events, encoded when its INSERT starts (one block per INSERT). */
  batch: Batch;
  rows: number;
  bytes: number;
  resolve(): void;
  reject(err: SignalhouseError): void;
}

interface Group {
  table: Table;
  waiters: Waiter[];
  rows: number;
  bytes: number;
}


/** Rough heap size of a decoded event beyond its encoded bytes (objects, strings), for the queue's bound. */
const DECODED_ROW_OVERHEAD = 1024;

/** Landed rows not yet moved, in generations, beyond which small groups skip the landing table. */
const LANDING_BACKLOG_GENERATIONS = 4;

/** Rows waiting for a busy table that justify a second, parallel INSERT. */
const PARALLEL_MIN_ROWS = 5_000;


export interface ClickHouseExporterOptions {
  store: Store;
  config: ClickHouseExporterConfig;
  telemetry: Telemetry;
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

export function createClickHouseExporter(opts: ClickHouseExporterOptions): Exporter {
  const { store, config, telemetry } = opts;
  const db = config.database;
  const maxRows = config.batch.max_rows;
  const maxDelay = config.batch.max_delay;
  const maxQueueRows = config.queue.max_rows;
  const maxQueueBytes = opts.maxQueueBytes ?? 512 * 1024 * 1024;
  const maxConcurrent = opts.maxConcurrentInserts ?? 2;
  const maxPerTable = opts.maxInsertsPerTable ?? 1;

  const open = new Map<Table, Group>();
  const timers = new Map<Table, NodeJS.Timeout>();
  const ready: Group[] = [];
  const inFlight = new Set<Promise<void>>();
  let queuedRows = 0;
  let queuedBytes = 0;
  let draining = false;
  /** Encoded bytes per row, running average (for the queue's memory bound). */
  let avgRowBytes = 300;
  let immediate = false;

  function seal(table: Table): void {
    const t = timers.get(table);
    if (t) clearTimeout(t);
    timers.delete(table);
    const g = open.get(table);
    if (!g) return;
    open.delete(table);
    ready.push(g);
    addReady(table, g.rows);
    pump();
  }

  /** INSERTs running per table. */
  const running = new Map<Table, number>();
  /** Rows in `ready` per table. */
  const readyRows = new Map<Table, number>();
  const addReady = (table: Table, rows: number) => readyRows.set(table, (readyRows.get(table) ?? 0) + rows);

  /**
   * Starts INSERTs while slots are free. Group commit: while a table's INSERT runs, the rows that arrive for it
   * wait and then go together in the next one, so INSERTs grow with load instead of multiplying (fewer, larger
   * parts: less merge work). With `maxInsertsPerTable` > 1, once PARALLEL_MIN_ROWS are waiting a second INSERT
   * may run beside the first.
   */
  function pump(): void {
    for (let i = 0; i < ready.length && inFlight.size < maxConcurrent; ) {
      const g = ready[i];
      const runningHere = running.get(g.table) ?? 0;
      if (runningHere >= maxPerTable || (runningHere > 0 && (readyRows.get(g.table) ?? 0) < Math.min(PARALLEL_MIN_ROWS, maxRows))) {
        i++;
        continue;
      }
      ready.splice(i, 1);
      for (let j = i; j < ready.length && g.rows < maxRows; ) {
        const next = ready[j];
        if (next.table === g.table && g.rows + next.rows <= maxRows) {
          g.waiters.push(...next.waiters);
          g.rows += next.rows;
          g.bytes += next.bytes;
          ready.splice(j, 1);
        } else j++;
      }
      addReady(g.table, -g.rows);
      running.set(g.table, (running.get(g.table) ?? 0) + 1);
      const p: Promise<void> = commit(g).finally(() => {
        inFlight.delete(p);
        running.set(g.table, running.get(g.table)! - 1);
        pump();
      });
      inFlight.add(p);
    }
  }

  const formats: Record<Table, TableFormat> = { otel_logs: LOG_FORMAT, otel_traces: SPAN_FORMAT };

  function insert(table: Table, payloads: readonly Buffer[], token: string, extraSettings = ''): Promise<void> {
    const f = formats[table];
    return store.insertNative({ table: `${db}.${table}`, columns: f.columns, structure: f.structure, payloads, settings: `insert_deduplication_token = '${token}'${extraSettings}` });
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
          maxRetryElapsed: config.retry.max_elapsed_time,
          // A generation may span many days of event time: lift the per-INSERT partition limit for it. Its
          // threads run niced, so requests' INSERTs into the landing table get the CPU first (bench:ingest).
          insertTarget: (table, payloads, token) => insert(table, payloads, token, ', throw_on_max_partitions_per_insert_block = 0, os_thread_priority = 19'),
          withRetry,
          isRetryable: isRetryableStoreError,
          telemetry,
          logger: opts.logger,
        })
      : undefined;
  const landingBacklogLimit = config.landing.move_max_rows * LANDING_BACKLOG_GENERATIONS;
  const landsHere = (rows: number) =>
    landing !== undefined && rows < config.landing.max_rows && landing.backlogRows < landingBacklogLimit && landing.hasRoom;

  /** The Native block of some waiters' events; encoded once per INSERT and reused by its retries. */
  function encode(table: Table, waiters: readonly Waiter[]): Buffer {
    // A table's waiters all carry its signal (enqueue picks the table from it).
    const block = table === 'otel_logs' ? encodeLogBlock(waiters.map((w) => w.batch as LogBatch)) : encodeSpanBlock(waiters.map((w) => w.batch as SpanBatch));
    const rows = waiters.reduce((n, w) => n + w.rows, 0);
    avgRowBytes = avgRowBytes * 0.8 + (block.length / rows) * 0.2;
    return block;
  }

  /**
   * Encodes and commits: into the landing table or straight into the table. A request whose events cannot be
   * encoded fails on its own, as a permanent error.
   */
  async function encodeAndCommit(table: Table, waiters: readonly Waiter[], rows: number, token: string): Promise<SignalhouseError | undefined> {
    let payload: Buffer;
    try {
      payload = encode(table, waiters);
    } catch (err) {
      return new SignalhouseError('INTERNAL', `events could not be encoded for storage: ${(err as Error).message}`, { cause: err });
    }
    try {
      if (landing && landsHere(rows)) return await landing.stage(table, payload, rows);
      return await withRetry(table, () => insert(table, [payload], token));
    } catch (err) {
      // A bug, not storage trouble (those come back as values): its requests fail rather than wait forever.
      return new SignalhouseError('INTERNAL', `events could not be committed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** One INSERT for the group, retried with backoff; the waiters are settled here and only here. */
  async function commit(g: Group): Promise<void> {
    const token = randomUUID();
    const err = await encodeAndCommit(g.table, g.waiters, g.rows, token);
    // Release queue space before answering, so a client that sends again right after its reply finds room.
    queuedRows -= g.rows;
    queuedBytes -= g.bytes;
    telemetry.exportQueueRows.set(queuedRows);
    if (err === undefined) {
      telemetry.exportBatchRows.observe({ table: g.table }, g.rows);
      for (const w of g.waiters) w.resolve();
      return;
    }
    if (!err.retryable && g.waiters.length > 1) {
      // Find the culprit: each request again on its own, so only the bad one fails.
      for (let i = 0; i < g.waiters.length; i++) {
        const w = g.waiters[i];
        const e = await encodeAndCommit(g.table, [w], w.rows, `${token}-${i}`);
        if (e === undefined) w.resolve();
        else w.reject(e);
      }
      return;
    }
    for (const w of g.waiters) w.reject(err);
  }

  /** Runs one INSERT (`label`: its table), retried with exponential backoff while its failure is retryable. */
  async function withRetry(label: string, attempt: () => Promise<void>): Promise<SignalhouseError | undefined> {
    const started = Date.now();
    let delay = config.retry.initial_interval;
    const end = telemetry.exportCommitDuration.startTimer({ table: label });
    for (;;) {
      try {
        await attempt();
        end();
        return undefined;
      } catch (err) {
        const retryable = isRetryableStoreError(err);
        const elapsed = Date.now() - started;
        if (retryable && elapsed + delay <= config.retry.max_elapsed_time) {
          telemetry.exportRetries.inc({ table: label });
          await sleep(delay * (0.5 + Math.random() / 2));
          delay = Math.min(delay * 2, config.retry.max_interval);
          continue;
        }
        end();
        telemetry.exportFailures.inc({ table: label, retryable: String(retryable) });
        const message = err instanceof Error ? err.message : String(err);
        return retryable
          ? new SignalhouseError('STORAGE_UNAVAILABLE', `storage unavailable, retry later: ${message}`, { cause: err, retryAfterSeconds: 5 })
          : new SignalhouseError('STORAGE_REJECTED', `storage refused the rows: ${message}`, { cause: err });
      }
    }
  }

  function enqueue(table: Table, batch: Batch): Promise<void> {
    const rows = batch.events.length;
    if (rows === 0) return Promise.resolve();
    if (draining) return Promise.reject(new SignalhouseError('SHUTTING_DOWN', 'server is shutting down, retry against another instance', { retryAfterSeconds: 1 }));
    // Memory held per waiting row: its encoded size (running average) plus the decoded event it still is.
    const bytes = Math.ceil(rows * (avgRowBytes + DECODED_ROW_OVERHEAD));
    if (queuedRows + rows > maxQueueRows || queuedBytes + bytes > maxQueueBytes) {
      return Promise.reject(new SignalhouseError('OVERLOADED', `ingest queue is full (${queuedRows} rows waiting for storage), retry later`, { retryAfterSeconds: 1 }));
    }
    queuedRows += rows;
    queuedBytes += bytes;
    telemetry.exportQueueRows.set(queuedRows);
    return new Promise<void>((resolve, reject) => {
      let g = open.get(table);
      if (!g) {
        g = { table, waiters: [], rows: 0, bytes: 0 };
        open.set(table, g);
      }
      g.waiters.push({ batch, rows, bytes, resolve, reject });
      g.rows += rows;
      g.bytes += bytes;
      // max_delay 0 is pure group commit: seal at once; pump() holds the group while the table's INSERT runs.
      if (g.rows >= maxRows || immediate || maxDelay === 0) seal(table);
      else if (!timers.has(table)) timers.set(table, setTimeout(() => seal(table), maxDelay));
    });
  }

  return {
    name: 'clickhouse',
    async start(): Promise<void> {
      const moved = (await landing?.recover()) ?? 0;
      if (moved > 0) opts.logger?.info({ generations: moved }, 'rows left in the landing table by the previous run moved on');
    },
    export(batch: Batch): Promise<void> {
      const n = batch.events.length;
      if (n === 0) return Promise.resolve();
      return enqueue(batch.signal === 'logs' ? 'otel_logs' : 'otel_traces', batch);
    },
    flushNow(): void {
      immediate = true;
      for (const table of [...open.keys()]) seal(table);
    },
    async drain(): Promise<void> {
      draining = true;
      immediate = true;
      for (const table of [...open.keys()]) seal(table);
      while (inFlight.size > 0 || ready.length > 0) {
        pump();
        await Promise.allSettled([...inFlight]);
      }
      await landing?.drain();
    },
    async settle(): Promise<void> {
      await landing?.settle();
    },
  };
}
