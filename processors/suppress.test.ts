import { describe, expect, it } from 'vitest';
import type { LogBatch } from '../core/event.ts';
import { createSuppressionList } from '../core/suppressions.ts';
import { testLogEvent } from '../test/helpers/events.ts';
import { createSuppress } from './suppress.ts';

const batch = (tenantId: string, ids: Array<[user: string, anon: string]>): LogBatch => ({
  tenantId,
  signal: 'logs',
  events: ids.map(([userId, anonymousId], i) => testLogEvent({ eventId: `e${i}`, userId, anonymousId })),
  rejections: [],
  outcomes: new Map(),
});

describe('suppress', () => {
  it("drops a suppressed person's events (by user id, or by anonymous id when there is none), as its tenant's only", async () => {
    const list = createSuppressionList();
    const suppress = createSuppress({ enabled: true });
    await suppress.start!({ recentEventIds: async () => [], suppressions: list });
    list.add('acme', ['alice'], ['a-anon']);
    const input = batch('acme', [
      ['alice', ''],
      ['', 'a-anon'],
      ['bob', 'a-anon'], // Bob's event on her device is his
      ['', 'b-anon'],
      ['alice', 'b-anon'],
    ]);
    const out = (await suppress.process(input)) as LogBatch;
    expect(out.events.map((e) => e.eventId)).toEqual(['e2', 'e3']);
    expect(input.drops).toEqual([{ code: 'suppressed', reason: 'dropped: this id was erased and its events are suppressed', count: 3 }]);
    expect([...input.outcomes!.values()].map((o) => o.status)).toEqual(['dropped', 'dropped', 'dropped']);
    const other = batch('globex', [['alice', 'a-anon']]);
    expect(await suppress.process(other)).toBe(other);
  });

  it('passes a batch unchanged (no copy) when nothing is suppressed, or when turned off', async () => {
    const list = createSuppressionList();
    list.add('acme', ['alice'], []);
    for (const enabled of [true, false]) {
      const suppress = createSuppress({ enabled });
      await suppress.start!({ recentEventIds: async () => [], suppressions: list });
      const b = batch('acme', enabled ? [['bob', '']] : [['alice', '']]);
      expect(await suppress.process(b)).toBe(b);
    }
  });
});
