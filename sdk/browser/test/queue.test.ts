/**
 * The delivery queue on its own (node, storage in memory): its bounds (1,000 events, 1 MB, 24 h, oldest first),
 * the batch limits (20 events, 48 KB of JSON, a larger event alone), leases between tabs, and what becomes of
 * events sent while a page was hidden.
 */
import { describe, expect, it } from 'vitest';
import {
  BATCH_MAX_CHARS,
  BATCH_MAX_EVENTS,
  bound,
  createQueue,
  type Entry,
  LEASE_MS,
  QUEUE_MAX_AGE_MS,
  QUEUE_MAX_CHARS,
  QUEUE_MAX_EVENTS,
  UNLOAD_TRUST_MS,
  type WireEvent,
} from '../src/queue.ts';
import { memoryKV } from '../src/storage.ts';

const T0 = 1_750_000_000_000;
const event = (i: number, pad = 0): WireEvent => ({ messageId: `m-${i}`, type: 'track', event: 'e', properties: pad ? { pad: 'x'.repeat(pad) } : undefined });
const ids = (events: WireEvent[]) => events.map((e) => e.messageId);
const fresh = (tab = 'tab-a', kv = memoryKV()) => ({ kv, q: createQueue(kv, 'sh_q', tab) });
const stored = (kv: ReturnType<typeof memoryKV>) => JSON.parse(kv.get('sh_q') ?? '[]') as Entry[];

describe('queue bounds', () => {
  it('keeps the newest 1,000 events', () => {
    const { kv, q } = fresh();
    for (let i = 0; i < QUEUE_MAX_EVENTS + 50; i++) q.add(event(i), T0 + i);
    const kept = stored(kv);
    expect(kept.length).toBe(1000);
    expect(kept[0].e.messageId).toBe('m-50');
    expect(kept.at(-1)!.e.messageId).toBe('m-1049');
  });

  it('keeps at most 1 MB of JSON, dropping the oldest first', () => {
    const { kv, q } = fresh();
    // ~10 KB each: 100 fit in 1 MB; 130 are added.
    for (let i = 0; i < 130; i++) q.add(event(i, 10_000), T0 + i);
    const text = kv.get('sh_q')!;
    expect(text.length).toBeLessThanOrEqual(QUEUE_MAX_CHARS);
    const kept = stored(kv);
    expect(kept.length).toBeGreaterThan(90);
    expect(kept.at(-1)!.e.messageId).toBe('m-129');
    expect(kept.map((x) => Number(x.e.messageId.slice(2)))).toEqual(Array.from({ length: kept.length }, (_, i) => 130 - kept.length + i));
  });

  it('forgets events older than 24 hours', () => {
    const { kv, q } = fresh();
    q.add(event(1), T0);
    q.add(event(2), T0 + 3_600_000);
    q.add(event(3), T0 + QUEUE_MAX_AGE_MS + 1);
    expect(stored(kv).map((x) => x.e.messageId)).toEqual(['m-2', 'm-3']);
    expect(bound(stored(kv), T0 + 3_600_000 + QUEUE_MAX_AGE_MS).list.map((x) => x.e.messageId)).toEqual(['m-3']);
  });

  it('keeps nothing in storage once every event is delivered', () => {
    const { kv, q } = fresh();
    q.add(event(1), T0);
    q.settle(ids(q.take(T0, false, BATCH_MAX_CHARS)), true, T0);
    expect(kv.get('sh_q')).toBeNull();
  });
});

