/**
 * Feature flags, for the rest of experiments/ and the service: the store (get, list, put, remove: an
 * experiment creates or replaces its multivariate flag with `put`), evaluation, and the routes.
 */
export { type Evaluation, evaluateFlag } from './evaluate.ts';
export type { FlagDefinition, FlagInput, FlagView } from './model.ts';
export { type FlagActor, FlagStore } from './store.ts';
