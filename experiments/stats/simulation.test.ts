/**
 * Simulated experiments with a seeded PRNG: A/A tests keep the fixed-horizon false-positive rate at 5%, peeking
 * after every batch inflates it for the fixed-horizon interval but not for the sequential one, a planted lift is
 * found and a skewed assignment is flagged. Bounded to a few seconds; the same draws every run.
 */
import { describe, expect, it } from 'vitest';
import { normalDraws, seededRandom } from '../../test/helpers/random.ts';
import { compareMeans, compareRates, cupedLifts } from './compare.ts';
import { relativeLift, welchTest } from './means.ts';
import { type RateCounts, rateSummary, twoProportionZTest } from './rates.ts';
import { sequentialInterval } from './sequential.ts';
import { sampleRatioMismatch } from './srm.ts';
import { type CovariateSums, type MomentSums, summarize } from './summary.ts';

const excludesZero = ([lo, hi]: [number, number]) => lo > 0 || hi < 0;

function conversions(random: () => number, n: number, p: number): number {
  let c = 0;
  for (let i = 0; i < n; i++) if (random() < p) c++;
  return c;
}

function addValues(into: MomentSums, n: number, value: () => number): void {
  for (let i = 0; i < n; i++) {
    const v = value();
    into.n++;
    into.sum += v;
    into.sumSquares += v * v;
  }
}

describe('A/A tests at a fixed horizon', () => {
  const RUNS = 2000;
  it('rates: the z-test and the lift interval reject in 5% ± 1.5% of runs', () => {
    let rejected = 0;
    let intervalExcludes = 0;
    for (let seed = 1; seed <= RUNS; seed++) {
      const random = seededRandom(seed);
      const c: RateCounts = { n: 1000, conversions: conversions(random, 1000, 0.2) };
      const t: RateCounts = { n: 1000, conversions: conversions(random, 1000, 0.2) };
      if (twoProportionZTest(c, t).pValue < 0.05) rejected++;
      if (excludesZero(relativeLift(rateSummary(c), rateSummary(t)).ci)) intervalExcludes++;
    }
    expect(rejected / RUNS).toBeGreaterThan(0.035);
    expect(rejected / RUNS).toBeLessThan(0.065);
    expect(intervalExcludes / RUNS).toBeGreaterThan(0.035);
    expect(intervalExcludes / RUNS).toBeLessThan(0.065);
  });
  it('means (skewed, log-normal values): Welch rejects in 5% ± 1.5% of runs', () => {
    let rejected = 0;
    for (let seed = 1; seed <= RUNS; seed++) {
      const random = seededRandom(10_000 + seed);
      const normal = normalDraws(random);
      const value = () => Math.exp(0.5 * normal());
      const c = { n: 0, sum: 0, sumSquares: 0 };
      const t = { n: 0, sum: 0, sumSquares: 0 };
      addValues(c, 300, value);
      addValues(t, 300, value);
      if (welchTest(summarize(c), summarize(t)).pValue < 0.05) rejected++;
    }
    expect(rejected / RUNS).toBeGreaterThan(0.035);
    expect(rejected / RUNS).toBeLessThan(0.065);
  });
});

describe('A/A tests looked at after every batch', () => {
  const RUNS = 600;
  const LOOKS = 20;
  const BATCH = 150;
  it('inflate the fixed-horizon interval past 10%, but the sequential one stays within 5% + 1.5%', () => {
    let naive = 0;
    let sequential = 0;
    for (let seed = 1; seed <= RUNS; seed++) {
      const random = seededRandom(50_000 + seed);
      const c: RateCounts = { n: 0, conversions: 0 };
      const t: RateCounts = { n: 0, conversions: 0 };
      let naiveStopped = false;
      let sequentialStopped = false;
      for (let look = 0; look < LOOKS; look++) {
        c.conversions += conversions(random, BATCH, 0.2);
        t.conversions += conversions(random, BATCH, 0.2);
        c.n += BATCH;
        t.n += BATCH;
        const lift = relativeLift(rateSummary(c), rateSummary(t));
        naiveStopped ||= excludesZero(lift.ci);
        sequentialStopped ||= excludesZero(sequentialInterval(lift.relative, lift.variance, c.n + t.n));
      }
      if (naiveStopped) naive++;
      if (sequentialStopped) sequential++;
    }
    expect(naive / RUNS).toBeGreaterThan(0.1);
    expect(sequential / RUNS).toBeLessThanOrEqual(0.065);
  });
});

