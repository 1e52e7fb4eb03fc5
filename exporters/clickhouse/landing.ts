/**
 * The landing slots: where small INSERTs commit. Every INSERT into otel_logs pays for its columns, its indexes
 * and the rollup's view (~16 ms for one row on the embedded store, ~9 ms of it the view), and the reply waits
 * for it. An INSERT into a landing slot carries the same rows as one Native block in a String column of a File
 * table (one TabSeparated file), sent from memory (~1 ms, no view, no part directory), so a small request is
 * acknowledged as soon as its block is appended there. Landed blocks move on in bulk: a generation (the blocks
 * of one slot) collects blocks for `move_delay` or `move_max_rows`, then its blocks are read back and inserted
 * into their tables in one INSERT per table, and the slot is emptied with TRUNCATE. Views and indexes then run
 * once per generation instead of once per request. There are LANDING_SLOTS slots; when none is free, INSERTs
 * go straight to their tables.
 *
 * Loss and duplication: a block is acknowledged only once appended to its slot, so a crash loses nothing (the
 * file keeps what was appended before a kill -9); the next start moves every generation left in a slot before
 * anything else runs. A row ends with its line feed, the last byte written: a row a crash cut short has none,
 * was never acknowledged, and is cut off before the slot is read (`cutTornRow`). A generation's INSERT carries
 * the token `landing-<generation>`, so a move that committed before a crash (slot not yet emptied) is
 * deduplicated when it runs again, views included. Slots do not deduplicate a retried block themselves: each
 * block is a numbered stage, read once per move. Generation ids are random UUIDs: no clock, no reuse.
 *
 * Earlier versions landed blocks in the MergeTree table `landing` (one partition per generation: part
 * directories cost ~3.5 ms of CPU to write and ~3 ms each to drop), then in Log tables (migration 9: each INSERT
 * rewrites and fdatasyncs its sizes.json twice). Recovery (landing-recovery.ts) still moves what is left in either.
 *
 * Visibility: landed rows reach queries after `move_delay` plus one move. `settle()` waits for that, for
 * callers that must read what they just wrote.
 *
 * Embedded store only: recovery moves every generation it finds, which is safe only when one process owns the
 * tables (chDB locks its data directory). Instances sharing a server would move each other's generations.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { SignalhouseError } from '../../core/errors.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import type { RetryPolicy } from '../exporterhelper/retry.ts';
import { BinaryReader } from './binary-reader.ts';
import { recoverLanded, SLOT_READ_SETTINGS } from './landing-recovery.ts';
import { BinaryWriter } from './binary-writer.ts';
import { LANDING_TABLE, landingSlotTable } from '../../storage/schema.ts';
import { type Store, sqlString, tsvEscape } from '../../storage/store.ts';

export type TargetTable = 'otel_logs' | 'otel_traces';
/** Tables a generation moves into, in the order it moves them. */
const TARGET_TABLES: readonly TargetTable[] = ['otel_logs', 'otel_traces'];

export interface LandingOptions {
  store: Store;
  database: string;
  /** How long a generation collects blocks before it moves. */
  moveDelay: number;
  /** A generation moves at once when it holds this many rows. */
  moveMaxRows: number;
  /**
   * The retry policy of moves: a retryable failure is retried for as long as it takes while not draining, and
   * while draining up to its max_elapsed_time (then the generation stays landed for the next start).
   */
  moveRetry: RetryPolicy;
  /** One INSERT of Native blocks into a target table, with its deduplication token. */
  insertTarget(table: TargetTable, payloads: readonly Buffer[], token: string): Promise<void>;
  /** Runs one INSERT with the exporter's retry policy; resolves with the final error, if any. */
  withRetry(label: string, attempt: () => Promise<void>): Promise<SignalhouseError | undefined>;
  isRetryable(err: unknown): boolean;
  telemetry: Telemetry;
  logger?: Logger;
}

export interface Landing {
  /** Commits one request group's Native block for `table`; resolves (with no error) once it is durable. */
  stage(table: TargetTable, block: Buffer, rows: number): Promise<SignalhouseError | undefined>;
  /** Moves every generation a previous run left behind; call before accepting data. Returns how many. */
  recover(): Promise<number>;
  /** Resolves when every block landed before the call has moved on (or, after `drain`, been left for the next start). */
  settle(): Promise<void>;
  /** Moves what has landed now, then gives up on moves that keep failing (they stay landed for the next start). */
  drain(): Promise<void>;
  /** Rows landed and not yet moved. */
  readonly backlogRows: number;
  /** Whether `stage` can take a block now: a generation is open or a slot is free (none before `recover`). */
  readonly hasRoom: boolean;
}

