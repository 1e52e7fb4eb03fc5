import { describe, expect, it } from 'vitest';
import { boundedCache, memo } from './memo.ts';

describe('memo', () => {
  it('computes a key once while it is cached, and holds at most `size` keys', () => {
    const calls: string[] = [];
    const f = memo(4, (k) => {
      calls.push(k);
      return k.toUpperCase();
    });
    expect([f('a'), f('b'), f('a')]).toEqual(['A', 'B', 'A']);
    expect(calls).toEqual(['a', 'b']);
    for (let i = 0; i < 100; i++) f(`k${i}`);
    calls.length = 0;
    for (let i = 0; i < 100; i++) f(`k${i}`);
    // At most 4 of the 100 were still cached: at least 96 computed again.
    expect(calls.length).toBeGreaterThanOrEqual(96);
  });

  it('keeps a key in steady use however many other keys pass through', () => {
    const calls: string[] = [];
    const f = memo(100, (k) => {
      calls.push(k);
      return k.length;
    });
    f('hot');
    for (let i = 0; i < 10_000; i++) {
      f(`cold-${i}`);
      if (i % 10 === 0) f('hot');
    }
    expect(calls.filter((k) => k === 'hot')).toEqual(['hot']);
  });

  it('computes every time with size 0', () => {
    let n = 0;
    const f = memo(0, () => ++n);
    expect([f('a'), f('a')]).toEqual([1, 2]);
  });

  it('bounded cache: a hit in the older generation stays cached', () => {
    const c = boundedCache<number, string>(4);
    for (let i = 0; i < 4; i++) c.set(i, `v${i}`);
    expect(c.get(0)).toBe('v0');
    for (let i = 4; i < 6; i++) c.set(i, `v${i}`);
    expect(c.get(0)).toBe('v0');
    expect(c.get(1)).toBeUndefined();
  });
});
