/**
 * Matching and evaluation in memory: every targeting operator on person traits and event-context properties,
 * condition groups with their own rollouts and variant overrides, the refusals of filters that cannot be
 * compiled (invalid or catastrophic regexes, dates and versions that do not parse) with their paths, and
 * properties of the evaluator (fast-check): it never throws, answers the same every time, and a person inside
 * a rollout stays inside when it grows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SignalhouseError } from '../../core/errors.ts';
import { evaluateFlag } from './evaluate.ts';
import { checkFlag } from './check.ts';
import { LINEAR_REGEX, monthsBack, yearsBack } from './compile.ts';

const compiled = (input: unknown) => checkFlag(input).compiled;
const on = (filter: object, props: Record<string, unknown>) =>
  evaluateFlag(compiled({ key: 'f', conditions: [{ properties: [filter] }] }), 'person-1', props).enabled;
const refusal = (input: unknown): string => {
  try {
    checkFlag(input);
  } catch (err) {
    expect(err).toBeInstanceOf(SignalhouseError);
    expect((err as SignalhouseError).statusCode).toBe(400);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('operators', () => {
  it.each([
    [{ key: 'plan', value: 'Premium' }, { plan: 'premium' }, true],
    [{ key: 'plan', value: 'premium' }, { plan: 'free' }, false],
    [{ key: 'country', value: ['US', 'CA'] }, { country: 'ca' }, true],
    [{ key: 'country', value: ['US', 'CA'] }, { country: 'FR' }, false],
    [{ key: 'country', operator: 'is_not', value: ['US', 'CA'] }, { country: 'FR' }, true],
    [{ key: 'beta', value: true }, { beta: 'true' }, true],
    [{ key: 'beta', value: 'false' }, { beta: false }, true],
    [{ key: 'age', value: 30 }, { age: '30' }, true],
    [{ key: 'email', operator: 'icontains', value: '@ACME.com' }, { email: 'jo@acme.COM' }, true],
    [{ key: 'email', operator: 'not_icontains', value: '@acme.com' }, { email: 'jo@acme.com' }, false],
    [{ key: '$current_url', operator: 'regex', value: '^https://shop\\.example/(cart|checkout)' }, { $current_url: 'https://shop.example/cart?x=1' }, true],
    [{ key: '$current_url', operator: 'not_regex', value: '/admin' }, { $current_url: 'https://shop.example/admin' }, false],
    [{ key: 'age', operator: 'gt', value: 18 }, { age: 21 }, true],
    [{ key: 'age', operator: 'gte', value: 18 }, { age: '18' }, true],
    [{ key: 'age', operator: 'lt', value: '18' }, { age: 21 }, false],
    [{ key: 'age', operator: 'lte', value: 18 }, { age: 18 }, true],
    [{ key: 'signed_up', operator: 'is_date_before', value: '2024-01-01' }, { signed_up: '2023-06-01T00:00:00Z' }, true],
    [{ key: 'signed_up', operator: 'is_date_after', value: '2024-01-01' }, { signed_up: '2023-06-01' }, false],
    [{ key: 'signed_up', operator: 'is_date_after', value: '-7d' }, { signed_up: new Date(Date.now() - 86_400_000).toISOString() }, true],
    [{ key: 'signed_up', operator: 'is_date_after', value: '-7d' }, { signed_up: new Date(Date.now() - 8 * 86_400_000).toISOString() }, false],
    [{ key: 'signed_up', operator: 'is_date_before', value: '-1y' }, { signed_up: '2001-01-01' }, true],
    [{ key: 'plan', operator: 'is_set' }, { plan: null }, true],
    [{ key: 'plan', operator: 'is_set' }, {}, false],
    [{ key: 'plan', operator: 'is_not_set' }, {}, true],
    [{ key: 'app_version', operator: 'semver_gte', value: '1.2.0' }, { app_version: 'v1.10.0' }, true],
    [{ key: 'app_version', operator: 'semver_lt', value: '1.2' }, { app_version: '1.1.9' }, true],
    [{ key: 'app_version', operator: 'semver_eq', value: '2.0.0' }, { app_version: '2.0' }, true],
    [{ key: 'app_version', operator: 'semver_neq', value: '2.0.0' }, { app_version: '2.0.1' }, true],
    [{ key: 'app_version', operator: 'semver_gt', value: '2.0.0' }, { app_version: 'not a version' }, false],
    [{ key: 'app_version', operator: 'semver_lte', value: '2.0.0' }, { app_version: '2.0.0-beta.1' }, true],
    [{ key: 'plan', value: 'premium' }, {}, false],
    [{ key: 'age', operator: 'gt', value: 18 }, { age: null }, false],
  ])('%j on %j: %s', (filter, props, want) => {
    expect(on(filter, props)).toBe(want);
  });

  it('a property named like a member of Object.prototype is just a property', () => {
    expect(on({ key: 'toString', operator: 'is_set' }, {})).toBe(false);
    expect(on({ key: 'hasOwnProperty', value: 'x' }, { hasOwnProperty: 'x' })).toBe(true);
  });
});

describe('condition groups', () => {
  const flag = compiled({
    key: 'checkout',
    type: 'multivariate',
    variants: [
      { key: 'control', rolloutPercentage: 50 },
      { key: 'test', rolloutPercentage: 50, payload: { color: 'green' } },
    ],
    conditions: [
      { properties: [{ key: 'email', operator: 'icontains', value: '@acme.com' }], variant: 'test' },
      { properties: [{ key: 'country', value: 'US' }], rolloutPercentage: 0 },
      { properties: [{ key: 'plan', value: 'premium' }], rolloutPercentage: 100 },
    ],
  });

  it('the first matching group wins; its variant override applies, with its payload', () => {
    expect(evaluateFlag(flag, 'u1', { email: 'a@acme.com', plan: 'premium' })).toMatchObject({
      enabled: true,
      value: 'test',
      variant: 'test',
      payload: { color: 'green' },
      reason: 'condition_match',
      conditionIndex: 0,
    });
  });

  it('a group that matches at 0% is out of rollout; a later group can still match', () => {
    expect(evaluateFlag(flag, 'u1', { country: 'US' })).toMatchObject({ enabled: false, value: false, reason: 'out_of_rollout_bound' });
    expect(evaluateFlag(flag, 'u1', { country: 'US', plan: 'premium' })).toMatchObject({ enabled: true, conditionIndex: 2 });
  });

  it('no group matching: off; disabled: off whatever matches', () => {
    expect(evaluateFlag(flag, 'u1', { country: 'FR' })).toMatchObject({ enabled: false, reason: 'no_condition_match' });
    const disabled = compiled({ key: 'off', isEnabled: false });
    expect(evaluateFlag(disabled, 'u1', {})).toMatchObject({ enabled: false, value: false, reason: 'disabled' });
  });
});

describe('refused definitions, with their paths', () => {
  it.each([
    [{ key: 'f', conditions: [{ properties: [{ key: 'u', operator: 'regex', value: '([a-z' }] }] }, 'conditions.0.properties.0.value: invalid regex'],
    [{ key: 'f', conditions: [{ properties: [{ key: 'u', operator: 'regex', value: '(a+)+$' }] }] }, 'exponential time'],
    [{ key: 'f', conditions: [{ properties: [{ key: 'u', operator: 'regex', value: '(x|xx)*y' }] }] }, 'exponential time'],
    [{ key: 'f', conditions: [{ properties: [{ key: 'u', operator: 'regex', value: '(a)\\1' }] }] }, 'back-references'],
    [{ key: 'f', conditions: [{ properties: [{ key: 'u', operator: 'regex', value: 'a'.repeat(501) }] }] }, 'at most 500 characters'],
    [{ key: 'f', conditions: [{ properties: [{ key: 'd', operator: 'is_date_after', value: 'yesterday' }] }] }, 'is not a date'],
    [{ key: 'f', conditions: [{ properties: [{ key: 'v', operator: 'semver_gt', value: 'one' }] }] }, 'is not a version'],
    [{ key: 'f', conditions: [{ properties: [{ key: 'n', operator: 'gt', value: 'many' }] }] }, 'compares with a number'],
    [{ key: 'f', conditions: [{ properties: [{ key: 'n', operator: 'gt' }] }] }, 'needs a value'],
    [{ key: 'f', conditions: [{ properties: [{ key: '__proto__', value: 1 }] }] }, 'conditions.0.properties.0.key'],
    [
      {
        key: 'f',
        type: 'multivariate',
        variants: [
          { key: 'a', rolloutPercentage: 60 },
          { key: 'b', rolloutPercentage: 30 },
        ],
      },
      'variants: variant rollout percentages sum to 90, not 100',
    ],
    [{ key: 'f', type: 'multivariate', variants: [] }, 'at least one variant'],
    [{ key: 'f', rolloutPercentage: 101 }, 'rolloutPercentage: a percentage is 0 to 100'],
    [{ key: '__proto__' }, 'key: a flag key'],
    [{ key: 'f', conditions: [{ variant: 'nope' }] }, 'conditions.0.variant: no variant "nope"'],
    [{ key: 'f', extra: 1 }, 'extra'],
    [{ key: 'f', isEnabled: 'yes' }, 'isEnabled'],
    [{ key: 'f', payload: JSON.parse(`${'{"a":'.repeat(20)}1${'}'.repeat(20)}`) }, 'payload: a payload is nested at most 16 levels'],
  ])('%j', (input, message) => {
    expect(refusal(input)).toContain(message);
  });
});

describe('properties of the evaluator', () => {
  // Objects as a JSON body may carry them, members of Object.prototype shadowed by data included.
  const scalar = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.double({ noNaN: false }),
    fc.boolean(),
    fc.constant(null),
    fc.integer(),
    fc.constant(JSON.parse('{"toString":1,"valueOf":{}}') as unknown),
    fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  );
  const filter = fc.record({
    key: fc.constantFrom('plan', 'age', 'email', 'version', 'signed_up', 'constructor', 'toString'),
    operator: fc.constantFrom('exact', 'is_not', 'icontains', 'not_icontains', 'regex', 'gt', 'lte', 'is_date_after', 'is_set', 'is_not_set', 'semver_gte'),
    value: fc.constantFrom<unknown>('premium', 18, '1.2.3', '-7d', '2024-01-01', '^a.*b$', true, ['x', 'y']),
  });
  const props = fc.dictionary(fc.constantFrom('plan', 'age', 'email', 'version', 'signed_up', '__proto__', 'valueOf'), scalar);
  const person = fc.string({ minLength: 1, maxLength: 40 });
  const options = { seed: 42, numRuns: 300, interruptAfterTimeLimit: 4000 };

  it('never throws and answers the same every time, for any filters it accepts and any properties', () => {
    fc.assert(
      fc.property(fc.array(filter, { maxLength: 4 }), props, person, (filters, p, id) => {
        let flag: ReturnType<typeof compiled>;
        try {
          flag = compiled({ key: 'prop', conditions: [{ properties: filters }] });
        } catch (err) {
          // A refused definition is a 400, never anything else.
          expect((err as SignalhouseError).statusCode).toBe(400);
          return;
        }
        const first = evaluateFlag(flag, id, p);
        expect(evaluateFlag(flag, id, p)).toEqual(first);
        expect(typeof first.enabled).toBe('boolean');
      }),
      options,
    );
  });

  it('rollout is monotone: a person in at a lower percentage stays in at a higher one', () => {
    fc.assert(
      fc.property(person, fc.double({ min: 0, max: 100, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }), (id, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const inLow = evaluateFlag(compiled({ key: 'mono', rolloutPercentage: lo }), id, {}).enabled;
        const inHigh = evaluateFlag(compiled({ key: 'mono', rolloutPercentage: hi }), id, {}).enabled;
        expect(!inLow || inHigh).toBe(true);
      }),
      options,
    );
  });

  it('a person keeps their variant when the rollout grows', () => {
    fc.assert(
      fc.property(person, fc.integer({ min: 0, max: 100 }), (id, lo) => {
        const variants = [
          { key: 'a', rolloutPercentage: 40 },
          { key: 'b', rolloutPercentage: 60 },
        ];
        const low = evaluateFlag(compiled({ key: 'mv', type: 'multivariate', variants, rolloutPercentage: lo }), id, {});
        const high = evaluateFlag(compiled({ key: 'mv', type: 'multivariate', variants, rolloutPercentage: 100 }), id, {});
        expect(!low.enabled || high.value === low.value).toBe(true);
        expect(high.enabled).toBe(true);
      }),
      options,
    );
  });
});

describe('regexes run in linear time', () => {
  it('the tests run with the linear engine, as the service does, and lookarounds are refused with the reason', () => {
    expect(LINEAR_REGEX).toBe(true);
    expect(refusal({ key: 'f', conditions: [{ properties: [{ key: 'u', operator: 'regex', value: '(?<=a)b' }] }] })).toContain('cannot run in linear time');
  });

  it('a pattern that backtracks polynomially answers at once on a long value', () => {
    const f = { key: 'u', operator: 'regex', value: '^.*.*.*.*=x$' };
    expect(on(f, { u: `${'='.repeat(20_000)}y` })).toBe(false);
    expect(on(f, { u: `${'='.repeat(20_000)}x` })).toBe(true);
  });
});

describe('relative dates count back as PostHog does', () => {
  const back = (iso: string, f: (d: Date, n: number) => void, n: number) => {
    const d = new Date(iso);
    f(d, n);
    return d.toISOString().slice(0, 10);
  };
  it.each([
    ['2026-03-31', 1, '2026-02-28'],
    ['2024-03-31', 1, '2024-02-29'],
    ['2026-05-31', 2, '2026-03-30'],
    ['2026-01-15', 3, '2025-10-15'],
    // Every month passed through clamps the day, February's too (PostHog's rule).
    ['2026-07-31', 12, '2025-07-28'],
  ])('%s minus %i months is %s', (from, n, to) => {
    expect(back(`${from}T12:00:00Z`, monthsBack, n)).toBe(to);
  });
  it('29 February minus a year is 28 February', () => {
    expect(back('2024-02-29T12:00:00Z', yearsBack, 1)).toBe('2023-02-28');
    expect(back('2024-02-29T12:00:00Z', yearsBack, 4)).toBe('2020-02-28');
  });
});
