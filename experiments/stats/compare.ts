/**
 * One treatment variant against the control, as the results report it: relative lift with its fixed-horizon 95%
 * interval and its always-valid (sequential) one, the p-value, the chance to beat control and, when a
 * pre-exposure covariate is available, the CUPED-adjusted lift and the variance it removed.
 *
 * Rates: delta-method lift interval, two-proportion z-test, Beta posteriors. Means: delta-method lift interval,
 * Welch's t-test, normal posteriors. The sequential interval is the normal-mixture confidence sequence around
 * the lift with the delta-method variance, over all persons of both variants.
 */
import { chanceToBeatMean, chanceToBeatRate } from './bayes.ts';
import { cupedAdjust } from './cuped.ts';
import { relativeLift, welchTest } from './means.ts';
import { type RateCounts, rateSummary, twoProportionZTest } from './rates.ts';
import { sequentialInterval } from './sequential.ts';
import { type CovariateSums, type Interval, type MomentSums, type Summary, summarize } from './summary.ts';

export interface CupedLift {
  relative: number;
  ci95: Interval;
  /** 1 − Var(adjusted lift) / Var(unadjusted lift): the share of the lift's variance the covariate removed. */
  varianceReduction: number;
}

export interface Lift {
  relative: number;
  ci95: Interval;
  sequentialCi95: Interval;
  pValue: number;
  chanceToBeatControl: number;
  cuped?: CupedLift;
}

export interface CompareOptions {
  alpha?: number;
  /** N* of the sequential interval (sequential.ts). */
  tuningSampleSize?: number;
}

function liftOf(control: Summary, treatment: Summary, pValue: number, chance: number, opts: CompareOptions): Lift {
  const alpha = opts.alpha ?? 0.05;
  const lift = relativeLift(control, treatment, alpha);
  return {
    relative: lift.relative,
    ci95: lift.ci,
    sequentialCi95: sequentialInterval(lift.relative, lift.variance, control.n + treatment.n, alpha, opts.tuningSampleSize),
    pValue,
    chanceToBeatControl: chance,
  };
}

/** A conversion rate's treatment against its control. */
export function compareRates(control: RateCounts, treatment: RateCounts, opts: CompareOptions = {}): Lift {
  return liftOf(rateSummary(control), rateSummary(treatment), twoProportionZTest(control, treatment).pValue, chanceToBeatRate(control, treatment), opts);
}

/** A mean's treatment against its control. */
export function compareMeans(control: MomentSums, treatment: MomentSums, opts: CompareOptions = {}): Lift {
  const c = summarize(control);
  const t = summarize(treatment);
  return liftOf(c, t, welchTest(c, t, opts.alpha).pValue, chanceToBeatMean(c, t), opts);
}

/**
 * CUPED-adjusted lifts of each variant against `controlIndex`, θ pooled over all `variants` (cuped.ts); undefined
 * when the covariate has no variance. The entry at `controlIndex` is undefined.
 */
export function cupedLifts(variants: readonly CovariateSums[], controlIndex: number, alpha = 0.05): Array<CupedLift | undefined> | undefined {
  const cuped = cupedAdjust(variants);
  if (!cuped) return undefined;
  const control = cuped.adjusted[controlIndex];
  const rawControl = summarize(variants[controlIndex]);
  return variants.map((v, i) => {
    if (i === controlIndex) return undefined;
    const adjusted = relativeLift(control, cuped.adjusted[i], alpha);
    const raw = relativeLift(rawControl, summarize(v), alpha);
    return { relative: adjusted.relative, ci95: adjusted.ci, varianceReduction: 1 - adjusted.variance / raw.variance };
  });
}
