/**
 * The delivery queue, kept in storage so that nothing captured is lost to a closed tab, a crash or an offline
 * period: events stay in it until a reply settles them. Bounded (1,000 events, 1 MB, 24 hours: the oldest go
 * first). Shared by the tabs of a site: an event being sent is leased by its tab for 30 s, so another tab does not
 * send it too (after a crash the lease runs out and another page sends it). Events sent while the page is hidden
 * or unloading (keepalive / sendBeacon, whose replies a closing page never sees) are marked with that time: the
 * next page sends them again within 5 minutes, which the server stores once (it deduplicates on `messageId` for
 * 10 minutes), and after that they count as delivered.
 */
import { type KV, readJson } from './storage.ts';

export const QUEUE_MAX_EVENTS = 1000;
export const QUEUE_MAX_CHARS = 1_000_000;
export const QUEUE_MAX_AGE_MS = 24 * 3_600_000;
export const BATCH_MAX_EVENTS = 20;
export const BATCH_MAX_CHARS = 48 * 1024;
export const LEASE_MS = 30_000;
export const UNLOAD_TRUST_MS = 5 * 60_000;

export interface WireEvent {
  messageId: string;
  [field: string]: unknown;
}

/** A queued event: enqueued at `t`; leased until `l` by tab `o`; or sent at `b` by tab `o` on page hide. */
export interface Entry {
  e: WireEvent;
  t: number;
  l?: number;
  o?: string;
  b?: number;
}

/** The entries within the bounds, oldest dropped first, and their stored text. */
export function bound(list: Entry[], now: number): { list: Entry[]; text: string } {
  let kept = list.filter((x) => now - x.t < QUEUE_MAX_AGE_MS);
  if (kept.length > QUEUE_MAX_EVENTS) kept = kept.slice(kept.length - QUEUE_MAX_EVENTS);
  let text = JSON.stringify(kept);
  if (text.length > QUEUE_MAX_CHARS) {
    let excess = text.length - QUEUE_MAX_CHARS;
    let n = 0;
    while (excess > 0 && n < kept.length) excess -= JSON.stringify(kept[n++]).length + 1;
    kept = kept.slice(n);
    text = JSON.stringify(kept);
  }
  return { list: kept, text };
}

export interface Queue {
  add(event: WireEvent, now: number): void;
  /**
   * The next batch (≤ 20 events and `maxChars` of JSON; a larger single event goes alone, except on page hide),
   * leased to this tab, or on page hide (`hidden`) marked as sent then, with this tab's in-flight events included.
   */
  take(now: number, hidden: boolean, maxChars: number): WireEvent[];
  /** Delivered (or refused for good) events leave the queue; the others are free to be sent again. */
  settle(ids: readonly string[], done: boolean, now: number): void;
  /** How many events and JSON characters a batch could take now. */
  sendable(now: number): { n: number; chars: number };
  clear(): void;
}

export function createQueue(kv: KV, key: string, tab: string): Queue {
  const read = () => {
    const v = readJson<Entry[]>(kv, key);
    return Array.isArray(v) ? v : [];
  };
  const write = (list: Entry[], now: number) => {
    const { list: kept, text } = bound(list, now);
    if (kept.length) kv.set(key, text);
    else kv.del(key);
  };
  // Whether an entry may go in a batch now: not leased, not this tab's page-hide send; another page's page-hide
  // send may have been lost with that page, so it goes again.
  const free = (x: Entry, now: number, hidden: boolean) => (x.b ? x.o !== tab : !(x.l && x.l > now) || (hidden && x.o === tab));
  const expired = (x: Entry, now: number) => x.b !== undefined && now - x.b > UNLOAD_TRUST_MS;
  return {
    add(e, now) {
      const list = read();
      list.push({ e, t: now });
      write(list, now);
    },
    take(now, hidden, maxChars) {
      const list = read().filter((x) => !expired(x, now));
      const out: WireEvent[] = [];
      let chars = 0;
      for (const x of list) {
        if (!free(x, now, hidden)) continue;
        const n = JSON.stringify(x.e).length + 1;
        if (out.length === BATCH_MAX_EVENTS || (chars + n > maxChars && (out.length || hidden))) break;
        out.push(x.e);
        chars += n;
        x.o = tab;
        if (hidden) {
          x.b = now;
          delete x.l;
        } else {
          x.l = now + LEASE_MS;
          delete x.b;
        }
      }
      write(list, now);
      return out;
    },
    settle(ids, done, now) {
      const set = new Set(ids);
      const list = read();
      write(
        done
          ? list.filter((x) => !set.has(x.e.messageId))
          : list.map((x) => {
              if (set.has(x.e.messageId)) {
                delete x.l;
                delete x.b;
              }
              return x;
            }),
        now,
      );
    },
    sendable(now) {
      let n = 0;
      let chars = 0;
      for (const x of read()) {
        if (expired(x, now) || !free(x, now, false)) continue;
        n++;
        chars += JSON.stringify(x.e).length + 1;
      }
      return { n, chars };
    },
    clear: () => kv.del(key),
  };
}
