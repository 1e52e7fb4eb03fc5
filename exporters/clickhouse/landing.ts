/**
 * The landing slots: where small commits land. Every INSERT into otel_logs pays for its columns, its indexes
 * and the rollup's view (~16 ms for one row on the embedded store, ~9 ms of it the view), and the reply waits
 * for it. A landing slot is a File table (one TabSeparated file) whose rows each carry one commit's rows as a
 * Native block in a String column; this process appends a row to the slot's file itself (`appendLandingRow`:
 * the bytes the engine's INSERT would write, without an INSERT), so a small request is acknowledged as soon as
 * its block is in the file. Landed blocks move on in bulk: a generation (the blocks of one slot) collects blocks
 * for `move_delay` or `move_max_rows`, then its blocks, kept in memory until then, are inserted into their
 * tables in one INSERT per table, and the slot is emptied with TRUNCATE; the file is read back only by recovery
 * at the next start (reading it back on every move cost about as much as the move's INSERT). Views and indexes
 * then run once per generation instead of once per request. There are LANDING_SLOTS slots; when none is free, INSERTs
 * go straight to their tables.
 *
 * Loss and duplication: a block is acknowledged only once appended to its slot, so a crash loses nothing (the
 * file keeps what was written before a kill -9); the next start moves every generation left in a slot before
 * anything else runs. A row ends with its line feed, the last byte written: a row a crash cut short has none,
 * was never acknowledged, and is cut off before the slot is read (`cutTornRow`). A generation's INSERT carries
 * the token `landing-<generation>`, so a move that committed before a crash (slot not yet emptied) is
 * deduplicated when it runs again, views included. Each block is a numbered stage, and recovery reads each
 * stage once (a slot of an earlier version may hold a retried INSERT's block twice). Generation ids are random
 * UUIDs: no clock, no reuse.
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
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import { SignalhouseError } from '../../core/errors.ts';
import type { Batch } from '../../core/event.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import type { RetryPolicy } from '../exporterhelper/retry.ts';
import { BinaryReader } from './binary-reader.ts';
import { recoverLanded, SLOT_READ_SETTINGS } from './landing-recovery.ts';
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
  /** The Native block of some batches for a target table (to merge a generation's blocks). */
  encodeBlock(table: TargetTable, batches: readonly Batch[]): Buffer;
  /** One INSERT of Native blocks into a target table, with its deduplication token. */
  insertTarget(table: TargetTable, payloads: readonly Buffer[], token: string): Promise<void>;
  isRetryable(err: unknown): boolean;
  telemetry: Telemetry;
  logger?: Logger;
}

export interface Landing {
  /** Commits one request group's Native block for `table` (`batches`: what it encodes); resolves (with no error) once it is durable. */
  stage(table: TargetTable, block: Buffer, rows: number, batches: readonly Batch[]): Promise<SignalhouseError | undefined>;
  /** Moves every generation a previous run left behind; call before accepting data. Returns how many. */
  recover(): Promise<number>;
  /** Resolves when every block landed before the call has moved on (or, after `drain`, been left for the next start). */
  settle(): Promise<void>;
  /** Moves what has landed now, then gives up on moves that keep failing (they stay landed for the next start). */
  drain(): Promise<void>;
  /** Rows landed and not yet moved. */
  readonly backlogRows: number;
  /** Bytes of the blocks landed and not yet moved, which the moves take from memory. */
  readonly backlogBytes: number;
  /** Whether `stage` can take a block now: a generation is open or a slot is free (none before `recover`). */
  readonly hasRoom: boolean;
}

/** A generation's blocks for one table, and while it is small, the batches they encode (to merge them). */
interface Landed {
  blocks: Buffer[];
  batches: Batch[] | undefined;
  rows: number;
}

/**
 * A generation's blocks for one table are merged into one before its move while it holds at most this many rows.
 * ClickHouse pays ~0.25 ms of CPU for every Native block an INSERT carries (1,000 one-row blocks: ~250 ms; one
 * 1,000-row block: ~25 ms), and at 1,000 single-event requests a second every commit is a block of one or two
 * rows. Above it, blocks are large enough that merging saves little, and the batches would hold memory.
 */
const MERGE_MAX_ROWS = 5_000;
/**
 * ...and while its blocks hold at most this many rows on average: re-encoding costs ~1–10 µs a row on the main
 * thread (web events, ~30 attributes, the most), so merging pays only for blocks of a few rows.
 */
const MERGE_MAX_ROWS_PER_BLOCK = 20;
/** The Stage of a generation's merged block in its slot: recovery then moves that one instead of the others. */
export const MERGED_STAGE = 'merged';

