/**
 * An always-valid (anytime-valid) confidence interval: a confidence sequence that covers the true value at every
 * sample size at once with probability ≥ 1 − α, so results may be looked at after every batch of data — and the
 * experiment stopped as soon as the interval excludes 0 — without inflating the false-positive rate beyond α.
 * A fixed-horizon interval looked at repeatedly does inflate it (20 looks take a nominal 5% to ~25%).
 *
 * This is the asymptotic normal-mixture confidence sequence (the mixture SPRT boundary of Robbins, in the form of
 * Howard, Ramdas, McAuliffe & Sekhon 2021 and Waudby-Smith et al. 2023, "Time-uniform central limit theory"; the
 * mSPRT of Johari et al. 2017 is the same boundary): for an estimate with per-unit variance σ² after n units,
 *
 *   estimate ± σ · √( 2(nρ² + 1) / (n²ρ²) · ln( √(nρ² + 1) / α ) ).
 *
 * ρ is the mixture's tuning parameter, set from the sample size N* where the interval should be tightest
 * (Howard et al., eq. 3.4): ρ² = (−2 ln α + ln(−2 ln α + 1)) / N*. The interval is valid for any N*; a wrong
 * guess only makes it wider elsewhere. Signalhouse uses N* = `DEFAULT_TUNING_SAMPLE_SIZE` persons.
 */

import type { Interval } from './summary.ts';

/** N*: the total sample size (persons, all variants) at which the sequential interval is tightest. */
export const DEFAULT_TUNING_SAMPLE_SIZE = 5000;

/** ρ² for `alpha` and the tuning sample size N*. */
export function mixtureRhoSquared(alpha: number, tuningSampleSize = DEFAULT_TUNING_SAMPLE_SIZE): number {
  const l = -2 * Math.log(alpha);
  return (l + Math.log(l + 1)) / tuningSampleSize;
}

/** The half-width of the confidence sequence for per-unit variance `unitVariance` after `n` units. */
export function sequentialHalfWidth(unitVariance: number, n: number, alpha = 0.05, tuningSampleSize = DEFAULT_TUNING_SAMPLE_SIZE): number {
  if (!(n > 0)) return Number.NaN;
  const r2 = mixtureRhoSquared(alpha, tuningSampleSize);
  const nr2 = n * r2;
  return Math.sqrt(unitVariance) * Math.sqrt(((2 * (nr2 + 1)) / (n * n * r2)) * Math.log(Math.sqrt(nr2 + 1) / alpha));
}

/**
 * The always-valid interval of an estimate whose variance (squared standard error) is `estimateVariance` after
 * `n` units in all: the per-unit variance is n · estimateVariance.
 */
export function sequentialInterval(
  estimate: number,
  estimateVariance: number,
  n: number,
  alpha = 0.05,
  tuningSampleSize = DEFAULT_TUNING_SAMPLE_SIZE,
): Interval {
  const half = sequentialHalfWidth(n * estimateVariance, n, alpha, tuningSampleSize);
  return [estimate - half, estimate + half];
}
