/**
 * dedupe: drops events already accepted within the window (default 10 minutes, up to 24 h), so retried
 * requests and events repeated across batches are stored once. The key is the tenant plus the event id
 * (`messageId`, `uuid`, `event_id`, `log.record.uid`; spans: trace id + span id); an event without an id gets a
 * content hash as its id, which is stored, so it deduplicates too.
 *
 * Loss-free by construction: an id is remembered when its batch passes, but only as pending. A copy arriving
 * while the original is still in flight is dropped, and its request waits for the original's commit (and fails
 * retryably if that fails). When a batch fails to commit, its ids are forgotten, so the client's retry is
 * accepted. At start the window is rebuilt from storage, so a restart does not let duplicates through.
 *
 * Memory is bounded by `max_ids` (oldest forgotten first): each remembered id costs about 206 bytes with
 * UUID ids (measured, docs/benchmarks.md), so the default 1M ids take ~200 MB. The window is therefore the
 * shorter of `window` and `max_ids` ÷ event rate (1M ids ≈ 17 min at 1k events/s, 18 s at 55k events/s).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Signal } from '../core/config.ts';
import type { Batch, LogEvent, SpanRecord } from '../core/event.ts';
import { durationMs } from '../core/units.ts';
import type { Processor, ProcessorFactory, ProcessorStartContext } from './chain.ts';

const configSchema = z.strictObject({
  window: durationMs.pipe(z.number().min(1000).max(24 * 3_600_000, 'window is at most 24h')).default(10 * 60_000),
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

interface Seen {
  /** When the id was remembered (ms); entries are kept in this order. */
  at: number;
  /** Set while the batch carrying the original is not yet committed. */
  pending?: Deferred;
}

/** Content hash for events that carry no id: same content (time, name, attributes, body) → same id. */
function contentId(e: LogEvent): string {
  const h = createHash('sha256');
  h.update(e.timeUnixNano.toString()).update('\0').update(e.eventName).update('\0').update(e.body).update('\0');
  h.update(e.userId).update('\0').update(e.anonymousId).update('\0').update(e.resource.serviceName).update('\0');
  for (const k of Object.keys(e.attributes).sort()) h.update(k).update('=').update(e.attributes[k]).update('\0');
  return `h:${h.digest('base64url').slice(0, 22)}`;
}

export function createDedupe(config: DedupeConfig, name = 'dedupe', signal: Signal = 'logs', now: () => number = Date.now): Processor {
  const seen = new Map<string, Seen>();
  /** The keys each passed batch added, and the deferred its dependants wait on. */
  const owned = new WeakMap<object, { keys: string[]; done: Deferred }>();

  function evict(t: number): void {
    const oldest = t - config.window;
    for (const [key, entry] of seen) {
      if (entry.at >= oldest && seen.size <= config.max_ids) break;
      if (entry.pending) break; // never forget an id whose commit is undecided
      seen.delete(key);
    }
  }

  return {
    name,
    process(batch: Batch): Batch {
      const t = now();
      evict(t);
      const tenant = batch.tenantId;
      const kept: Array<LogEvent | SpanRecord> = [];
      const keys: string[] = [];
      const done = deferred();
      const waits = new Set<Promise<void>>();
      for (const e of batch.events as Array<LogEvent | SpanRecord>) {
        if (e.eventId === '' && 'eventName' in e) e.eventId = contentId(e);
        const key = `${tenant}\0${e.eventId}`;
        const prior = seen.get(key);
        if (prior !== undefined) {
          if (prior.pending && prior.pending !== done) waits.add(prior.pending.promise);
          continue;
        }
        seen.set(key, { at: t, pending: done });
        keys.push(key);
        kept.push(e);
      }
      const out = (kept.length === batch.events.length ? batch : { ...batch, events: kept }) as Batch;
      if (waits.size > 0) out.dependsOn = [...(out.dependsOn ?? []), ...waits];
      if (keys.length > 0) {
        out.lineage ??= {};
        owned.set(out.lineage, { keys, done });
      } else done.resolve();
      return out;
    },
    committed(batch: Batch): void {
      const o = batch.lineage && owned.get(batch.lineage);
      if (!o) return;
      for (const key of o.keys) {
        const entry = seen.get(key);
        if (entry?.pending === o.done) entry.pending = undefined;
      }
      o.done.resolve();
      owned.delete(batch.lineage!);
    },
    release(batch: Batch): void {
      const o = batch.lineage && owned.get(batch.lineage);
      if (!o) return;
      for (const key of o.keys) if (seen.get(key)?.pending === o.done) seen.delete(key);
      o.done.reject(new Error('original batch failed to commit'));
      owned.delete(batch.lineage!);
    },
    async start(ctx: ProcessorStartContext): Promise<void> {
      if (!config.rebuild) return;
      const table = signal === 'logs' ? 'otel_logs' : 'otel_traces';
      const timeFilter = signal === 'logs' ? 'greatest(Timestamp, ObservedTimestamp)' : 'Timestamp';
      const rows = await ctx.query<{ t: string; id: string; at: string }>(
        `SELECT TenantId AS t, EventId AS id, toUnixTimestamp64Milli(max(${timeFilter})) AS at
         FROM signalhouse.${table}
         WHERE ${timeFilter} >= now64(3) - toIntervalMillisecond({window:UInt64}) AND EventId != ''
         GROUP BY t, id ORDER BY at LIMIT {max:UInt64}`,
        { window: Math.round(config.window), max: config.max_ids },
      );
      for (const r of rows) seen.set(`${r.t}\0${r.id}`, { at: Math.min(Number(r.at), now()) });
    },
  };
}

export const dedupeFactory: ProcessorFactory<typeof configSchema> = {
  type: 'dedupe',
  signals: ['logs', 'traces'],
  configSchema,
  create: (config, name, signal) => createDedupe(config, name, signal),
};
