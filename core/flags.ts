/**
 * What the PostHog API's flag paths (`/flags`, `/decide`, receiver/posthog) ask of feature flags, as an interface:
 * receivers never import the flags component (experiments/flags), so the service plugs its evaluator in here.
 * Until one is plugged in, `NO_FLAGS` answers none.
 */

/** A JSON object as a request body carries it. */
export type JsonObject = Record<string, unknown>;

/** What a flags request says about the person it evaluates flags for. */
export interface FlagsRequest {
  tenantId: string;
  distinctId: string;
  /** The anonymous id before an identify, when posthog-js sends one. */
  anonDistinctId: string;
  groups: JsonObject;
  /** Person traits and event-context properties the conditions match on. */
  personProperties: JsonObject;
  groupProperties: JsonObject;
  /** Only these flags, when posthog-js names them (`flag_keys`). */
  flagKeys: readonly string[] | undefined;
}

/** One flag's value for a person. */
export interface FlagEvaluation {
  key: string;
  enabled: boolean;
  /** The variant of a multivariate flag. */
  variant?: string;
  payload?: unknown;
  /** Why: `condition_match`, `out_of_rollout_bound`, `no_condition_match` or `disabled`. */
  reason?: string;
  /** The condition group that matched, when one did. */
  conditionIndex?: number;
}

/** Where flags come from: the flags component plugs one in here. */
export interface FlagsEvaluator {
  /** Whether the tenant has any flag (the remote config's `hasFeatureFlags`: posthog-js skips `/flags` without). */
  hasFlags(tenantId: string): boolean;
  evaluate(request: FlagsRequest): Promise<readonly FlagEvaluation[]>;
}

/** No flags, for every tenant. */
export const NO_FLAGS: FlagsEvaluator = {
  hasFlags: () => false,
  evaluate: async () => [],
};

/**
 * Stores a `$feature_flag_called` event for a person, through the pipeline the PostHog API feeds (as posthog-js
 * and posthog-node report the flags they read): the flags component calls it when its evaluate API answers.
 * Resolves once the event is committed.
 */
export type FlagCalledRecorder = (tenantId: string, distinctId: string, flagKey: string, response: boolean | string) => Promise<void>;
