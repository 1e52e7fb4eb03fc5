/**
 * The rollup SQL's rewriting of a metric's aggregate to one metric's rows (the SLA overview's single scan): every
 * catalog metric can be rewritten, every column read sits inside a conditioned call, and shapes it does not know
 * are refused rather than silently read unconditioned. Its results are checked against the per-metric SQL by the
 * overview tests in reports.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { METRICS } from './catalog.ts';
import { conditionedAggregate, rollupOverviewSql } from './sql.ts';

describe('conditionedAggregate', () => {
  it('conditions every aggregate call of every catalog metric', () => {
    for (const m of METRICS) {
      const out = conditionedAggregate(m.rollup.aggregate, 'c');
      expect(out, m.name).not.toMatch(/\b(sum|quantilesDDMerge|uniqExactMerge)\(/);
      const calls = m.rollup.aggregate.match(/\b(sum|quantilesDDMerge|uniqExactMergeIf)\(/g) ?? [];
      expect(calls.length, m.name).toBeGreaterThan(0);
      // Each call ends with the condition: `…, c)` or `… AND c)`.
      expect(out.match(/(, c\)|AND c\))/g) ?? [], m.name).toHaveLength(calls.length);
    }
  });

  it('rewrites each known call shape', () => {
    expect(conditionedAggregate('if((sum(Events)) = 0, NULL, (sum(Ok)) / (sum(Events)))', 'x')).toBe(
      'if((sumIf(Events, x)) = 0, NULL, (sumIf(Ok, x)) / (sumIf(Events, x)))',
    );
    expect(conditionedAggregate('quantilesDDMerge(0.005, 0.5)(Value)[1]', 'x')).toBe('quantilesDDMergeIf(0.005, 0.5)(Value, x)[1]');
    expect(conditionedAggregate("uniqExactMergeIf(Sessions, EventName = 'a')", 'x')).toBe("uniqExactMergeIf(Sessions, (EventName = 'a') AND x)");
  });

  it('refuses an aggregate that would read a column outside a conditioned call', () => {
    expect(() => conditionedAggregate('avg(ValueSum)', 'x')).toThrow(/reads ValueSum outside a call/);
    expect(() => conditionedAggregate('sum(Events) + max(Ok)', 'x')).toThrow(/reads Ok outside a call/);
    expect(() => conditionedAggregate('sum(0.5)(Events)', 'x')).toThrow(/unexpected parametric call/);
  });

  it('builds one statement for the whole catalog, binding tenant, site and range as parameters', () => {
    const sql = rollupOverviewSql('signalhouse', METRICS, true);
    expect(sql).toContain('GROUP BY GROUPING SETS ((bucket), ())');
    expect(sql).toContain('{tenant:String}');
    expect(sql).toContain('{site:String}');
    expect(sql.match(/FROM signalhouse\.rollup_1m/g)).toHaveLength(2);
  });
});