describe('batches', () => {
  it('take 20 events at most, in order', () => {
    const { q } = fresh();
    for (let i = 0; i < 45; i++) q.add(event(i), T0);
    expect(q.sendable(T0).n).toBe(45);
    const first = q.take(T0, false, BATCH_MAX_CHARS);
    expect(first.length).toBe(BATCH_MAX_EVENTS);
    expect(ids(first)).toEqual(Array.from({ length: 20 }, (_, i) => `m-${i}`));
    expect(ids(q.take(T0, false, BATCH_MAX_CHARS))).toEqual(Array.from({ length: 20 }, (_, i) => `m-${20 + i}`));
    expect(q.take(T0, false, BATCH_MAX_CHARS).length).toBe(5);
    expect(q.take(T0, false, BATCH_MAX_CHARS)).toEqual([]);
  });

  it('take at most 48 KB of JSON; an event larger than that goes alone', () => {
    const { q } = fresh();
    for (let i = 0; i < 5; i++) q.add(event(i, 20_000), T0);
    q.add(event(5, 60_000), T0);
    q.add(event(6), T0);
    const sizes: number[][] = [];
    for (let batch = q.take(T0, false, BATCH_MAX_CHARS); batch.length; batch = q.take(T0, false, BATCH_MAX_CHARS)) {
      sizes.push(batch.map((e) => JSON.stringify(e).length));
      expect(batch.length === 1 || JSON.stringify(batch).length <= BATCH_MAX_CHARS).toBe(true);
    }
    expect(sizes.map((s) => s.length)).toEqual([2, 2, 1, 1, 1]);
  });
});

describe('leases and hidden pages', () => {
  it('a batch in flight is not taken again, by this tab or another, until its lease runs out or it fails', () => {
    const kv = memoryKV();
    const a = createQueue(kv, 'sh_q', 'tab-a');
    const b = createQueue(kv, 'sh_q', 'tab-b');
    a.add(event(1), T0);
    a.add(event(2), T0);
    expect(ids(a.take(T0, false, BATCH_MAX_CHARS))).toEqual(['m-1', 'm-2']);
    b.add(event(3), T0 + 1);
    expect(ids(b.take(T0 + 1, false, BATCH_MAX_CHARS))).toEqual(['m-3']);
    expect(a.take(T0 + 2, false, BATCH_MAX_CHARS)).toEqual([]);
    // Tab b's request failed: its event is free again.
    b.settle(['m-3'], false, T0 + 3);
    expect(ids(a.take(T0 + 4, false, BATCH_MAX_CHARS))).toEqual(['m-3']);
    // Tab a crashed with m-1 and m-2 in flight: another page sends them once the lease runs out.
    expect(ids(b.take(T0 + LEASE_MS + 1, false, BATCH_MAX_CHARS))).toEqual(['m-1', 'm-2']);
  });

  it('on page hide this tab sends what is queued and in flight, once', () => {
    const kv = memoryKV();
    const a = createQueue(kv, 'sh_q', 'tab-a');
    a.add(event(1), T0);
    a.take(T0, false, BATCH_MAX_CHARS);
    a.add(event(2), T0);
    expect(ids(a.take(T0 + 1, true, BATCH_MAX_CHARS))).toEqual(['m-1', 'm-2']);
    // A second page-hide signal (visibilitychange, then pagehide) sends nothing again.
    expect(a.take(T0 + 2, true, BATCH_MAX_CHARS)).toEqual([]);
    expect(a.take(T0 + 2, false, BATCH_MAX_CHARS)).toEqual([]);
  });

  it("the next page sends a hidden page's batch again within 5 minutes (the server stores it once), then counts it delivered", () => {
    const kv = memoryKV();
    const closed = createQueue(kv, 'sh_q', 'tab-a');
    closed.add(event(1), T0);
    closed.add(event(2), T0);
    closed.take(T0, true, BATCH_MAX_CHARS);
    expect(ids(createQueue(kv, 'sh_q', 'tab-b').take(T0 + 1000, false, BATCH_MAX_CHARS))).toEqual(['m-1', 'm-2']);

    const kv2 = memoryKV();
    const closed2 = createQueue(kv2, 'sh_q', 'tab-a');
    closed2.add(event(3), T0);
    closed2.take(T0, true, BATCH_MAX_CHARS);
    const later = createQueue(kv2, 'sh_q', 'tab-c');
    expect(later.take(T0 + UNLOAD_TRUST_MS + 1, false, BATCH_MAX_CHARS)).toEqual([]);
    expect(kv2.get('sh_q')).toBeNull();
  });

  it('keeps a hidden page within the keepalive budget: what does not fit stays queued', () => {
    const { q } = fresh();
    for (let i = 0; i < 4; i++) q.add(event(i, 20_000), T0);
    expect(q.take(T0, true, 30_000).length).toBe(1);
    expect(q.take(T0, true, 10_000)).toEqual([]);
    expect(q.sendable(T0).n).toBe(3);
  });
});
