/**
 * Recovery of landed rows at start: every generation a previous run left in a landing slot moves on to its
 * tables before anything else runs, and so does what earlier versions left in their landing tables (the
 * MergeTree table `landing` before migration 9, one partition per generation; the Log slots of migration 9).
 * A row a crash cut short at the end of a slot's file is cut off first (`cutTornRow`).
 */
import { type FileHandle, open } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Telemetry } from '../../core/telemetry.ts';
import { LANDING_SLOTS, LANDING_TABLE, landingSlotTable, logLandingSlotTable } from '../../storage/schema.ts';
import { type Store, sqlString } from '../../storage/store.ts';

/** Reads of a slot: a File table whose file was never written reads as empty rather than failing. */
export const SLOT_READ_SETTINGS = ' SETTINGS engine_file_empty_if_not_exists = 1';

export interface RecoveryDeps {
  store: Store;
  database: string;
  telemetry: Telemetry;
  logger?: Logger;
  isRetryable(err: unknown): boolean;
  /** Moves one generation out of a table into its target tables, then runs `cleanup` (landing.ts). */
  move(table: string, generation: string, cleanup?: string): Promise<void>;
}

/**
 * Cuts off a row a crash left half-written at the end of a slot's file. Every landed row ends with its line feed
 * (TabSeparated escapes the ones inside values), the last byte its INSERT writes, and a kill -9 keeps a prefix of
 * what was written: whatever follows the last line feed belongs to an INSERT that never returned, so no request
 * was acknowledged for it. Returns the bytes cut off.
 */
export async function cutTornRow(path: string): Promise<number> {
  let file: FileHandle;
  try {
    file = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  try {
    const { size } = await file.stat();
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await file.read(chunk, 0, end - start, start);
      const lineEnd = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (lineEnd >= 0) {
        end = start + lineEnd + 1;
        break;
      }
      end = start;
    }
    if (end < size) await file.truncate(end);
    return size - end;
  } finally {
    await file.close();
  }
}

/**
 * Moves what a previous run left landed; returns how many generations it moved, the slots it left empty and
 * each slot's file.
 * Storage trouble fails the start; rows the tables refuse stay landed (logged) and do not block it.
 */
export async function recoverLanded(deps: RecoveryDeps): Promise<{ moved: number; freeSlots: number[]; slotFiles: string[] }> {
  const { store, telemetry, logger, move } = deps;
  const legacyTable = `${deps.database}.${LANDING_TABLE}`;
  const logSlotTable = (slot: number) => `${deps.database}.${logLandingSlotTable(slot)}`;
  const slotTable = (slot: number) => `${deps.database}.${landingSlotTable(slot)}`;
  const freeSlots: number[] = [];

  let moved = 0;
  const moveLeft = async (table: string, generation: string, cleanup?: string): Promise<boolean> => {
    moved++;
    try {
      await move(table, generation, cleanup);
      return true;
    } catch (err) {
      if (deps.isRetryable(err)) throw err;
      telemetry.landingMoveFailures.inc({ retryable: 'false' });
      logger?.error({ err, generation }, 'landed rows could not move on; they stay in the landing table');
      return false;
    }
  };
  const generationsIn = async (table: string) =>
    (
      await (
        await store.client.query({ query: `SELECT DISTINCT Generation FROM ${table}${SLOT_READ_SETTINGS}`, format: 'JSONEachRow' })
      ).json<{ Generation: string }>()
    ).map((r) => r.Generation);
  // The MergeTree table of versions before migration 9: one partition per generation.
  for (const generation of await generationsIn(legacyTable)) {
    await moveLeft(legacyTable, generation, `ALTER TABLE ${legacyTable} DROP PARTITION ${sqlString(generation)}`);
  }
  // Slots hold one generation each; after a crash between a move's INSERT and its TRUNCATE, it moves again
  // (its token makes that a no-op) and the slot is emptied. The Log slots of migration 9 are emptied and
  // left unused.
  const emptySlot = async (table: string): Promise<boolean> => {
    const generations = await generationsIn(table);
    let empty = true;
    for (const generation of generations) empty = (await moveLeft(table, generation)) && empty;
    if (empty && generations.length > 0) await store.client.command({ query: `TRUNCATE TABLE ${table}` });
    return empty;
  };
  for (let slot = 0; slot < LANDING_SLOTS; slot++) await emptySlot(logSlotTable(slot));
  const files = await store.client.query({
    query: "SELECT name, data_paths[1] AS path FROM system.tables WHERE database = {db:String} AND engine = 'File'",
    query_params: { db: deps.database },
    format: 'JSONEachRow',
  });
  const pathsByTable = new Map((await files.json<{ name: string; path: string }>()).map((r) => [r.name, r.path]));
  const slotFiles: string[] = [];
  for (let slot = 0; slot < LANDING_SLOTS; slot++) {
    const path = pathsByTable.get(landingSlotTable(slot));
    if (path === undefined) throw new Error(`landing slot ${landingSlotTable(slot)} is missing (migration 10)`);
    slotFiles.push(path);
    const cut = await cutTornRow(path);
    if (cut > 0)
      logger?.warn({ slot: landingSlotTable(slot), bytes: cut }, 'cut off a landing row a crash left half-written (its request was never acknowledged)');
    if (await emptySlot(slotTable(slot))) freeSlots.push(slot);
  }
  return { moved, freeSlots, slotFiles };
}
