/**
 * What an experiment needs of feature flags: its multivariate flag kept in step with it — the variants are the
 * experiment's, each rolled out to its allocation with its config as payload, and the flag is enabled only while
 * the experiment runs. The service wires this to the flag store; without one (`undefined`), experiments are
 * stored and analysed all the same and no flag is written (the exposures then come from whichever flag system
 * sends `$feature_flag_called` events under the experiment's flag key).
 */
import type { Experiment } from './definition.ts';

export interface ExperimentFlagVariant {
  key: string;
  name: string;
  rolloutPercentage: number;
  payload: unknown;
}

export interface ExperimentFlag {
  key: string;
  name: string;
  variants: ExperimentFlagVariant[];
  isEnabled: boolean;
}

export interface ExperimentFlags {
  /** Creates or changes the flag `flag.key` of the tenant, recorded as `actor`'s change under `requestId`. */
  upsert(tenantId: string, flag: ExperimentFlag, actor: string, requestId: string): Promise<void>;
}

/** The flag an experiment defines. */
export function experimentFlag(e: Experiment): ExperimentFlag {
  return {
    key: e.flagKey,
    name: e.name,
    variants: e.variants.map((v) => ({ key: v.id, name: v.name, rolloutPercentage: v.allocation, payload: v.config })),
    isEnabled: e.status === 'running',
  };
}
