/**
 * The statistics against closed forms computed here and published examples (no external statistics package).
 */
import { describe, expect, it } from 'vitest';
import { chanceToBeatMean, chanceToBeatRate } from './bayes.ts';
import { compareMeans, compareRates, cupedLifts } from './compare.ts';
import { cupedAdjust } from './cuped.ts';
import { relativeLift, welchTest } from './means.ts';
import { twoProportionZTest, wilsonInterval } from './rates.ts';
import { mixtureRhoSquared, sequentialHalfWidth } from './sequential.ts';
import { sampleRatioMismatch } from './srm.ts';
import { type CovariateSums, summarize, sumsOf } from './summary.ts';

const Z975 = 1.959963984540054;

describe('Wilson score interval', () => {
  // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3 (score).
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])('%i of %i: [%f, %f]', (conversions, n, lo, hi) => {
    const [l, h] = wilsonInterval({ n, conversions });
    expect(l).toBeCloseTo(lo, 4);
    expect(h).toBeCloseTo(hi, 4);
  });
});

describe("Welch's t-test", () => {
  // Wikipedia, "Welch's t-test", example 1: t = −2.46, ν ≈ 25.0, p = 0.021.
  const a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
  const a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
  it('matches the published example', () => {
    const r = welchTest(summarize(sumsOf(a2)), summarize(sumsOf(a1)));
    expect(r.t).toBeCloseTo(-2.46, 2);
    expect(r.df).toBeCloseTo(25.0, 0);
    expect(r.pValue).toBeCloseTo(0.021, 3);
  });
  it('has the closed-form t, df and interval', () => {
    const c = summarize(sumsOf(a1));
    const t = summarize(sumsOf(a2));
    const se2 = c.variance / c.n + t.variance / t.n;
    const df = se2 ** 2 / ((c.variance / c.n) ** 2 / (c.n - 1) + (t.variance / t.n) ** 2 / (t.n - 1));
    const r = welchTest(c, t);
    expect(r.t).toBeCloseTo((t.mean - c.mean) / Math.sqrt(se2), 10);
    expect(r.df).toBeCloseTo(df, 10);
    // t_{0.975} at ~24.9 df lies between its table values at 24 (2.064) and 25 (2.060).
    const q = (r.ci[1] - r.difference) / Math.sqrt(se2);
    expect(q).toBeGreaterThan(2.059);
    expect(q).toBeLessThan(2.065);
  });
});

describe('relative lift (delta method)', () => {
  it('has the delta-method variance of the ratio of means', () => {
    const c = { n: 1000, mean: 10, variance: 4 };
    const t = { n: 800, mean: 11, variance: 9 };
    const r = relativeLift(c, t);
    const v = 9 / 800 / 100 + (121 * 4) / 1000 / 10_000;
    expect(r.relative).toBeCloseTo(0.1, 12);
    expect(r.variance).toBeCloseTo(v, 12);
    expect(r.ci[0]).toBeCloseTo(0.1 - Z975 * Math.sqrt(v), 9);
    expect(r.ci[1]).toBeCloseTo(0.1 + Z975 * Math.sqrt(v), 9);
  });
  it('is undefined against a control mean of 0', () => {
    expect(relativeLift({ n: 10, mean: 0, variance: 1 }, { n: 10, mean: 1, variance: 1 }).relative).toBeNaN();
  });
});

describe('two-proportion z-test', () => {
  it('has the pooled closed form', () => {
    const c = { n: 2000, conversions: 200 };
    const t = { n: 2000, conversions: 250 };
    const p = 450 / 4000;
    const z = (0.125 - 0.1) / Math.sqrt(p * (1 - p) * (2 / 2000));
    const r = twoProportionZTest(c, t);
    expect(r.z).toBeCloseTo(z, 10);
    // z ≈ 2.496: two-sided p ≈ 0.01256 (normal table: Φ(2.50) = 0.99379).
    expect(r.pValue).toBeCloseTo(0.0126, 3);
  });
});