interface Generation {
  readonly id: string;
  /** Its slot: the File table its blocks land in, its own until it has moved on. */
  readonly slot: number;
  rows: number;
  /** Stage INSERTs into this generation still running (with their retries). */
  staging: number;
  sealed: boolean;
  moving: boolean;
  timer: NodeJS.Timeout | undefined;
  readonly done: Promise<void>;
  finish(): void;
}

const LANDING_COLUMNS = ['Generation', 'Stage', 'TargetTable', 'Block'];
const NEWLINE = Buffer.from('\n');
/**
 * Blocks up to this size land as TabSeparated text sent from memory (store.insertTsv): no spool file, ~2 ms of
 * CPU. Bigger ones (full-load groups) land as a Native row through a spool file instead: escaping megabytes on
 * the main thread cost ~10% of the events/s at 100 events per request.
 */
const TSV_MAX_BLOCK_BYTES = 64 * 1024;
/**
 * A one-row TSV INSERT needs neither parallel parsing nor pipeline threads: without them it runs on fewer
 * threads, each a hand-off that waits for a core under load (bench:ingest single-event p99 16.4 → 13.9 ms,
 * landing INSERT p50 2.6 → 2.3 ms).
 */
const TSV_SETTINGS = { input_format_parallel_parsing: '0', max_threads: '1' };

/** One landing row: generation, stage, table and the Native block, as TabSeparated or as a Native block. */
export function landRow(store: Store, table: string, row: { generation: string; stage: string; target: TargetTable; block: Buffer }): Promise<void> {
  if (row.block.length <= TSV_MAX_BLOCK_BYTES) {
    const body = Buffer.concat([Buffer.from(`${row.generation}\t${row.stage}\t${row.target}\t`), tsvEscape(row.block), NEWLINE]);
    return store.insertTsv({ table, columns: LANDING_COLUMNS, body, settings: TSV_SETTINGS });
  }
  const w = new BinaryWriter(256);
  w.varint(LANDING_COLUMNS.length);
  w.varint(1);
  for (const [name, value] of [
    ['Generation', row.generation],
    ['Stage', row.stage],
    ['TargetTable', row.target],
  ]) {
    w.str(name);
    w.str('String');
    w.str(value);
  }
  w.str('Block');
  w.str('String');
  w.varint(row.block.length);
  // The block follows as its own buffer: no copy.
  const payloads = [Buffer.from(w.view()), row.block];
  return store.insertNative({
    table,
    columns: `(${LANDING_COLUMNS.join(', ')})`,
    structure: LANDING_COLUMNS.map((c) => `${c} String`).join(', '),
    payloads,
    settings: 'insert_deduplicate = 0',
  });
}

/** The deduplication token of a generation's move: the same on every attempt, across restarts. */
export const moveToken = (generation: string) => `landing-${generation}`;

/**
 * Splits a RowBinary result of (String, String) rows into blocks per target table. A RowBinary String is a
 * LEB128 length and the bytes, read bounds-checked by BinaryReader.
 */
function blocksByTable(data: Buffer): Map<TargetTable, Buffer[]> {
  const out = new Map<TargetTable, Buffer[]>();
  const reader = new BinaryReader(data);
  while (reader.pos < reader.len) {
    const table = reader.bytes().toString('utf8');
    const block = reader.bytes();
    if (!TARGET_TABLES.includes(table as TargetTable)) throw new Error(`landing holds a block for unknown table ${JSON.stringify(table)}`);
    const list = out.get(table as TargetTable) ?? [];
    list.push(block);
    out.set(table as TargetTable, list);
  }
  return out;
}

