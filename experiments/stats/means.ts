/**
 * Means: Welch's t-test and interval for the difference of two means (unequal variances), and the relative lift
 * (treatment mean / control mean − 1) with a delta-method interval. Assumes independent persons and means
 * close enough to normal (the central limit theorem at the sample sizes experiments have).
 */
import { normalTwoSidedP, phiInverse, studentCdf, studentQuantile } from './distributions.ts';
import { type Interval, meanVariance, type Summary } from './summary.ts';

export interface WelchResult {
  /** Treatment mean − control mean. */
  difference: number;
  /** t = difference / √(s²_c/n_c + s²_t/n_t). */
  t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** Two-sided p-value of t. */
  pValue: number;
  /** difference ± t_{1−α/2, df} · se. */
  ci: Interval;
}

/** Welch's t-test of treatment − control, with its (1 − alpha) interval. */
export function welchTest(control: Summary, treatment: Summary, alpha = 0.05): WelchResult {
  const vc = meanVariance(control);
  const vt = meanVariance(treatment);
  const se2 = vc + vt;
  const difference = treatment.mean - control.mean;
  const se = Math.sqrt(se2);
  const df = (se2 * se2) / ((vc * vc) / (control.n - 1) + (vt * vt) / (treatment.n - 1));
  if (!(se > 0)) {
    // No variance at all: the means are known exactly; equal means are no evidence of a difference.
    const p = difference === 0 ? 1 : 0;
    return { difference, t: difference === 0 ? 0 : Math.sign(difference) * Number.POSITIVE_INFINITY, df: Number.NaN, pValue: p, ci: [difference, difference] };
  }
  const t = difference / se;
  const pValue = Number.isFinite(df) ? 2 * studentCdf(-Math.abs(t), df) : normalTwoSidedP(t);
  const q = Number.isFinite(df) ? studentQuantile(1 - alpha / 2, df) : phiInverse(1 - alpha / 2);
  return { difference, t, df, pValue, ci: [difference - q * se, difference + q * se] };
}

export interface RelativeLift {
  /** m_t / m_c − 1. */
  relative: number;
  /** Delta-method variance of the ratio: s²_t/(n_t m_c²) + m_t² s²_c/(n_c m_c⁴). */
  variance: number;
  /** relative ± z_{1−α/2} √variance. */
  ci: Interval;
}

/**
 * The relative lift of treatment over control and its delta-method interval (first-order Taylor expansion of
 * the ratio of two independent means). Undefined (NaN) when the control mean is 0.
 */
export function relativeLift(control: Summary, treatment: Summary, alpha = 0.05): RelativeLift {
  const mc = control.mean;
  const mt = treatment.mean;
  const variance = mc === 0 ? Number.NaN : meanVariance(treatment) / (mc * mc) + (mt * mt * meanVariance(control)) / (mc * mc * mc * mc);
  const relative = mc === 0 ? Number.NaN : mt / mc - 1;
  const half = phiInverse(1 - alpha / 2) * Math.sqrt(variance);
  return { relative, variance, ci: [relative - half, relative + half] };
}
