/**
 * The id set behind dedupe, checked against a plain Map model through long random sequences of adds, owner
 * changes, removals and evictions (crossing table and ring growth), and the hash against collisions.
 */
import { describe, expect, it } from 'vitest';
import { hash128Hex, hashId, hashPrefix, IdWindow } from './id-window.ts';

/** Deterministic PRNG (mulberry32), so a failure replays. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('IdWindow', () => {
  it('behaves like a Map with FIFO eviction over 200k random operations', () => {
    const random = rng(42);
    const w = new IdWindow();
    const tenant = hashPrefix('acme');
    /** Model: id → { owner, at }, in insertion order. */
    const model = new Map<string, { owner: number; at: number }>();
    let t = 0;
    const maxIds = 5_000;
    const window = 10_000;
    const mismatches: string[] = [];
    for (let step = 0; step < 200_000; step++) {
      t += random() < 0.1 ? 7 : 0;
      const id = `id-${Math.floor(random() * 30_000)}`;
      const r = random();
      hashId(tenant, id);
      const slot = w.find();
      if (slot >= 0 !== model.has(id)) mismatches.push(`step ${step}: ${id} found=${slot >= 0}`);
      if (slot < 0) {
        if (r < 0.9) {
          const owner = random() < 0.5 ? 0 : 1 + Math.floor(random() * 3);
          w.add(owner, t);
          model.set(id, { owner, at: t });
        }
      } else {
        if (w.owner(slot) !== model.get(id)!.owner) mismatches.push(`step ${step}: ${id} owner`);
        if (r < 0.3) {
          w.setOwner(slot, 0);
          model.get(id)!.owner = 0;
        } else if (r < 0.35) {
          w.remove(slot);
          model.delete(id);
        }
      }
      if (step % 97 === 0) {
        w.evict(t - window, maxIds);
        for (const [k, v] of model) {
          if (v.at >= t - window && model.size <= maxIds) break;
          if (v.owner !== 0) break;
          model.delete(k);
        }
      }
      if (w.size !== model.size) mismatches.push(`step ${step}: size ${w.size} vs ${model.size}`);
      if (mismatches.length > 5) break;
    }
    expect(mismatches).toEqual([]);
    // Everything the model holds is found with its owner; a sample of absent ids is not.
    for (const [id, v] of model) {
      hashId(tenant, id);
      const slot = w.find();
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(w.owner(slot)).toBe(v.owner);
    }
    for (let i = 30_000; i < 31_000; i++) {
      hashId(tenant, `id-${i}`);
      expect(w.find()).toBe(-1);
    }
  });

  it('keeps tenants apart and never forgets an id whose batch is in flight', () => {
    const w = new IdWindow();
    hashId(hashPrefix('acme'), 'e1');
    w.add(7, 0);
    hashId(hashPrefix('globex'), 'e1');
    expect(w.find()).toBe(-1);
    hashId(hashPrefix('acm'), 'ee1');
    expect(w.find()).toBe(-1);
    w.evict(Number.POSITIVE_INFINITY, 0);
    hashId(hashPrefix('acme'), 'e1');
    const slot = w.find();
    expect(w.owner(slot)).toBe(7);
    w.setOwner(slot, 0);
    w.evict(Number.POSITIVE_INFINITY, 0);
    hashId(hashPrefix('acme'), 'e1');
    expect(w.find()).toBe(-1);
    expect(w.size).toBe(0);
  });

  it('stays within 100 bytes per id', () => {
    const w = new IdWindow();
    const p = hashPrefix('t');
    for (let i = 0; i < 300_000; i++) {
      hashId(p, `550e8400-e29b-41d4-a716-${String(i).padStart(12, '0')}`);
      w.add(0, i);
    }
    expect(w.size).toBe(300_000);
    expect(w.bytes / w.size).toBeLessThan(100);
  });
});

describe('hashes', () => {
  it('gives distinct 128-bit digests to 300k similar strings, and the same digest to the same string', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 300_000; i++) seen.add(hash128Hex(`1763000000000000000\0page\0\0u${i % 1000}\0\0web\0n=${i}`));
    expect(seen.size).toBe(300_000);
    expect(hash128Hex('abc')).toBe(hash128Hex('abc'));
    expect(hash128Hex('abc')).toMatch(/^[0-9a-f]{32}$/);
  });
});
