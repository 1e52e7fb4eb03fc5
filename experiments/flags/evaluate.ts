/**
 * One flag for one person, in memory: PostHog's evaluation (posthog-node's local evaluation reaches the same
 * answer). A disabled flag is off. Otherwise the condition groups are tried in order; the first whose filters
 * all match and whose rollout holds the person's bucket (hash ≤ rollout) turns the flag on: a boolean flag answers
 * true, a multivariate one the group's variant override or the person's variant by the variant hash. No group:
 * off, `out_of_rollout_bound` when a group matched the properties but not the bucket.
 */
import type { FlagEvaluation } from '../../core/flags.ts';
import type { CompiledFlag, Properties } from './compile.ts';
import { bucket, variantFor } from './hash.ts';

export type FlagValue = boolean | string;

export interface Evaluation extends FlagEvaluation {
  /** The answer: false when off, else the variant, else true. */
  value: FlagValue;
}

export function evaluateFlag(flag: CompiledFlag, distinctId: string, props: Properties): Evaluation {
  const d = flag.definition;
  if (!d.isEnabled) return { key: d.key, enabled: false, value: false, reason: 'disabled' };
  let outOfRollout = false;
  let rolloutBucket: number | undefined;
  for (let i = 0; i < flag.conditions.length; i++) {
    const c = flag.conditions[i];
    if (!c.matchers.every((m) => m(props))) continue;
    rolloutBucket ??= bucket(d.key, distinctId);
    if (rolloutBucket > c.rollout) {
      outOfRollout = true;
      continue;
    }
    let variant: string | undefined;
    if (d.type === 'multivariate') {
      variant = c.variant !== undefined && d.variants.some((v) => v.key === c.variant) ? c.variant : variantFor(d.key, distinctId, d.variants);
    }
    const payload = d.payloads[variant ?? 'true'];
    return {
      key: d.key,
      enabled: true,
      value: variant ?? true,
      ...(variant === undefined ? {} : { variant }),
      ...(payload === undefined ? {} : { payload }),
      reason: 'condition_match',
      conditionIndex: i,
    };
  }
  return { key: d.key, enabled: false, value: false, reason: outOfRollout ? 'out_of_rollout_bound' : 'no_condition_match' };
}
