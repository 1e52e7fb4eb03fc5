/**
 * The property tests' time budget: a property that passes every run it makes before the budget ends passes, on
 * however slow a machine; a counterexample still fails it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyOptions } from './hostile.ts';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('propertyOptions', () => {
  it('passes a property whose runs all passed before the time budget ran out', async () => {
    let runs = 0;
    const property = fc.asyncProperty(fc.integer(), async () => {
      runs++;
      await pause(30);
    });
    await fc.assert(property, propertyOptions(1_000, 0.2));
    expect(runs).toBeGreaterThan(0);
    expect(runs).toBeLessThan(1_000);
  });

  it('fails a property with a counterexample, with fast-check’s report', async () => {
    const property = fc.asyncProperty(fc.integer({ min: 0, max: 100 }), async (n) => {
      expect(n).toBeLessThan(50);
    });
    await expect(fc.assert(property, propertyOptions(200, 5))).rejects.toThrow(/Counterexample/);
  });

  it('fails a property that never completed a run', async () => {
    const property = fc.asyncProperty(fc.integer(), async (n) => {
      fc.pre(n === Number.MIN_SAFE_INTEGER - 1);
    });
    await expect(fc.assert(property, propertyOptions(10, 5))).rejects.toThrow(/pre-condition/);
  });
});
