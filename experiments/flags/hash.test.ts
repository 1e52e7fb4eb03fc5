/**
 * Bucketing: PostHog's hash to the last bit (posthog-node's own consistency vectors: a 45% flag and a
 * 50/20/20/5/5 multivariate flag at 55%, for `distinct_id_<n>`), uniform within tolerance over 100k ids, and
 * the variant split in proportion.
 */
import { describe, expect, it } from 'vitest';
import { compileFlag } from './compile.ts';
import { evaluateFlag } from './evaluate.ts';
import { bucket } from './hash.ts';
import { definitionOf, flagInputSchema } from './model.ts';

const flag = (input: unknown) => compileFlag(definitionOf(flagInputSchema.parse(input)));
const id = (n: number) => `distinct_id_${n}`;

describe("PostHog's hash, on posthog-node's consistency vectors", () => {
  it('a simple flag at 45%', () => {
    const simple = flag({ key: 'simple-flag', rolloutPercentage: 45 });
    const expected: Record<number, boolean> = {
      0: false,
      1: true,
      2: true,
      3: false,
      4: true,
      5: false,
      6: false,
      7: true,
      8: false,
      9: true,
      10: false,
      11: true,
      12: true,
      13: false,
      14: true,
      15: false,
      100: true,
      250: false,
      500: false,
      999: true,
    };
    for (const [n, want] of Object.entries(expected)) expect(evaluateFlag(simple, id(Number(n)), {}).value, id(Number(n))).toBe(want);
  });

  it('a multivariate flag at 55% with five variants', () => {
    const multi = flag({
      key: 'multivariate-flag',
      type: 'multivariate',
      rolloutPercentage: 55,
      variants: [
        { key: 'first-variant', rolloutPercentage: 50 },
        { key: 'second-variant', rolloutPercentage: 20 },
        { key: 'third-variant', rolloutPercentage: 20 },
        { key: 'fourth-variant', rolloutPercentage: 5 },
        { key: 'fifth-variant', rolloutPercentage: 5 },
      ],
    });
    const S = 'second-variant';
    const F = 'first-variant';
    const expected: Record<number, string | false> = {
      0: S,
      1: S,
      2: F,
      3: false,
      4: false,
      5: S,
      6: F,
      7: false,
      8: false,
      9: false,
      10: F,
      11: 'third-variant',
      12: false,
      13: F,
      14: S,
      15: F,
      100: 'third-variant',
      250: F,
      500: S,
      999: F,
    };
    for (const [n, want] of Object.entries(expected)) expect(evaluateFlag(multi, id(Number(n)), {}).value, id(Number(n))).toBe(want);
  });
});

describe('uniformity over 100k ids', () => {
  const N = 100_000;
  const hashes = Array.from({ length: N }, (_, i) => bucket('uniform-flag', `user-${i}`));

  it('lies in [0, 1] and fills ten equal bins evenly (chi-square, 9 degrees of freedom, p > 0.001)', () => {
    const bins = new Array(10).fill(0);
    for (const h of hashes) {
      expect(h >= 0 && h <= 1).toBe(true);
      bins[Math.min(9, Math.floor(h * 10))]++;
    }
    const chi = bins.reduce((s, o) => s + (o - N / 10) ** 2 / (N / 10), 0);
    expect(chi).toBeLessThan(27.88);
  });

  it('a 30% rollout holds 30% ± 0.5% of the ids', () => {
    const f = flag({ key: 'uniform-flag', rolloutPercentage: 30 });
    let on = 0;
    for (let i = 0; i < N; i++) if (evaluateFlag(f, `user-${i}`, {}).enabled) on++;
    expect(Math.abs(on / N - 0.3)).toBeLessThan(0.005);
  });

  it('a 50/30/20 split gives each variant its share ± 0.5%', () => {
    const f = flag({
      key: 'split',
      type: 'multivariate',
      variants: [
        { key: 'a', rolloutPercentage: 50 },
        { key: 'b', rolloutPercentage: 30 },
        { key: 'c', rolloutPercentage: 20 },
      ],
    });
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < N; i++) counts[String(evaluateFlag(f, `user-${i}`, {}).value)]++;
    expect(Math.abs(counts.a / N - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(counts.b / N - 0.3)).toBeLessThan(0.005);
    expect(Math.abs(counts.c / N - 0.2)).toBeLessThan(0.005);
  });

  it('the rollout and the variant hashes are independent (salted apart)', () => {
    let both = 0;
    for (let i = 0; i < N; i++) if (bucket('k', `u${i}`) < 0.5 && bucket('k', `u${i}`, 'variant') < 0.5) both++;
    expect(Math.abs(both / N - 0.25)).toBeLessThan(0.005);
  });
});