describe('A/A tests of means looked at after every batch', () => {
  it('keep the sequential interval within 5% + 1.5%, while the fixed-horizon one inflates', () => {
    const RUNS = 400;
    let naive = 0;
    let sequential = 0;
    for (let seed = 1; seed <= RUNS; seed++) {
      const random = seededRandom(70_000 + seed);
      const normal = normalDraws(random);
      const value = () => Math.exp(normal());
      const c = { n: 0, sum: 0, sumSquares: 0 };
      const t = { n: 0, sum: 0, sumSquares: 0 };
      let naiveStopped = false;
      let sequentialStopped = false;
      for (let look = 0; look < 20; look++) {
        addValues(c, 100, value);
        addValues(t, 100, value);
        const lift = compareMeansFast(c, t);
        naiveStopped ||= excludesZero(lift.ci);
        sequentialStopped ||= excludesZero(sequentialInterval(lift.relative, lift.variance, c.n + t.n));
      }
      if (naiveStopped) naive++;
      if (sequentialStopped) sequential++;
    }
    expect(naive / RUNS).toBeGreaterThan(0.1);
    expect(sequential / RUNS).toBeLessThanOrEqual(0.065);
  });
});

/** The lift of means without the chance to beat control (the simulations need only the interval). */
const compareMeansFast = (c: MomentSums, t: MomentSums) => relativeLift(summarize(c), summarize(t));

describe('CUPED in A/A tests', () => {
  it('keeps the false-positive rate at 5% ± 1.5% with narrower intervals when the covariate predicts the outcome', () => {
    const RUNS = 1500;
    let rejected = 0;
    let reduction = 0;
    for (let seed = 1; seed <= RUNS; seed++) {
      const random = seededRandom(80_000 + seed);
      const normal = normalDraws(random);
      const variant = (): CovariateSums => {
        const s = { n: 0, sum: 0, sumSquares: 0, sumX: 0, sumXSquares: 0, sumXY: 0 };
        for (let i = 0; i < 300; i++) {
          const x = 10 + 3 * normal();
          const y = 5 + 0.8 * x + normal();
          s.n++;
          s.sum += y;
          s.sumSquares += y * y;
          s.sumX += x;
          s.sumXSquares += x * x;
          s.sumXY += x * y;
        }
        return s;
      };
      const lift = cupedLifts([variant(), variant()], 0)![1]!;
      if (excludesZero(lift.ci95)) rejected++;
      reduction += lift.varianceReduction / RUNS;
    }
    expect(rejected / RUNS).toBeGreaterThan(0.035);
    expect(rejected / RUNS).toBeLessThan(0.065);
    // var(y) = 0.64 · 9 + 1 = 6.76, of which 5.76 is x's: CUPED removes ~85% of it.
    expect(reduction).toBeGreaterThan(0.8);
    expect(reduction).toBeLessThan(0.9);
  });
});

describe('a planted lift', () => {
  it('is found for a rate (10% → 12%): significant, both intervals above 0, chance to beat control near 1', () => {
    const random = seededRandom(7);
    const c = { n: 10_000, conversions: conversions(random, 10_000, 0.1) };
    const t = { n: 10_000, conversions: conversions(random, 10_000, 0.12) };
    const lift = compareRates(c, t);
    expect(lift.pValue).toBeLessThan(0.001);
    expect(lift.ci95[0]).toBeGreaterThan(0);
    expect(lift.sequentialCi95[0]).toBeGreaterThan(0);
    expect(lift.ci95[0]).toBeLessThan(0.2);
    expect(lift.ci95[1]).toBeGreaterThan(0.2);
    expect(lift.chanceToBeatControl).toBeGreaterThan(0.999);
  });
  it('is found for a mean (+5%), and the interval covers it', () => {
    const random = seededRandom(8);
    const normal = normalDraws(random);
    const c = { n: 0, sum: 0, sumSquares: 0 };
    const t = { n: 0, sum: 0, sumSquares: 0 };
    addValues(c, 5000, () => 100 + 20 * normal());
    addValues(t, 5000, () => 105 + 20 * normal());
    const lift = compareMeans(c, t);
    expect(lift.pValue).toBeLessThan(0.001);
    expect(lift.ci95[0]).toBeLessThan(0.05);
    expect(lift.ci95[1]).toBeGreaterThan(0.05);
    expect(lift.sequentialCi95[0]).toBeGreaterThan(0);
  });
});

describe('sample-ratio mismatch', () => {
  it('is flagged for a 52/48 assignment against 50/50, and rarely (≤ 0.5%) for a fair one', () => {
    const random = seededRandom(9);
    const skewed = conversions(random, 20_000, 0.52);
    expect(sampleRatioMismatch({ a: skewed, b: 20_000 - skewed }, { a: 50, b: 50 }).mismatch).toBe(true);
    let flagged = 0;
    for (let seed = 1; seed <= 1000; seed++) {
      const r = seededRandom(90_000 + seed);
      const a = conversions(r, 2000, 0.3);
      if (sampleRatioMismatch({ a, b: 2000 - a }, { a: 30, b: 70 }).mismatch) flagged++;
    }
    expect(flagged).toBeLessThanOrEqual(5);
  });
});
