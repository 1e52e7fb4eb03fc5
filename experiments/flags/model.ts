/**
 * The flag model: what the admin API and `signalhouse.yaml` accept (zod, strict), and the view every answer
 * returns. Conditions are PostHog's: groups of property filters, a group matching when all its filters do, each
 * with its own rollout and an optional variant override. A flag is checked and compiled once, when it is stored
 * (compile.ts): regexes, dates and versions are parsed there, never per evaluation.
 */
import { z } from 'zod';

/** Flag keys start with a letter (so no `__proto__`), as PostHog's keys, and fit in a URL path segment. */
export const FLAG_KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;
export const flagKey = z.string().regex(FLAG_KEY, 'a flag key is a letter, then up to 99 letters, digits, "_", "." or "-"');

export const OPERATORS = [
  'exact',
  'is_not',
  'icontains',
  'not_icontains',
  'regex',
  'not_regex',
  'gt',
  'gte',
  'lt',
  'lte',
  'is_date_before',
  'is_date_after',
  'is_set',
  'is_not_set',
  'semver_eq',
  'semver_neq',
  'semver_gt',
  'semver_gte',
  'semver_lt',
  'semver_lte',
] as const;
export type Operator = (typeof OPERATORS)[number];

/** Limits on what one flag may hold: it is evaluated in memory on every `/flags` request. */
export const LIMITS = {
  conditions: 50,
  properties: 50,
  variants: 20,
  listValues: 1000,
  valueLength: 1000,
  regexLength: 500,
  payloadBytes: 64 * 1024,
  payloadDepth: 16,
} as const;

const scalar = z.union([z.string().max(LIMITS.valueLength), z.number().finite(), z.boolean()]);

/** Property keys: any name but the ones that reach an object's prototype. */
const propertyKey = z
  .string()
  .min(1)
  .max(400)
  .refine((k) => k !== '__proto__' && k !== 'constructor' && k !== 'prototype', 'this property name is not allowed');

export const propertyFilterSchema = z.strictObject({
  key: propertyKey,
  operator: z.enum(OPERATORS).default('exact'),
  /** A value, or a list of values for `exact` / `is_not` (in / not in); absent for `is_set` / `is_not_set`. */
  value: z.union([scalar, z.array(scalar).min(1).max(LIMITS.listValues)]).optional(),
  /** Where the property comes from: the person's traits or the event context; both are matched on one map. */
  type: z.enum(['person', 'event']).default('person'),
});
export type PropertyFilter = z.infer<typeof propertyFilterSchema>;

const percentage = z.number().finite().min(0, 'a percentage is 0 to 100').max(100, 'a percentage is 0 to 100');

export const conditionSchema = z.strictObject({
  properties: z.array(propertyFilterSchema).max(LIMITS.properties).default([]),
  /** Of the people matching the properties; absent: the flag's `rolloutPercentage`. */
  rolloutPercentage: percentage.optional(),
  /** A multivariate flag's variant for everyone this group matches, instead of the variant split. */
  variant: flagKey.optional(),
});
export type Condition = z.infer<typeof conditionSchema>;

/** Any JSON value, bounded in size and depth (checked in `superRefine`, where the path is known). */
const payload = z.json();

export const variantSchema = z.strictObject({
  key: flagKey,
  name: z.string().max(200).optional(),
  rolloutPercentage: percentage,
  payload: payload.optional(),
});