interface Generation {
  readonly id: string;
  /** Its slot: the File table its blocks land in, its own until it has moved on. */
  readonly slot: number;
  rows: number;
  sealed: boolean;
  moving: boolean;
  /** What landed, by table: the move inserts these (the slot's file is read only by recovery). */
  readonly landed: Map<TargetTable, Landed>;
  bytes: number;
  timer: NodeJS.Timeout | undefined;
  readonly done: Promise<void>;
  finish(): void;
}

export const LANDING_COLUMNS = ['Generation', 'Stage', 'TargetTable', 'Block'];

export interface LandingRow {
  generation: string;
  stage: string;
  target: TargetTable;
  block: Buffer;
}

/** One landing row as the slot's file holds it: the four columns as TabSeparated, ending with its line feed. */
export function landingRowBytes(row: LandingRow): Buffer {
  const head = Buffer.from(`${row.generation}\t${row.stage}\t${row.target}\t`, 'latin1');
  const block = tsvEscape(row.block);
  const bytes = Buffer.allocUnsafe(head.length + block.length + 1);
  head.copy(bytes, 0);
  block.copy(bytes, head.length);
  bytes[bytes.length - 1] = 0x0a;
  return bytes;
}

/**
 * Appends one landing row to a slot's file, as the File engine's INSERT would: the same bytes, written by this
 * process in one write instead of through a ClickHouse INSERT (~1 ms of the engine's CPU and two thread
 * hand-offs for every small request's commit; the append is a few µs on the main thread). The row is durable
 * against a crash of the process once this returns, as an INSERT's are (File tables do not fsync). A write that
 * fails part-way is cut back. The file is opened for each row: TRUNCATE TABLE (after a move) may replace it.
 */
export function appendLandingRow(path: string, row: LandingRow): void {
  const bytes = landingRowBytes(row);
  let fd: number;
  try {
    fd = openSync(path, 'a');
  } catch (err) {
    throw slotWriteError(err);
  }
  try {
    const size = fstatSync(fd).size;
    try {
      for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written);
    } catch (err) {
      try {
        ftruncateSync(fd, size);
      } catch {
        // Left torn: its generation takes no more rows, and recovery cuts the tail off at the next start.
      }
      throw slotWriteError(err);
    }
  } finally {
    closeSync(fd);
  }
}