describe('chance to beat control', () => {
  it('is 1/2 between equal uniform posteriors and 2/3 for Beta(2,1) against Beta(1,1)', () => {
    expect(chanceToBeatRate({ n: 0, conversions: 0 }, { n: 0, conversions: 0 })).toBeCloseTo(0.5, 4);
    // Treatment Beta(2,1) (one conversion of one), control uniform: ∫ 2x · x dx = 2/3.
    expect(chanceToBeatRate({ n: 0, conversions: 0 }, { n: 1, conversions: 1 })).toBeCloseTo(2 / 3, 4);
    // Beta(1,2) vs Beta(1,1): ∫ 2(1−x) · x dx = 1/3.
    expect(chanceToBeatRate({ n: 0, conversions: 0 }, { n: 1, conversions: 0 })).toBeCloseTo(1 / 3, 4);
  });
  it('agrees with the normal approximation at large counts, and is deterministic', () => {
    const c = { n: 20_000, conversions: 2000 };
    const t = { n: 20_000, conversions: 2100 };
    const approx = chanceToBeatMean({ n: 20_000, mean: 0.1, variance: 0.09 }, { n: 20_000, mean: 0.105, variance: 0.105 * 0.895 });
    expect(chanceToBeatRate(c, t)).toBeCloseTo(approx, 2);
    expect(chanceToBeatRate(c, t)).toBe(chanceToBeatRate(c, t));
  });
  it("matches Evan Miller's closed form for Beta posteriors", () => {
    // P(p_t > p_c) = Σ_{i=0}^{α_t−1} B(α_c + i, β_c + β_t) / ((β_t + i) B(1 + i, β_t) B(α_c, β_c)), in logs.
    const lgamma = (x: number): number => {
      // Lanczos (g = 7, n = 9), |error| < 1e-13 for x > 0.
      const g = [
        0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406, 12.507343278686905, -0.13857109526572012,
        9.984369578019572e-6, 1.5056327351493116e-7,
      ];
      if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma(1 - x);
      const y = x - 1;
      let a = g[0];
      for (let i = 1; i < 9; i++) a += g[i] / (y + i);
      const t = y + 7.5;
      return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
    };
    const lbeta = (a: number, b: number) => lgamma(a) + lgamma(b) - lgamma(a + b);
    const exact = (ac: number, bc: number, at: number, bt: number) => {
      let total = 0;
      for (let i = 0; i < at; i++) total += Math.exp(lbeta(ac + i, bc + bt) - Math.log(bt + i) - lbeta(1 + i, bt) - lbeta(ac, bc));
      return total;
    };
    for (const [c, t] of [
      [
        { n: 100, conversions: 10 },
        { n: 100, conversions: 15 },
      ],
      [
        { n: 1000, conversions: 120 },
        { n: 1000, conversions: 100 },
      ],
      [
        { n: 50, conversions: 1 },
        { n: 60, conversions: 0 },
      ],
    ]) {
      const want = exact(1 + c.conversions, 1 + c.n - c.conversions, 1 + t.conversions, 1 + t.n - t.conversions);
      expect(chanceToBeatRate(c, t)).toBeCloseTo(want, 5);
    }
  });
  it('is Φ(d / se) for means', () => {
    const c = { n: 100, mean: 5, variance: 4 };
    const t = { n: 100, mean: 5.4, variance: 4 };
    // d / se = 0.4 / √0.08 = 1.4142: Φ = 0.92135.
    expect(chanceToBeatMean(c, t)).toBeCloseTo(0.92135, 4);
  });
});

describe('sample-ratio mismatch', () => {
  it("reproduces Mendel's peas (9:3:3:1): χ² = 0.470, p = 0.925", () => {
    const r = sampleRatioMismatch({ a: 315, b: 108, c: 101, d: 32 }, { a: 56.25, b: 18.75, c: 18.75, d: 6.25 });
    expect(r.chiSquare).toBeCloseTo(0.47, 2);
    expect(r.pValue).toBeCloseTo(0.925, 3);
    expect(r.mismatch).toBe(false);
    expect(r.expected).toEqual({ a: 312.75, b: 104.25, c: 104.25, d: 34.75 });
  });
  it('flags 5,250 against 4,750 on a 50/50 split (χ² = 25, p ≈ 5.7e-7)', () => {
    const r = sampleRatioMismatch({ control: 5250, test: 4750 }, { control: 50, test: 50 });
    expect(r.chiSquare).toBeCloseTo(25, 10);
    expect(r.pValue).toBeLessThan(0.001);
    expect(r.pValue).toBeCloseTo(5.733e-7, 9);
    expect(r.mismatch).toBe(true);
  });
  it('does not flag 5,050 against 4,950 (χ² = 1, p = 0.317)', () => {
    const r = sampleRatioMismatch({ control: 5050, test: 4950 }, { control: 50, test: 50 });
    expect(r.pValue).toBeCloseTo(0.3173, 4);
    expect(r.mismatch).toBe(false);
  });
  it('flags exposures of a variant with no allocation', () => {
    const r = sampleRatioMismatch({ a: 10, b: 10, off: 1 }, { a: 50, b: 50, off: 0 });
    expect(r).toMatchObject({ chiSquare: null, pValue: 0, mismatch: true });
  });
});