export const flagInputSchema = z
  .strictObject({
    key: flagKey,
    name: z.string().max(400).optional(),
    type: z.enum(['boolean', 'multivariate']).default('boolean'),
    isEnabled: z.boolean().default(true),
    /** What an enabled flag answers a person it matches: `true` for a boolean flag (a multivariate one answers its variant). */
    value: z.literal(true, { error: 'value is true: a boolean flag that matches answers true (a multivariate one, its variant)' }).optional(),
    /** Of the people each condition group matches (when the group says none), or of everyone without conditions. */
    rolloutPercentage: percentage.default(100),
    conditions: z.array(conditionSchema).max(LIMITS.conditions).default([]),
    variants: z.array(variantSchema).max(LIMITS.variants).default([]),
    /** Payloads by value: `"true"` for a boolean flag, a variant key for a multivariate one. */
    payloads: z.record(z.string().max(200), payload).optional(),
    /** A boolean flag's payload (the same as `payloads.true`). */
    payload: payload.optional(),
    createdBy: z.string().max(200).optional(),
    updatedBy: z.string().max(200).optional(),
  })
  .superRefine((f, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const variantKeys = new Set<string>();
    if (f.type === 'multivariate') {
      if (f.variants.length === 0) issue(['variants'], 'a multivariate flag needs at least one variant');
      f.variants.forEach((v, i) => {
        if (variantKeys.has(v.key)) issue(['variants', i, 'key'], `duplicate variant key "${v.key}"`);
        variantKeys.add(v.key);
      });
      const sum = f.variants.reduce((s, v) => s + v.rolloutPercentage, 0);
      if (f.variants.length > 0 && Math.abs(sum - 100) > 1e-9) issue(['variants'], `variant rollout percentages sum to ${sum}, not 100`);
      if (f.value !== undefined) issue(['value'], 'a multivariate flag answers its variant: leave value out');
      if (f.payload !== undefined) issue(['payload'], 'a multivariate flag has a payload per variant (variants[].payload or payloads)');
    } else if (f.variants.length > 0) issue(['variants'], 'a boolean flag has no variants (type: multivariate)');
    f.conditions.forEach((c, i) => {
      if (c.variant !== undefined && !variantKeys.has(c.variant)) issue(['conditions', i, 'variant'], `no variant "${c.variant}" in variants`);
    });
    const valueKeys = f.type === 'multivariate' ? variantKeys : new Set(['true']);
    for (const k of Object.keys(f.payloads ?? {})) {
      if (!valueKeys.has(k))
        issue(['payloads', k], f.type === 'multivariate' ? `no variant "${k}" in variants` : 'a boolean flag has one payload, under "true"');
    }
    const checkPayload = (value: unknown, path: (string | number)[]) => {
      if (value === undefined) return;
      if (depth(value) > LIMITS.payloadDepth) issue(path, `a payload is nested at most ${LIMITS.payloadDepth} levels`);
      else if (Buffer.byteLength(JSON.stringify(value)) > LIMITS.payloadBytes) issue(path, `a payload is at most ${LIMITS.payloadBytes} bytes of JSON`);
    };
    checkPayload(f.payload, ['payload']);
    f.variants.forEach((v, i) => {
      checkPayload(v.payload, ['variants', i, 'payload']);
    });
    for (const [k, v] of Object.entries(f.payloads ?? {})) checkPayload(v, ['payloads', k]);
  });
export type FlagInput = z.input<typeof flagInputSchema>;

/** A patch: any field of the definition but the key (which names the flag). */
export const flagPatchSchema = z.record(z.string(), z.unknown());

function depth(value: unknown, level = 0): number {
  if (level > LIMITS.payloadDepth) return level;
  if (Array.isArray(value)) return value.reduce<number>((d, v) => Math.max(d, depth(v, level + 1)), level + 1);
  if (value !== null && typeof value === 'object') return Object.values(value).reduce<number>((d, v) => Math.max(d, depth(v, level + 1)), level + 1);
  return level;
}

/** A flag's definition as stored (defaults applied, payloads in one map). */
export interface FlagDefinition {
  key: string;
  name: string;
  type: 'boolean' | 'multivariate';
  isEnabled: boolean;
  rolloutPercentage: number;
  conditions: Condition[];
  variants: Array<{ key: string; name: string; rolloutPercentage: number; payload?: unknown }>;
  /** By value: `"true"`, or a variant key. */
  payloads: Record<string, unknown>;
}

/** The view every answer returns (the dashboard reads exactly this shape). */
export interface FlagView extends FlagDefinition {
  value: true | null;
  version: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
  source: 'api' | 'config';
}

/** The input, validated, as a definition; throws the zod error with every problem's path. */
export function definitionOf(input: z.output<typeof flagInputSchema>): FlagDefinition {
  const payloads: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(input.payloads ?? {})) payloads[k] = v;
  if (input.payload !== undefined) payloads.true = input.payload;
  for (const v of input.variants) if (v.payload !== undefined) payloads[v.key] = v.payload;
  return {
    key: input.key,
    name: input.name ?? input.key,
    type: input.type,
    isEnabled: input.isEnabled,
    rolloutPercentage: input.rolloutPercentage,
    conditions: input.conditions,
    variants: input.variants.map((v) => ({
      key: v.key,
      name: v.name ?? v.key,
      rolloutPercentage: v.rolloutPercentage,
      ...(payloads[v.key] === undefined ? {} : { payload: payloads[v.key] }),
    })),
    payloads: { ...payloads },
  };
}

/** A definition back as input (for a PATCH merged over it). */
export function inputOf(d: FlagDefinition): Record<string, unknown> {
  return {
    key: d.key,
    name: d.name,
    type: d.type,
    isEnabled: d.isEnabled,
    rolloutPercentage: d.rolloutPercentage,
    conditions: d.conditions,
    variants: d.variants.map(({ payload: _payload, ...v }) => v),
    payloads: d.payloads,
  };
}
