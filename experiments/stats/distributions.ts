/**
 * The distribution functions the statistics use, from stdlib (one import each, typed), under the names the
 * formulas in docs/api.md use: Φ, Φ⁻¹, the Student t and chi-square CDFs and quantiles, the Beta CDF.
 */
import betaCdf from '@stdlib/stats-base-dists-beta-cdf';
import chisquareCdf from '@stdlib/stats-base-dists-chisquare-cdf';
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** Φ(x): the standard normal CDF. */
export const phi = (x: number): number => normalCdf(x, 0, 1);
/** Φ⁻¹(p): the standard normal quantile. */
export const phiInverse = (p: number): number => normalQuantile(p, 0, 1);
/** P(T ≤ x) for Student's t with `df` degrees of freedom. */
export const studentCdf = (x: number, df: number): number => tCdf(x, df);
/** The `p` quantile of Student's t with `df` degrees of freedom. */
export const studentQuantile = (p: number, df: number): number => tQuantile(p, df);
/** P(X ≤ x) for a chi-square variable with `k` degrees of freedom. */
export const chiSquareCdf = (x: number, k: number): number => chisquareCdf(x, k);
/** P(X ≤ x) for X ~ Beta(a, b). */
export const betaDistCdf = (x: number, a: number, b: number): number => betaCdf(x, a, b);

/** The two-sided p-value of a standard normal statistic z (from the lower tail, so tiny p-values keep their digits). */
export const normalTwoSidedP = (z: number): number => 2 * phi(-Math.abs(z));
