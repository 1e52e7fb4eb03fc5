/**
 * The bounded group-commit queue an exporter pushes through, as the Collector's exporterhelper has a sending
 * queue and a batcher. Requests offer their items and wait; each is answered when the push carrying it has
 * committed (so a 2xx always means "stored").
 *
 * Group commit: one push runs per key (an exporter's table) at a time. When the key is idle, items go at once;
 * while a push runs, the items that arrive wait and then go together in the next one, so pushes grow with load
 * instead of multiplying. `maxBatchRows` caps a push; `maxDelay` > 0 makes items wait that long first, to gather
 * bigger pushes under light load at the cost of latency. With `maxPerKey` > 1, once `parallelMinRows` are
 * waiting a second push may run beside the first.
 *
 * Isolation: a push that fails permanently with several requests in it is pushed again request by request, so
 * one bad request cannot fail its neighbours.
 *
 * Memory is bounded: rows accepted but not committed are capped by `maxQueueRows` and their estimated bytes by
 * `maxQueueBytes`; beyond either, `offer` refuses at once with OVERLOADED (503 + Retry-After). While draining it
 * refuses with SHUTTING_DOWN.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SignalhouseError } from '../../core/errors.ts';
import { intLike } from '../../core/units.ts';

/** The `queue` options of an exporter's config. */
export const queueConfigSchema = z.strictObject({ max_rows: intLike(1, 100_000_000).default(500_000) }).prefault({});
export type QueueConfig = z.infer<typeof queueConfigSchema>;

export interface GroupCommitQueueOptions<K, T> {
  /** Rows in one push at most. */
  maxBatchRows: number;
  /** How long a group gathers items before it is sealed, in ms; 0 is pure group commit. */
  maxDelay: number;
  maxQueueRows: number;
  maxQueueBytes: number;
  /** Pushes running at once, all keys together. */
  maxConcurrent: number;
  /** Pushes running at once for one key. */
  maxPerKey: number;
  /** Rows waiting for a busy key that justify a second, parallel push (with `maxPerKey` > 1). */
  parallelMinRows: number;
  /**
   * Commits some requests' items in one go. `rows` is their sum; `id` is unique to this push, so it can serve
   * as its idempotency key across retries. Resolves with the error its requests get, if any; a rejection (a
   * bug) fails them as INTERNAL.
   */
  push(key: K, items: readonly T[], rows: number, id: string): Promise<SignalhouseError | undefined>;
  /** After a successful push (before its requests are answered). */
  onCommitted?(key: K, rows: number): void;
  /** Rows accepted and not yet committed, whenever that changes. */
  onQueueRows?(rows: number): void;
}

export interface GroupCommitQueue<K, T> {
  /** Resolves once the push carrying `item` has committed; rejects with a SignalhouseError otherwise. */
  offer(key: K, item: T, rows: number, bytes: number): Promise<void>;
  /** Shutdown has begun: push what is waiting now and delay nothing from now on. */
  flushNow(): void;
  /** Refuses new items, pushes everything queued and waits for every push to finish. */
  drain(): Promise<void>;
}

interface Waiter<T> {
  item: T;
  rows: number;
  bytes: number;
  resolve(): void;
  reject(err: SignalhouseError): void;
}

interface Group<K, T> {
  key: K;
  waiters: Waiter<T>[];
  rows: number;
  bytes: number;
}

