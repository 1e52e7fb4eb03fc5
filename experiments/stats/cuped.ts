/**
 * CUPED (Deng, Xu, Kohavi & Walker 2013): a per-person covariate x measured before exposure (the same metric over a
 * pre-exposure window) explains part of the variance of the outcome y, and y − θ(x − x̄) keeps y's expectation with
 * less variance. θ = cov(y, x) / var(x) is estimated over all variants pooled (so the adjustment is the same for
 * every variant and cannot create a difference); each variant's adjusted mean is ȳ_v − θ(x̄_v − x̄) and its
 * adjusted variance s²_y + θ² s²_x − 2θ s_xy (within the variant). Randomization makes x independent of the
 * variant, which is what keeps the adjusted difference unbiased.
 */
import type { CovariateSums, Summary } from './summary.ts';

export interface CupedAdjustment {
  theta: number;
  /** Adjusted summaries, in the order given. */
  adjusted: Summary[];
}

/** θ and the adjusted summaries; undefined when the covariate has no variance (nothing to adjust with). */
export function cupedAdjust(variants: readonly CovariateSums[]): CupedAdjustment | undefined {
  let n = 0;
  let sy = 0;
  let sx = 0;
  let sxx = 0;
  let sxy = 0;
  for (const v of variants) {
    n += v.n;
    sy += v.sum;
    sx += v.sumX;
    sxx += v.sumXSquares;
    sxy += v.sumXY;
  }
  if (n < 2) return undefined;
  const varX = (sxx - (sx * sx) / n) / (n - 1);
  if (!(varX > 0)) return undefined;
  const covXY = (sxy - (sx * sy) / n) / (n - 1);
  const theta = covXY / varX;
  const meanX = sx / n;
  const adjusted = variants.map((v) => {
    const my = v.sum / v.n;
    const mx = v.sumX / v.n;
    const d = v.n - 1;
    const vy = (v.sumSquares - v.n * my * my) / d;
    const vx = (v.sumXSquares - v.n * mx * mx) / d;
    const cxy = (v.sumXY - v.n * mx * my) / d;
    return { n: v.n, mean: my - theta * (mx - meanX), variance: Math.max(0, vy + theta * theta * vx - 2 * theta * cxy) };
  });
  return { theta, adjusted };
}
