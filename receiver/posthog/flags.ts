/**
 * Feature flags as posthog-js asks for them: `POST /flags/?v=2` (posthog-js ≥ 1.2xx; `&config=true` from the
 * versions that took their config from it too) and `POST /decide/?v=1…4` (older versions, whose answer also
 * carries the remote config). Flags come from the `FlagsEvaluator` the service plugs in (core/flags.ts), and
 * every answer says so in the shape its version reads: `featureFlags` (an array of enabled
 * keys for `/decide` v1, else key → value), `featureFlagPayloads`, `flags` (key → details, `/flags` v2 and
 * `/decide` v4) and `errorsWhileComputingFlags: false`. A version above the newest known gets the newest shape.
 */
import { randomUUID } from 'node:crypto';
import { SignalhouseError } from '../../core/errors.ts';
import type { FlagEvaluation, FlagsRequest } from '../../core/flags.ts';
import { type Json, isObject } from '../product/common.ts';
import type { RemoteConfig } from './remote-config.ts';

export type FlagsEndpoint = 'flags' | 'decide';
const NEWEST: Record<FlagsEndpoint, number> = { flags: 2, decide: 4 };

/** The `v` query parameter: absent means 1; not a whole number refuses the request. */
export function flagsVersion(value: string, endpoint: FlagsEndpoint): number {
  if (value === '') return 1;
  if (!/^\d{1,6}$/.test(value)) throw new SignalhouseError('BAD_REQUEST', `v must be a version number (1 to ${NEWEST[endpoint]})`);
  return Math.min(Math.max(Number(value), 1), NEWEST[endpoint]);
}

const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const object = (v: unknown, field: string): Json => {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new SignalhouseError('BAD_REQUEST', `${field} must be an object`);
  return v;
};

/** The person and context of a flags request body (posthog-js sends `token`, `distinct_id`, …). */
export function flagsRequest(tenantId: string, body: Json): FlagsRequest {
  const distinctId = text(body.distinct_id);
  if (distinctId === '') throw new SignalhouseError('BAD_REQUEST', 'distinct_id is required (a string)');
  const keys = body.flag_keys;
  if (keys !== undefined && !(Array.isArray(keys) && keys.every((k) => typeof k === 'string'))) {
    throw new SignalhouseError('BAD_REQUEST', 'flag_keys must be an array of strings');
  }
  return {
    tenantId,
    distinctId,
    anonDistinctId: text(body.$anon_distinct_id),
    groups: object(body.groups, 'groups'),
    personProperties: object(body.person_properties, 'person_properties'),
    groupProperties: object(body.group_properties, 'group_properties'),
    flagKeys: keys as string[] | undefined,
  };
}

/** The answer to a flags request: the flags in the version's shape, with the remote config when asked. */
export function flagsAnswer(endpoint: FlagsEndpoint, version: number, flags: readonly FlagEvaluation[], config: RemoteConfig | undefined): Json {
  const values: Json = {};
  const payloads: Json = {};
  const details: Json = {};
  const enabled: string[] = [];
  for (const f of flags) {
    const value = f.enabled ? (f.variant ?? true) : false;
    values[f.key] = value;
    if (f.enabled) enabled.push(f.key);
    if (f.payload !== undefined) payloads[f.key] = f.payload;
    details[f.key] = {
      key: f.key,
      enabled: f.enabled,
      variant: f.variant,
      reason: f.reason === undefined ? undefined : { code: f.reason, description: f.reason, condition_index: f.conditionIndex },
      metadata: { payload: f.payload === undefined ? undefined : JSON.stringify(f.payload) },
    };
  }
  const answer: Json = { ...config };
  if (endpoint === 'decide' && version === 1) answer.featureFlags = enabled;
  else answer.featureFlags = values;
  if (endpoint === 'flags' || version >= 3) {
    answer.featureFlagPayloads = payloads;
    answer.errorsWhileComputingFlags = false;
  }
  if (version >= NEWEST[endpoint]) answer.flags = details;
  answer.requestId = randomUUID();
  return answer;
}
