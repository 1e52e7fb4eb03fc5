/**
 * The group-commit queue with a push of its own (no storage): items arriving while a key's push runs go
 * together in the next one, the queue is bounded by rows and by bytes, a permanent failure of a merged push is
 * isolated per request, a push that throws fails its requests as INTERNAL, and drain flushes then refuses.
 */
import { describe, expect, it } from 'vitest';
import { SignalhouseError } from '../../core/errors.ts';
import { createGroupCommitQueue, type GroupCommitQueueOptions } from './queue.ts';

type Push = GroupCommitQueueOptions<string, string>['push'];

function queue(push: Push, over: Partial<GroupCommitQueueOptions<string, string>> = {}) {
  return createGroupCommitQueue<string, string>({
    maxBatchRows: 1000,
    maxDelay: 0,
    maxQueueRows: 1000,
    maxQueueBytes: 1_000_000,
    maxConcurrent: 2,
    maxPerKey: 1,
    parallelMinRows: 500,
    push,
    ...over,
  });
}

/** A push that records what it was given and holds every push until `release()`. */
function gatedPush() {
  const pushes: string[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const push: Push = async (_key, items) => {
    pushes.push([...items]);
    await gate;
    return undefined;
  };
  return { pushes, push, release };
}

describe('group-commit queue', () => {
  it('sends what arrives during a push together in the next one, per key', async () => {
    const p = gatedPush();
    const q = queue(p.push);
    const first = q.offer('t', 'a', 1, 10);
    const waiting = [q.offer('t', 'b', 1, 10), q.offer('t', 'c', 2, 10), q.offer('u', 'x', 1, 10)];
    expect(p.pushes).toEqual([['a'], ['x']]);
    p.release();
    await first;
    await Promise.all(waiting);
    expect(p.pushes).toEqual([['a'], ['x'], ['b', 'c']]);
  });

  it('refuses with OVERLOADED past max rows or max bytes, and takes items again once committed', async () => {
    const p = gatedPush();
    const q = queue(p.push, { maxQueueRows: 10, maxQueueBytes: 100 });
    const held = q.offer('t', 'a', 6, 60);
    await expect(q.offer('t', 'rows', 5, 1)).rejects.toMatchObject({ code: 'OVERLOADED', statusCode: 503, retryAfterSeconds: 1 });
    await expect(q.offer('t', 'bytes', 1, 41)).rejects.toMatchObject({ code: 'OVERLOADED', statusCode: 503, retryAfterSeconds: 1 });
    const fits = q.offer('t', 'fits', 4, 40);
    p.release();
    await held;
    await fits;
    expect(p.pushes).toEqual([['a'], ['fits']]);
  });

  it('pushes each request of a permanently refused group on its own, so only the bad one fails', async () => {
    const p = gatedPush();
    const seen: Array<{ items: string[]; id: string }> = [];
    const q = queue(async (key, items, rows, id) => {
      if (items[0] === 'first') return p.push(key, items, rows, id);
      seen.push({ items: [...items], id });
      return items.includes('bad') ? new SignalhouseError('STORAGE_REJECTED', 'refused') : undefined;
    });
    const first = q.offer('t', 'first', 1, 1);
    const results = Promise.allSettled([q.offer('t', 'good', 1, 1), q.offer('t', 'bad', 1, 1), q.offer('t', 'also good', 1, 1)]);
    p.release();
    await first;
    expect((await results).map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(seen.map((s) => s.items)).toEqual([['good', 'bad', 'also good'], ['good'], ['bad'], ['also good']]);
    // The group's id and the ids of its per-request pushes, distinct (they serve as deduplication tokens).
    expect(new Set(seen.map((s) => s.id)).size).toBe(4);
    expect(seen[1].id).toBe(`${seen[0].id}-0`);
  });

  it('fails the requests of a push that throws as INTERNAL instead of leaving them waiting', async () => {
    const q = queue(async () => {
      throw new Error('bug');
    });
    await expect(q.offer('t', 'a', 1, 1)).rejects.toMatchObject({ code: 'INTERNAL', statusCode: 500, retryable: false });
  });

  it('drain pushes delayed items at once and then refuses with SHUTTING_DOWN', async () => {
    const pushed: string[] = [];
    const q = queue(
      async (_key, items) => {
        pushed.push(...items);
        return undefined;
      },
      { maxDelay: 3_600_000 },
    );
    const pending = q.offer('t', 'late', 1, 1);
    await q.drain();
    await pending;
    expect(pushed).toEqual(['late']);
    await expect(q.offer('t', 'after', 1, 1)).rejects.toMatchObject({ code: 'SHUTTING_DOWN', statusCode: 503, retryAfterSeconds: 1 });
  });
});
