/**
 * The landing table: where small INSERTs commit. Every INSERT into otel_logs pays for its columns, its indexes
 * and the rollup's view (~16 ms for one row on the embedded store, ~9 ms of it the view), and the reply waits
 * for it. An INSERT into `landing` carries the same rows as one Native block in a single String column, with no
 * view (~2 ms), so a small request is acknowledged as soon as its block is committed there. Landed blocks move
 * on in bulk: a generation (one partition of `landing`) collects blocks for `move_delay` or `move_max_rows`,
 * then its blocks are read back and inserted into their tables in one INSERT per table, and the partition is
 * dropped. Views and indexes then run once per generation instead of once per request.
 *
 * Loss and duplication: a block is acknowledged only once committed in `landing`, so a crash loses nothing;
 * the next start moves every generation left there before anything else runs. A generation's INSERT carries
 * the token `landing-<generation>`, so a move that committed before a crash (partition not yet dropped) is
 * deduplicated when it runs again, views included. Generation ids are random UUIDs: no clock, no reuse.
 *
 * Visibility: landed rows reach queries after `move_delay` plus one move (tens of ms). `settle()` waits for
 * that, for callers that must read what they just wrote.
 *
 * Embedded store only: recovery moves every generation it finds, which is safe only when one process owns the
 * table (chDB locks its data directory). Instances sharing a server would move each other's generations.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { SignalhouseError } from '../../core/errors.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import { WireReader } from '../../receiver/otlp/wire.ts';
import { BinaryWriter } from './binary-writer.ts';
import { LANDING_TABLE } from './schema.ts';
import { type Store, sqlString } from './store.ts';

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
  /** How long a move is retried before `drain` leaves it for the next start. */
  maxRetryElapsed: number;
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
}

interface Generation {
  readonly id: string;
  rows: number;
  /** Stage INSERTs into this generation still running (with their retries). */
  staging: number;
  sealed: boolean;
  moving: boolean;
  timer: NodeJS.Timeout | undefined;
  readonly done: Promise<void>;
  finish(): void;
}

/** Native block header for one landing row: three String columns, one row. */
function landingRow(generation: string, table: TargetTable, block: Buffer): Buffer[] {
  const w = new BinaryWriter(256);
  w.varint(3);
  w.varint(1);
  for (const [name, value] of [['Generation', generation], ['TargetTable', table]]) {
    w.str(name);
    w.str('String');
    w.str(value);
  }
  w.str('Block');
  w.str('String');
  w.varint(block.length);
  // The block itself follows as its own buffer: no copy.
  return [Buffer.from(w.view()), block];
}

const LANDING_STRUCTURE = 'Generation String, TargetTable String, Block String';

/** The deduplication token of a generation's move: the same on every attempt, across restarts. */
export const moveToken = (generation: string) => `landing-${generation}`;

/**
 * Splits a RowBinary result of (String, String) rows into blocks per target table. A RowBinary String is a
 * LEB128 length and the bytes, as a protobuf length-delimited field: the OTLP wire reader reads it, bounds-checked.
 */
