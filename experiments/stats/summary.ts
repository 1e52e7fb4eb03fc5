/**
 * What the store returns per variant, and the summaries the tests work on. Only sums leave ClickHouse (one row per
 * variant): the count of persons and the sums of their values and squared values, plus, for CUPED, the same of a
 * pre-exposure covariate and the cross products.
 */

/** A two-sided interval [lower, upper]. */
export type Interval = [lower: number, upper: number];

/** Per-variant sums of a per-person value y. */
export interface MomentSums {
  /** Persons. */
  n: number;
  /** Σy. */
  sum: number;
  /** Σy². */
  sumSquares: number;
}

/** Per-variant sums of y and a pre-exposure covariate x, for CUPED. */
export interface CovariateSums extends MomentSums {
  /** Σx, Σx², Σxy. */
  sumX: number;
  sumXSquares: number;
  sumXY: number;
}

/** A sample's size, mean and unbiased variance (n − 1 in the denominator). */
export interface Summary {
  n: number;
  mean: number;
  variance: number;
}

/** Mean and sample variance from sums; the variance is NaN below two persons, and never below 0 (rounding). */
export function summarize(s: MomentSums): Summary {
  const mean = s.n > 0 ? s.sum / s.n : Number.NaN;
  const variance = s.n > 1 ? Math.max(0, (s.sumSquares - s.n * mean * mean) / (s.n - 1)) : Number.NaN;
  return { n: s.n, mean, variance };
}

/** The sums of a set of values (tests and benchmarks build the store's answer this way). */
export function sumsOf(values: readonly number[]): MomentSums {
  let sum = 0;
  let sumSquares = 0;
  for (const v of values) {
    sum += v;
    sumSquares += v * v;
  }
  return { n: values.length, sum, sumSquares };
}

/** The standard error² of a summary's mean: s² / n. */
export const meanVariance = (s: Summary): number => s.variance / s.n;