export function createLanding(opts: LandingOptions): Landing {
  const { store, telemetry, logger } = opts;
  /** Where versions before migration 9 landed blocks; only recovery reads it. */
  const legacyTable = `${opts.database}.${LANDING_TABLE}`;
  const slotTable = (slot: number) => `${opts.database}.${landingSlotTable(slot)}`;
  /** Empty slots; filled by `recover`, which empties every slot first. */
  const freeSlots: number[] = [];
  const unfinished = new Set<Generation>();
  let current: Generation | undefined;
  let backlogRows = 0;
  let draining = false;
  /** Moves run one at a time, in the order their generations were sealed. */
  let moveChain: Promise<void> = Promise.resolve();
  let stageSeq = 0;

  function openGeneration(): Generation {
    const slot = freeSlots.shift();
    if (slot === undefined) throw new Error('no free landing slot (check hasRoom before stage)');
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const g: Generation = { id: randomUUID(), slot, rows: 0, staging: 0, sealed: false, moving: false, timer: undefined, done, finish };
    unfinished.add(g);
    return g;
  }

  function seal(g: Generation): void {
    if (g.sealed) return;
    g.sealed = true;
    if (g.timer) clearTimeout(g.timer);
    if (current === g) current = undefined;
    moveWhenReady(g);
  }

  /** A sealed generation moves once its last stage INSERT has finished. */
  function moveWhenReady(g: Generation): void {
    if (!g.sealed || g.staging > 0 || g.moving) return;
    g.moving = true;
    moveChain = moveChain.then(async () => {
      // Also when every stage INSERT failed: a block that committed although its INSERT reported failure (its
      // retries ran out) is in the slot and moves on with it, as it would stay in otel_logs without the landing
      // table; then the slot is emptied. A slot whose rows could not move stays taken until the next start.
      if (await moveWithRetry(slotTable(g.slot), g.id, `TRUNCATE TABLE ${slotTable(g.slot)}`)) freeSlots.push(g.slot);
      backlogRows -= g.rows;
      telemetry.landingRows.set(backlogRows);
      telemetry.landingMovedRows.inc(g.rows);
      unfinished.delete(g);
      g.finish();
    });
  }

  /** The generation's blocks, read on a writer connection (an id we made, inlined: see store.ts on parameters). */
  async function readBlocks(table: string, generation: string): Promise<Map<TargetTable, Buffer[]>> {
    // A slot may hold a retried block twice (slots do not deduplicate): one row per stage. The legacy table
    // deduplicated its INSERTs itself and has no Stage column.
    const oncePerStage = table === legacyTable ? '' : ' LIMIT 1 BY Stage';
    const data = await store.withWriter(async (writer) => {
      const rs = await writer.exec({
        query: `SELECT TargetTable, Block FROM ${table} WHERE Generation = ${sqlString(generation)}${oncePerStage}${SLOT_READ_SETTINGS} FORMAT RowBinary`,
      });
      const chunks: Buffer[] = [];
      for await (const chunk of rs.stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
    return blocksByTable(data);
  }

  /**
   * Moves one generation out of `table`: its blocks into their tables (one INSERT each), then `cleanup`, if any
   * (a statement of ours that empties the slot, or drops the generation's partition of the legacy table).
   */
  async function move(table: string, generation: string, cleanup?: string): Promise<void> {
    const end = telemetry.landingMoveDuration.startTimer();
    const blocks = await readBlocks(table, generation);
    for (const target of TARGET_TABLES) {
      const payloads = blocks.get(target);
      if (payloads) await opts.insertTarget(target, payloads, moveToken(generation));
    }
    if (cleanup) await store.withWriter((writer) => writer.command({ query: cleanup }));
    end();
  }

  /**
   * Retries a move while its failure is retryable: its rows are acknowledged. A permanent failure (the target
   * table refuses the rows) leaves the generation in the landing table, logged, and the next generations move
   * on; every start tries it again. While draining, retries stop after the policy's max_elapsed_time (next
   * start, again).
   */
  async function moveWithRetry(table: string, generation: string, cleanup: string): Promise<boolean> {
    const failure = await opts.moveRetry.run(() => move(table, generation, cleanup), {
      isRetryable: opts.isRetryable,
      persistent: () => !draining,
      onFailure(err, retryable, retrying) {
        telemetry.landingMoveFailures.inc({ retryable: String(retryable) });
        if (retrying) logger?.warn({ err, generation }, 'landed rows could not move on yet; retrying');
      },
    });
    if (failure === undefined) return true;
    logger?.error({ err: failure.error, generation }, 'landed rows could not move on; they stay in the landing table and the next start tries again');
    return false;
  }

  async function settle(): Promise<void> {
    if (current) seal(current);
    await Promise.all([...unfinished].map((g) => g.done));
  }

  return {
    get backlogRows() {
      return backlogRows;
    },

    get hasRoom() {
      return current !== undefined || freeSlots.length > 0;
    },

    async stage(target, block, rows) {
      const g = (current ??= openGeneration());
      g.staging++;
      const stage = String(++stageSeq);
      // Slots have no deduplication: a retried block may land twice, and its move reads each stage once.
      const err = await opts.withRetry(LANDING_TABLE, () => landRow(store, slotTable(g.slot), { generation: g.id, stage, target, block }));
      g.staging--;
      if (err === undefined) {
        g.rows += rows;
        backlogRows += rows;
        telemetry.landingRows.set(backlogRows);
        if (g.rows >= opts.moveMaxRows || draining) seal(g);
        else g.timer ??= setTimeout(() => seal(g), opts.moveDelay);
      } else if (g.rows === 0 && g.staging === 0) seal(g);
      moveWhenReady(g);
      return err;
    },

    async recover() {
      const { moved, freeSlots: empty } = await recoverLanded({ store, database: opts.database, telemetry, logger, isRetryable: opts.isRetryable, move });
      freeSlots.push(...empty);
      return moved;
    },

    settle,

    async drain() {
      draining = true;
      await settle();
    },
  };
}