export function createGroupCommitQueue<K, T>(opts: GroupCommitQueueOptions<K, T>): GroupCommitQueue<K, T> {
  const { maxBatchRows, maxDelay, maxQueueRows, maxQueueBytes, maxConcurrent, maxPerKey, parallelMinRows } = opts;
  const open = new Map<K, Group<K, T>>();
  const timers = new Map<K, NodeJS.Timeout>();
  const ready: Group<K, T>[] = [];
  const inFlight = new Set<Promise<void>>();
  /** Pushes running per key. */
  const running = new Map<K, number>();
  /** Rows in `ready` per key. */
  const readyRows = new Map<K, number>();
  let queuedRows = 0;
  let queuedBytes = 0;
  let draining = false;
  let immediate = false;

  const addReady = (key: K, rows: number) => readyRows.set(key, (readyRows.get(key) ?? 0) + rows);

  function seal(key: K): void {
    const t = timers.get(key);
    if (t) clearTimeout(t);
    timers.delete(key);
    const g = open.get(key);
    if (!g) return;
    open.delete(key);
    ready.push(g);
    addReady(key, g.rows);
    pump();
  }

  /** Starts pushes while slots are free, merging the ready groups of a key up to `maxBatchRows`. */
  function pump(): void {
    for (let i = 0; i < ready.length && inFlight.size < maxConcurrent; ) {
      const g = ready[i];
      const runningHere = running.get(g.key) ?? 0;
      if (runningHere >= maxPerKey || (runningHere > 0 && (readyRows.get(g.key) ?? 0) < Math.min(parallelMinRows, maxBatchRows))) {
        i++;
        continue;
      }
      ready.splice(i, 1);
      for (let j = i; j < ready.length && g.rows < maxBatchRows; ) {
        const next = ready[j];
        if (next.key === g.key && g.rows + next.rows <= maxBatchRows) {
          g.waiters.push(...next.waiters);
          g.rows += next.rows;
          g.bytes += next.bytes;
          ready.splice(j, 1);
        } else j++;
      }
      addReady(g.key, -g.rows);
      running.set(g.key, (running.get(g.key) ?? 0) + 1);
      const p: Promise<void> = commit(g).finally(() => {
        inFlight.delete(p);
        running.set(g.key, running.get(g.key)! - 1);
        pump();
      });
      inFlight.add(p);
    }
  }

  async function push(key: K, waiters: readonly Waiter<T>[], rows: number, id: string): Promise<SignalhouseError | undefined> {
    try {
      return await opts.push(
        key,
        waiters.map((w) => w.item),
        rows,
        id,
      );
    } catch (err) {
      // A bug, not storage trouble (that comes back as a value): its requests fail rather than wait forever.
      return new SignalhouseError('INTERNAL', `events could not be committed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** One push for the group; its waiters are settled here and only here. */
  async function commit(g: Group<K, T>): Promise<void> {
    const id = randomUUID();
    const err = await push(g.key, g.waiters, g.rows, id);
    // Release queue space before answering, so a client that sends again right after its reply finds room.
    queuedRows -= g.rows;
    queuedBytes -= g.bytes;
    opts.onQueueRows?.(queuedRows);
    if (err === undefined) {
      opts.onCommitted?.(g.key, g.rows);
      for (const w of g.waiters) w.resolve();
      return;
    }
    if (!err.retryable && g.waiters.length > 1) {
      // Find the culprit: each request again on its own, so only the bad one fails.
      for (let i = 0; i < g.waiters.length; i++) {
        const w = g.waiters[i];
        const e = await push(g.key, [w], w.rows, `${id}-${i}`);
        if (e === undefined) w.resolve();
        else w.reject(e);
      }
      return;
    }
    for (const w of g.waiters) w.reject(err);
  }

  return {
    offer(key, item, rows, bytes) {
      if (draining)
        return Promise.reject(new SignalhouseError('SHUTTING_DOWN', 'server is shutting down, retry against another instance', { retryAfterSeconds: 1 }));
      if (queuedRows + rows > maxQueueRows || queuedBytes + bytes > maxQueueBytes) {
        return Promise.reject(
          new SignalhouseError('OVERLOADED', `ingest queue is full (${queuedRows} rows waiting for storage), retry later`, { retryAfterSeconds: 1 }),
        );
      }
      queuedRows += rows;
      queuedBytes += bytes;
      opts.onQueueRows?.(queuedRows);
      return new Promise<void>((resolve, reject) => {
        let g = open.get(key);
        if (!g) {
          g = { key, waiters: [], rows: 0, bytes: 0 };
          open.set(key, g);
        }
        g.waiters.push({ item, rows, bytes, resolve, reject });
        g.rows += rows;
        g.bytes += bytes;
        // maxDelay 0 is pure group commit: seal at once; pump() holds the group while the key's push runs.
        if (g.rows >= maxBatchRows || immediate || maxDelay === 0) seal(key);
        else if (!timers.has(key))
          timers.set(
            key,
            setTimeout(() => seal(key), maxDelay),
          );
      });
    },
    flushNow() {
      immediate = true;
      for (const key of [...open.keys()]) seal(key);
    },
    async drain() {
      draining = true;
      immediate = true;
      for (const key of [...open.keys()]) seal(key);
      while (inFlight.size > 0 || ready.length > 0) {
        pump();
        await Promise.allSettled([...inFlight]);
      }
    },
  };
}