describe('CUPED', () => {
  it('removes the variance a linear covariate explains, and θ = cov / var', () => {
    // y = 2x + e: with x known, the adjusted variance is that of e.
    const make = (xs: number[], es: number[], shift: number): CovariateSums => {
      const ys = xs.map((x, i) => 2 * x + es[i] + shift);
      return {
        ...sumsOf(ys),
        sumX: xs.reduce((s, x) => s + x, 0),
        sumXSquares: xs.reduce((s, x) => s + x * x, 0),
        sumXY: xs.reduce((s, x, i) => s + x * ys[i], 0),
      };
    };
    const xs = [1, 4, 2, 8, 5, 7, 3, 6];
    const es = [0.1, -0.2, 0.05, 0.15, -0.1, 0, 0.2, -0.2];
    const c = make(xs, es, 0);
    const t = make(
      xs,
      es.map((e) => -e),
      1,
    );
    const r = cupedAdjust([c, t])!;
    expect(r.theta).toBeCloseTo(2, 1);
    expect(r.adjusted[1].mean - r.adjusted[0].mean).toBeCloseTo(1, 10);
    expect(r.adjusted[0].variance).toBeLessThan(summarize(c).variance / 100);
    const lifts = cupedLifts([c, t], 0)!;
    expect(lifts[0]).toBeUndefined();
    expect(lifts[1]!.varianceReduction).toBeGreaterThan(0.99);
  });
  it('is absent when the covariate is constant', () => {
    expect(cupedAdjust([{ ...sumsOf([1, 2]), sumX: 0, sumXSquares: 0, sumXY: 0 }])).toBeUndefined();
  });
});

describe('sequential interval', () => {
  it('has the normal-mixture half-width, tightest near the tuning sample size', () => {
    const alpha = 0.05;
    const r2 = mixtureRhoSquared(alpha, 5000);
    expect(r2).toBeCloseTo((-2 * Math.log(alpha) + Math.log(-2 * Math.log(alpha) + 1)) / 5000, 15);
    const n = 5000;
    const half = sequentialHalfWidth(1, n, alpha, 5000);
    expect(half).toBeCloseTo(Math.sqrt(((2 * (n * r2 + 1)) / (n * n * r2)) * Math.log(Math.sqrt(n * r2 + 1) / alpha)), 15);
    // Always wider than the fixed-horizon z interval, least so around N*.
    const ratio = (m: number) => sequentialHalfWidth(1, m, alpha, 5000) / (Z975 / Math.sqrt(m));
    expect(ratio(5000)).toBeGreaterThan(1);
    expect(ratio(5000)).toBeLessThan(ratio(500));
    expect(ratio(5000)).toBeLessThan(ratio(500_000));
  });
});

describe('comparisons', () => {
  it('report a rate lift with both intervals around it and the sequential one wider', () => {
    const lift = compareRates({ n: 5000, conversions: 500 }, { n: 5000, conversions: 600 });
    expect(lift.relative).toBeCloseTo(0.2, 12);
    expect(lift.ci95[0]).toBeGreaterThan(0);
    expect(lift.sequentialCi95[0]).toBeLessThan(lift.ci95[0]);
    expect(lift.sequentialCi95[1]).toBeGreaterThan(lift.ci95[1]);
    expect(lift.pValue).toBeLessThan(0.01);
    expect(lift.chanceToBeatControl).toBeGreaterThan(0.99);
  });
  it('report a mean lift with the Welch p-value', () => {
    const c = sumsOf([1, 2, 3, 4, 5]);
    const t = sumsOf([2, 3, 4, 5, 6]);
    const lift = compareMeans(c, t);
    expect(lift.relative).toBeCloseTo(1 / 3, 12);
    expect(lift.pValue).toBeCloseTo(welchTest(summarize(c), summarize(t)).pValue, 12);
  });
});

describe('variant ids named like prototype members', () => {
  it('are counted like any other', () => {
    const r = sampleRatioMismatch({ constructor: 5250, toString: 4750 }, { constructor: 50, toString: 50 });
    expect(r.observed).toEqual({ constructor: 5250, toString: 4750 });
    expect(r.expected).toEqual({ constructor: 5000, toString: 5000 });
    expect(r.chiSquare).toBeCloseTo(25, 10);
  });
});
