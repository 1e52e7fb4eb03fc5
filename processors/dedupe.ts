/**
 * dedupe: passes over events already accepted within the window (default 10 minutes, up to 24 h), so retried
 * requests and events repeated across batches are stored once; such a repeat counts as accepted (a retry is
 * idempotent) and its per-event result says `duplicate`. The key is the tenant plus the event id
 * (`messageId`, `uuid`, `event_id`, `log.record.uid`; spans: trace id + span id); an event without an id gets a
 * content hash as its id, which is stored, so it deduplicates too.
 *
 * Loss-free by construction: an id is remembered when its batch passes, but only as pending. A copy arriving
 * while the original is still in flight is dropped, and its request waits for the original's commit (and fails
 * retryably if that fails). When a batch fails to commit, its ids are forgotten, so the client's retry is
 * accepted. At start the window is rebuilt from storage, so a restart does not let duplicates through.
 *
 * Memory is bounded by `max_ids` (oldest forgotten first). Ids live as 96-bit hashes in typed arrays (see
 * id-window.ts), 50–100 bytes each whatever their length (`npm run bench:processors` prints it), so the
 * default 1M ids take at most ~100 MB that the garbage collector never walks. The window is the shorter of `window` and
 * `max_ids` ÷ event rate (1M ids ≈ 17 min at 1k events/s, 10 s at 100k events/s).
 */
import { z } from 'zod';
import type { Signal } from '../core/config.ts';
import { type Batch, type LogEvent, markDuplicate, type SpanRecord } from '../core/event.ts';
import { durationMs } from '../core/units.ts';
import type { Processor, ProcessorFactory, ProcessorStartContext } from '../core/components.ts';
import { hash128Hex, hashId, hashPrefix, IdWindow, loadHash, saveHash } from './id-window.ts';

const configSchema = z.strictObject({
  window: durationMs
    .pipe(
      z
        .number()
        .min(1000)
        .max(24 * 3_600_000, 'window is at most 24h'),
    )
    .default(10 * 60_000),
  max_ids: z.number().int().min(1000).default(1_000_000),
  /** Rebuild the window from storage at start. */
  rebuild: z.boolean().default(true),
});
export type DedupeConfig = z.infer<typeof configSchema>;

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // observed by dependants only
  return { promise, resolve, reject };
}

/** Content hash for events that carry no id: same content (time, name, attributes, body) → same id. */
function contentId(e: LogEvent): string {
  let text = `${e.timeUnixNano}\0${e.eventName}\0${e.body}\0${e.userId}\0${e.anonymousId}\0${e.resource.serviceName}`;
  for (const k of Object.keys(e.attributes).sort()) text += `\0${k}=${e.attributes[k]}`;
  return `h:${hash128Hex(text)}`;
}

/** Owner numbers of in-flight batches run 1 … 2^32 - 1; 0 means committed. */
const MAX_OWNER = 0xffff_ffff;

export function createDedupe(config: DedupeConfig, name = 'dedupe', signal: Signal = 'logs', now: () => number = Date.now): Processor {
  const ids = new IdWindow();
  /** In-flight batches: owner number → what their dependants wait on. */
  const pending = new Map<number, Deferred>();
  /** The ids each passed batch added (3 hash lanes per id) and its owner number. */
  const owned = new WeakMap<object, { hashes: Uint32Array; count: number; owner: number }>();
  let lastOwner = 0;

  function nextOwner(): number {
    do lastOwner = lastOwner === MAX_OWNER ? 1 : lastOwner + 1;
    while (pending.has(lastOwner));
    return lastOwner;
  }

  /** Runs `fn` for each slot of a batch's ids that its owner still holds. */
  function eachOwnedSlot(o: { hashes: Uint32Array; count: number; owner: number }, fn: (slot: number) => void): void {
    for (let i = 0; i < o.count; i++) {
      loadHash(o.hashes, i);
      const slot = ids.find();
      if (slot >= 0 && ids.owner(slot) === o.owner) fn(slot);
    }
  }

  return {
    name,
    process(batch: Batch): Batch {
      const t = now();
      ids.evict(t - config.window, config.max_ids);
      const prefix = hashPrefix(batch.tenantId);
      const events = batch.events as Array<LogEvent | SpanRecord>;
      const owner = nextOwner();
      const hashes = new Uint32Array(events.length * 3);
      let count = 0;
      let kept: Array<LogEvent | SpanRecord> | undefined;
      let waits: Set<Promise<void>> | undefined;
      for (let i = 0; i < events.length; i++) {
        const e = events[i];
        if (e.eventId === '' && 'eventName' in e) e.eventId = contentId(e);
        hashId(prefix, e.eventId);
        const slot = ids.find();
        if (slot >= 0) {
          // A repeat: accepted, not stored again; if its original is still in flight, this request waits for that commit.
          kept ??= events.slice(0, i);
          markDuplicate(batch, e);
          const prior = ids.owner(slot);
          if (prior !== 0 && prior !== owner) (waits ??= new Set()).add(pending.get(prior)!.promise);
          continue;
        }
        ids.add(owner, t);
        saveHash(hashes, count++);
        kept?.push(e);
      }
      const out = (kept === undefined ? batch : { ...batch, events: kept }) as Batch;
      if (waits) out.dependsOn = [...(out.dependsOn ?? []), ...waits];
      if (count > 0) {
        pending.set(owner, deferred());
        out.lineage ??= {};
        owned.set(out.lineage, { hashes, count, owner });
      }
      return out;
    },
    committed(batch: Batch): void {
      const o = batch.lineage && owned.get(batch.lineage);
      if (!o) return;
      eachOwnedSlot(o, (slot) => ids.setOwner(slot, 0));
      pending.get(o.owner)?.resolve();
      pending.delete(o.owner);
      owned.delete(batch.lineage!);
    },
    release(batch: Batch): void {
      const o = batch.lineage && owned.get(batch.lineage);
      if (!o) return;
      eachOwnedSlot(o, (slot) => ids.remove(slot));
      pending.get(o.owner)?.reject(new Error('original batch failed to commit'));
      pending.delete(o.owner);
      owned.delete(batch.lineage!);
    },
    async start(ctx: ProcessorStartContext): Promise<void> {
      if (!config.rebuild) return;
      const rows = await ctx.recentEventIds(signal, config.window, config.max_ids);
      const prefixes = new Map<string, ReturnType<typeof hashPrefix>>();
      for (const r of rows) {
        let prefix = prefixes.get(r.tenantId);
        if (!prefix) prefixes.set(r.tenantId, (prefix = hashPrefix(r.tenantId)));
        hashId(prefix, r.eventId);
        if (ids.find() < 0) ids.add(0, Math.min(r.atMs, now()));
      }
    },
  };
}

export const dedupeFactory: ProcessorFactory<typeof configSchema> = {
  type: 'dedupe',
  signals: ['logs', 'traces'],
  configSchema,
  create: (config, name, signal) => createDedupe(config, name, signal),
};