/** A slot that cannot take a row (disk full, I/O error): nothing was acknowledged, the client retries later. */
const slotWriteError = (err: unknown) =>
  new SignalhouseError('STORAGE_UNAVAILABLE', `storage unavailable, retry later: ${(err as Error).message}`, { cause: err, retryAfterSeconds: 5 });

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
  /** Each slot's file, from `recover`. */
  let slotFiles: readonly string[] = [];
  const unfinished = new Set<Generation>();
  let current: Generation | undefined;
  let backlogRows = 0;
  let backlogBytes = 0;
  let draining = false;
  /** Moves run one at a time, in the order their generations were sealed. */
  let moveChain: Promise<void> = Promise.resolve();
  let stageSeq = 0;

  /** Appends a block to its slot's file; the error its requests get if the file could not take it (not retried). */
  function landBlock(slot: number, row: LandingRow): SignalhouseError | undefined {
    const end = telemetry.exportCommitDuration.startTimer({ table: LANDING_TABLE });
    try {
      appendLandingRow(slotFiles[slot], row);
      return undefined;
    } catch (err) {
      telemetry.exportFailures.inc({ table: LANDING_TABLE, retryable: 'true' });
      return err as SignalhouseError;
    } finally {
      end();
    }
  }

  function openGeneration(): Generation {
    const slot = freeSlots.shift();
    if (slot === undefined) throw new Error('no free landing slot (check hasRoom before stage)');
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const g: Generation = { id: randomUUID(), slot, rows: 0, landed: new Map(), bytes: 0, sealed: false, moving: false, timer: undefined, done, finish };
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

  /** A sealed generation moves (one at a time, in order). */
  function moveWhenReady(g: Generation): void {
    if (!g.sealed || g.moving) return;
    g.moving = true;
    moveChain = moveChain.then(async () => {
      // Its blocks from memory, then the slot is emptied. A slot whose rows could not move stays taken (and its
      // file holds them) until the next start.
      const blocks = new Map([...g.landed].map(([table, landed]) => [table, mergedBlocks(g, table, landed)]));
      g.landed.clear();
      if (await moveWithRetry(slotTable(g.slot), g.id, `TRUNCATE TABLE ${slotTable(g.slot)}`, blocks)) freeSlots.push(g.slot);
      backlogRows -= g.rows;
      backlogBytes -= g.bytes;
      telemetry.landingRows.set(backlogRows);
      telemetry.landingMovedRows.inc(g.rows);
      unfinished.delete(g);
      g.finish();
    });
  }

  /**
   * The blocks a generation moves into `table`: one merged block when it holds several and their batches, else
   * the blocks as landed. The merged block is appended to the slot first (Stage `merged`), so that a move
   * recovery repeats after a crash inserts the same block under the same deduplication token; if it cannot be
   * appended, the blocks as landed move instead.
   */
  function mergedBlocks(g: Generation, table: TargetTable, landed: Landed): Buffer[] {
    if (landed.blocks.length < 2 || landed.batches === undefined || landed.rows > landed.blocks.length * MERGE_MAX_ROWS_PER_BLOCK) return landed.blocks;
    try {
      const merged = opts.encodeBlock(table, landed.batches);
      appendLandingRow(slotFiles[g.slot], { generation: g.id, stage: MERGED_STAGE, target: table, block: merged });
      telemetry.landingMergedBlocks.inc(landed.blocks.length);
      return [merged];
    } catch (err) {
      logger?.warn({ err, generation: g.id }, 'landed blocks could not be merged; they move as they landed');
      return landed.blocks;
    }
  }

  /** The generation's blocks, read on a writer connection (an id we made, inlined: see store.ts on parameters). */
  async function readBlocks(table: string, generation: string): Promise<Map<TargetTable, Buffer[]>> {
    // A table's merged block when the slot holds one, else its blocks as landed. A slot of an earlier version
    // may hold a retried block twice (slots do not deduplicate): one row per stage. The legacy table
    // deduplicated its INSERTs itself and has no Stage column.
    const id = sqlString(generation);
    const query =
      table === legacyTable
        ? `SELECT TargetTable, Block FROM ${table} WHERE Generation = ${id}${SLOT_READ_SETTINGS} FORMAT RowBinary`
        : `SELECT TargetTable, Block FROM ${table} WHERE Generation = ${id}` +
          ` AND (Stage = '${MERGED_STAGE}') = (TargetTable IN (SELECT TargetTable FROM ${table} WHERE Generation = ${id} AND Stage = '${MERGED_STAGE}'))` +
          ` LIMIT 1 BY TargetTable, Stage${SLOT_READ_SETTINGS} FORMAT RowBinary`;
    const data = await store.withWriter(async (writer) => {
      const rs = await writer.exec({ query });
      const chunks: Buffer[] = [];
      for await (const chunk of rs.stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
    return blocksByTable(data);
  }

  /**
   * Moves one generation out of `table`: its blocks (`landed`, or read from the table) into their tables (one
   * INSERT each), then `cleanup`, if any (a statement of ours that empties the slot, or drops the generation's
   * partition of the legacy table).
   */
  async function move(table: string, generation: string, cleanup?: string, landed?: Map<TargetTable, Buffer[]>): Promise<void> {
    const end = telemetry.landingMoveDuration.startTimer();
    const blocks = landed ?? (await readBlocks(table, generation));
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
  async function moveWithRetry(table: string, generation: string, cleanup: string, landed: Map<TargetTable, Buffer[]>): Promise<boolean> {
    const failure = await opts.moveRetry.run(() => move(table, generation, cleanup, landed), {
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

    get backlogBytes() {
      return backlogBytes;
    },

    get hasRoom() {
      return current !== undefined || freeSlots.length > 0;
    },

    async stage(target, block, rows, batches) {
      const g = (current ??= openGeneration());
      const err = landBlock(g.slot, { generation: g.id, stage: String(++stageSeq), target, block });
      if (err === undefined) {
        let landed = g.landed.get(target);
        if (landed === undefined) g.landed.set(target, (landed = { blocks: [], batches: [], rows: 0 }));
        landed.blocks.push(block);
        landed.rows += rows;
        if (landed.batches && landed.rows <= MERGE_MAX_ROWS) landed.batches.push(...batches);
        else landed.batches = undefined;
        g.rows += rows;
        g.bytes += block.length;
        backlogRows += rows;
        backlogBytes += block.length;
        telemetry.landingRows.set(backlogRows);
        if (g.rows >= opts.moveMaxRows || draining) seal(g);
        else g.timer ??= setTimeout(() => seal(g), opts.moveDelay);
      } else {
        // What landed before it moves on; later blocks open a generation in another slot (none is appended
        // after a row the failure may have left torn).
        seal(g);
      }
      moveWhenReady(g);
      return err;
    },

    async recover() {
      const recovered = await recoverLanded({ store, database: opts.database, telemetry, logger, isRetryable: opts.isRetryable, move });
      slotFiles = recovered.slotFiles;
      freeSlots.push(...recovered.freeSlots);
      const moved = recovered.moved;
      return moved;
    },

    settle,

    async drain() {
      draining = true;
      await settle();
    },
  };
}
