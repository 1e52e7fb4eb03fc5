/**
 * Rates (persons converted / persons exposed): the Wilson score interval per variant, the two-proportion z-test
 * and the relative lift with a delta-method interval. Assumes independent persons, each converting at most once.
 */
import { normalTwoSidedP, phiInverse } from './distributions.ts';
import type { Interval, Summary } from './summary.ts';

export interface RateCounts {
  /** Persons exposed. */
  n: number;
  /** Persons converted. */
  conversions: number;
}

/**
 * Wilson's score interval for a proportion: (p̂ + z²/2n ± z √(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n). Unlike the
 * normal (Wald) interval it stays inside [0, 1] and keeps its coverage near 0 and 1.
 */
export function wilsonInterval({ n, conversions }: RateCounts, alpha = 0.05): Interval {
  if (n === 0) return [0, 1];
  const z = phiInverse(1 - alpha / 2);
  const p = conversions / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const half = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  const denominator = 1 + z2 / n;
  return [Math.max(0, (centre - half) / denominator), Math.min(1, (centre + half) / denominator)];
}

/** The two-sided p-value of the pooled two-proportion z-test: z = (p_t − p_c) / √(p̄(1−p̄)(1/n_c + 1/n_t)). */
export function twoProportionZTest(control: RateCounts, treatment: RateCounts): { z: number; pValue: number } {
  const pooled = (control.conversions + treatment.conversions) / (control.n + treatment.n);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n));
  const difference = treatment.conversions / treatment.n - control.conversions / control.n;
  if (!(se > 0)) return { z: 0, pValue: difference === 0 ? 1 : 0 };
  const z = difference / se;
  return { z, pValue: normalTwoSidedP(z) };
}

/**
 * A rate as a mean of 0/1 values: mean p̂ and the Bernoulli variance p̂(1 − p̂) (what the delta method and
 * the sequential interval use for rates).
 */
export function rateSummary({ n, conversions }: RateCounts): Summary {
  const p = n > 0 ? conversions / n : Number.NaN;
  return { n, mean: p, variance: p * (1 - p) };
}
