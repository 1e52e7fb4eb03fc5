/**
 * Sample-ratio mismatch: a chi-square goodness-of-fit test of the exposures per variant against the configured
 * allocations. χ² = Σ (observed − expected)² / expected with k − 1 degrees of freedom over the variants that
 * are allocated traffic; a mismatch is flagged at p < 0.001 (a broken assignment or exposure logging, not
 * chance: at that level a healthy experiment is flagged once in a thousand checks).
 */
import { chiSquareCdf } from './distributions.ts';

export const SRM_THRESHOLD = 0.001;

export interface SrmResult {
  observed: Record<string, number>;
  expected: Record<string, number>;
  /** null when a variant with no allocation has exposures (an infinite statistic). */
  chiSquare: number | null;
  pValue: number;
  mismatch: boolean;
}

/** `allocations`: percentages per variant id, summing to 100; `observed`: exposures per variant id. */
export function sampleRatioMismatch(observed: Readonly<Record<string, number>>, allocations: Readonly<Record<string, number>>): SrmResult {
  const ids = Object.keys(allocations);
  const total = ids.reduce((s, id) => s + (observed[id] ?? 0), 0);
  const observedOut: Record<string, number> = Object.create(null);
  const expectedOut: Record<string, number> = Object.create(null);
  let chiSquare = 0;
  let cells = 0;
  let impossible = false;
  for (const id of ids) {
    const o = observed[id] ?? 0;
    const e = (total * allocations[id]) / 100;
    observedOut[id] = o;
    expectedOut[id] = e;
    if (allocations[id] === 0) {
      if (o > 0) impossible = true;
      continue;
    }
    cells++;
    if (e > 0) chiSquare += ((o - e) * (o - e)) / e;
  }
  if (impossible) return { observed: observedOut, expected: expectedOut, chiSquare: null, pValue: 0, mismatch: true };
  const pValue = total === 0 || cells < 2 ? 1 : 1 - chiSquareCdf(chiSquare, cells - 1);
  return { observed: observedOut, expected: expectedOut, chiSquare, pValue, mismatch: pValue < SRM_THRESHOLD };
}
