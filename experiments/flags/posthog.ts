/**
 * The flags as PostHog's SDKs see them: the evaluator the PostHog API's `/flags` and `/decide` answer from
 * (core/flags.ts), and the definitions posthog-node's local evaluation loads (`GET /flags/definitions`, and
 * `/api/feature_flag/local_evaluation` of older versions) in PostHog's shape, so that it computes the same answer
 * as the server for every person: the same groups, rollouts, variants and hash. Payloads travel as JSON strings
 * there, as PostHog sends them.
 */
import type { FlagEvaluation, FlagsEvaluator, FlagsRequest } from '../../core/flags.ts';
import type { CompiledFlag } from './compile.ts';
import { evaluateFlag } from './evaluate.ts';
import type { FlagStore } from './store.ts';

export function posthogFlagsEvaluator(flags: FlagStore): FlagsEvaluator {
  return {
    hasFlags: (tenantId) => flags.hasFlags(tenantId),
    async evaluate(request: FlagsRequest): Promise<readonly FlagEvaluation[]> {
      const out: FlagEvaluation[] = [];
      const only = request.flagKeys ? new Set(request.flagKeys) : undefined;
      for (const flag of flags.compiled(request.tenantId)) {
        if (only && !only.has(flag.definition.key)) continue;
        const { value: _value, ...evaluation } = evaluateFlag(flag, request.distinctId, request.personProperties);
        out.push(evaluation);
      }
      return out;
    },
  };
}

/** One flag in PostHog's local-evaluation shape. */
function localFlag(flag: CompiledFlag, id: number) {
  const d = flag.definition;
  const groups = (d.conditions.length > 0 ? d.conditions : [{ properties: [] }]).map((c) => ({
    properties: c.properties.map((p) => ({ key: p.key, operator: p.operator, value: p.value, type: 'person' })),
    rollout_percentage: c.rolloutPercentage ?? d.rolloutPercentage,
    ...(c.variant === undefined ? {} : { variant: c.variant }),
  }));
  const payloads: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.payloads)) payloads[k] = JSON.stringify(v);
  return {
    id,
    name: d.name,
    key: d.key,
    active: d.isEnabled,
    deleted: false,
    ensure_experience_continuity: false,
    filters: {
      groups,
      multivariate:
        d.type === 'multivariate' ? { variants: d.variants.map((v) => ({ key: v.key, name: v.name, rollout_percentage: v.rolloutPercentage })) } : null,
      payloads,
    },
  };
}

export function localEvaluationDefinitions(flags: FlagStore, tenantId: string) {
  let id = 0;
  return { flags: [...flags.compiled(tenantId)].map((f) => localFlag(f, ++id)), group_type_mapping: {}, cohorts: {} };
}