function blocksByTable(data: Buffer): Map<TargetTable, Buffer[]> {
  const out = new Map<TargetTable, Buffer[]>();
  const reader = new WireReader(data);
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
  const table = `${opts.database}.${LANDING_TABLE}`;
  const unfinished = new Set<Generation>();
  let current: Generation | undefined;
  let backlogRows = 0;
  let draining = false;
  /** Moves run one at a time, in the order their generations were sealed. */
  let moveChain: Promise<void> = Promise.resolve();
  let stageSeq = 0;

  function openGeneration(): Generation {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const g: Generation = { id: randomUUID(), rows: 0, staging: 0, sealed: false, moving: false, timer: undefined, done, finish };
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
      // retries ran out) is in the partition and moves on with it, as it would stay in otel_logs without the
      // landing table; then the partition is dropped.
      await moveWithRetry(g.id);
      backlogRows -= g.rows;
      telemetry.landingRows.set(backlogRows);
      telemetry.landingMovedRows.inc(g.rows);
      unfinished.delete(g);
      g.finish();
    });
  }

  /** The generation's blocks, read on a writer connection (an id we made, inlined: see store.ts on parameters). */
  async function readBlocks(generation: string): Promise<Map<TargetTable, Buffer[]>> {
    const data = await store.withWriter(async (writer) => {
      const rs = await writer.exec({ query: `SELECT TargetTable, Block FROM ${table} WHERE Generation = ${sqlString(generation)} FORMAT RowBinary` });
      const chunks: Buffer[] = [];
      for await (const chunk of rs.stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
    return blocksByTable(data);
  }

  /** Moves one generation: its blocks into their tables (one INSERT each), then its partition is dropped. */
  async function move(generation: string): Promise<void> {
    const end = telemetry.landingMoveDuration.startTimer();
    const blocks = await readBlocks(generation);
    for (const target of TARGET_TABLES) {
      const payloads = blocks.get(target);
      if (payloads) await opts.insertTarget(target, payloads, moveToken(generation));
    }
    // The id is ours (a UUID), never user input.
    await store.withWriter((writer) => writer.command({ query: `ALTER TABLE ${table} DROP PARTITION ${sqlString(generation)}` }));
    end();
  }

  /**
   * Retries a move while its failure is retryable: its rows are acknowledged. A permanent failure (the target
   * table refuses the rows) leaves the generation in the landing table, logged, and the next generations move
   * on; every start tries it again. While draining, retries stop after `maxRetryElapsed` (next start, again).
   */
  async function moveWithRetry(generation: string): Promise<void> {
    const started = Date.now();
    let delay = 100;
    for (;;) {
      try {
        return await move(generation);
      } catch (err) {
        const retryable = opts.isRetryable(err);
        telemetry.landingMoveFailures.inc({ retryable: String(retryable) });
        if (!retryable || (draining && Date.now() - started > opts.maxRetryElapsed)) {
          logger?.error({ err, generation }, 'landed rows could not move on; they stay in the landing table and the next start tries again');
          return;
        }
        logger?.warn({ err, generation }, 'landed rows could not move on yet; retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  async function settle(): Promise<void> {
    if (current) seal(current);
    await Promise.all([...unfinished].map((g) => g.done));
  }

  return {
    get backlogRows() {
      return backlogRows;
    },

    async stage(target, block, rows) {
      const g = (current ??= openGeneration());
      g.staging++;
      const token = `stage-${g.id}-${++stageSeq}`;
      const payloads = landingRow(g.id, target, block);
      const err = await opts.withRetry(LANDING_TABLE, () =>
        store.insertNative({ table, columns: '(Generation, TargetTable, Block)', structure: LANDING_STRUCTURE, payloads, settings: `insert_deduplication_token = '${token}'` }),
      );
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
      // A generation's parts are dropped within a second of being written: merging them is wasted work. Not a
      // table setting, so it is issued at every start.
      await store.client.command({ query: `SYSTEM STOP MERGES ${table}` });
      const rs = await store.client.query({ query: `SELECT DISTINCT Generation FROM ${table}`, format: 'JSONEachRow' });
      const generations = (await rs.json<{ Generation: string }>()).map((r) => r.Generation);
      for (const generation of generations) {
        try {
          await move(generation);
        } catch (err) {
          // Storage trouble fails the start; rows the tables refuse stay landed (logged) and do not block it.
          if (opts.isRetryable(err)) throw err;
          telemetry.landingMoveFailures.inc({ retryable: 'false' });
          logger?.error({ err, generation }, 'landed rows could not move on; they stay in the landing table');
        }
      }
      return generations.length;
    },

    settle,

    async drain() {
      draining = true;
      await settle();
    },
  };
}
