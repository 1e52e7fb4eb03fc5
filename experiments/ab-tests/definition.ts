/**
 * An A/B experiment's definition and its validation: the body of `POST /api/feature-flags/ab-tests` (the seed's
 * shape: name, status, variants with allocations and one control, metrics with one primary, createdBy) plus the
 * flag key, the time range and each metric's source. Every problem is reported with its path.
 */
import { z } from 'zod';
import { SignalhouseError } from '../../core/errors.ts';
import { timeField } from '../../query/fields.ts';
import { PER_PERSON_CATALOG_METRICS } from '../../query/experiments.ts';
import { flagKey } from '../flags/model.ts';

export const STATUSES = ['draft', 'running', 'stopped'] as const;
export type ExperimentStatus = (typeof STATUSES)[number];

/** Limits of a definition (docs/api.md). */
export const LIMITS = { variants: 20, metrics: 20, configBytes: 16_384, name: 200 } as const;

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const key = z.string().regex(KEY, 'must be 1–128 letters, digits, "_", ".", ":" or "-", starting with a letter or digit');
const name = z.string().trim().min(1).max(LIMITS.name);
/** Names an object's prototype members carry: refused as keys of a variant's config (they would alter the object). */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const config = z
  .record(
    z.string().refine((k) => !PROTOTYPE_KEYS.has(k), 'is not allowed as a key'),
    z.unknown(),
  )
  .refine((c) => JSON.stringify(c).length <= LIMITS.configBytes, `must be at most ${LIMITS.configBytes} bytes of JSON`);

const variant = z.strictObject({
  // The variant ids and the flag key become the experiment's flag: they follow the flag keys' rule.
  id: flagKey,
  name,
  allocation: z.number().min(0).max(100),
  config: config.default({}),
  isControl: z.boolean().default(false),
});

const metricBase = { id: key, name, isPrimary: z.boolean().default(false) };
const eventName = z.string().min(1).max(256);
const metric = z.discriminatedUnion('type', [
  z.strictObject({
    ...metricBase,
    type: z.literal('conversion'),
    /** The event whose first occurrence after exposure converts a person (default: the metric's id). */
    event: eventName.optional(),
    aggregation: z.literal('rate').default('rate'),
  }),
  z.strictObject({
    ...metricBase,
    type: z.literal('catalog'),
    metric: z.enum(PER_PERSON_CATALOG_METRICS as [string, ...string[]], {
      message: `must be a catalog metric with an event source: ${PER_PERSON_CATALOG_METRICS.join(', ')}`,
    }),
    aggregation: z.literal('mean').default('mean'),
  }),
  z.strictObject({
    ...metricBase,
    type: z.literal('mean'),
    attribute: z.string().min(1).max(256),
    /** Only this event's attribute values (default: any event carrying the attribute). */
    event: eventName.optional(),
    aggregation: z.enum(['mean', 'sum']).default('mean'),
  }),
]);

const variantsField = z.array(variant).min(2).max(LIMITS.variants);
const metricsField = z.array(metric).min(1).max(LIMITS.metrics);

/** Checks across variants and metrics: allocations sum to 100, one control, one primary, unique ids. */
function checkDefinition(d: { variants?: Variant[]; metrics?: Metric[]; startAt?: number; endAt?: number }, ctx: z.RefinementCtx): void {
  if (d.variants) {
    const total = d.variants.reduce((s, v) => s + v.allocation, 0);
    if (Math.abs(total - 100) > 1e-9) ctx.addIssue({ code: 'custom', path: ['variants'], message: `allocations must sum to 100 (they sum to ${total})` });
    const controls = d.variants.filter((v) => v.isControl).length;
    if (controls !== 1)
      ctx.addIssue({ code: 'custom', path: ['variants'], message: `exactly one variant must be the control (isControl: true); ${controls} are` });
    duplicates(d.variants, 'variants', ctx);
  }
  if (d.metrics) {
    const primaries = d.metrics.filter((m) => m.isPrimary).length;
    if (primaries !== 1) ctx.addIssue({ code: 'custom', path: ['metrics'], message: `exactly one metric must be primary (isPrimary: true); ${primaries} are` });
    duplicates(d.metrics, 'metrics', ctx);
  }
  if (d.startAt !== undefined && d.endAt !== undefined && d.endAt <= d.startAt)
    ctx.addIssue({ code: 'custom', path: ['endAt'], message: 'must be after startAt' });
}

function duplicates(items: ReadonlyArray<{ id: string }>, path: string, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.id)) ctx.addIssue({ code: 'custom', path: [path, i, 'id'], message: `duplicate id "${item.id}"` });
    seen.add(item.id);
  });
}

export const createSchema = z
  .strictObject({
    name,
    status: z.enum(STATUSES).default('draft'),
    flagKey: flagKey.optional(),
    variants: variantsField,
    metrics: metricsField,
    createdBy: z.string().max(LIMITS.name).optional(),
    startAt: timeField.optional(),
    endAt: timeField.optional(),
  })
  .superRefine(checkDefinition);

export const updateSchema = z
  .strictObject({
    name: name.optional(),
    status: z.enum(STATUSES).optional(),
    variants: variantsField.optional(),
    metrics: metricsField.optional(),
    startAt: timeField.nullable().optional(),
    endAt: timeField.nullable().optional(),
  })
  .superRefine((u, ctx) => checkDefinition({ ...u, startAt: u.startAt ?? undefined, endAt: u.endAt ?? undefined }, ctx));

export type Variant = z.infer<typeof variant>;
export type Metric = z.infer<typeof metric>;
export type CreateInput = z.infer<typeof createSchema>;
export type UpdateInput = z.infer<typeof updateSchema>;

/** A stored experiment (its latest version). Times are ISO 8601 text. */
export interface Experiment {
  id: string;
  name: string;
  status: ExperimentStatus;
  flagKey: string;
  variants: Variant[];
  metrics: Metric[];
  createdBy: string;
  /** Results count exposures from here: given, or when the experiment first ran. */
  startAt: string | null;
  /** Results count nothing from here: given, or when the experiment was stopped. */
  endAt: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

/** The body, parsed; a 400 naming every problem by its path otherwise. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    throw new SignalhouseError('BAD_REQUEST', r.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`).join('; '));
  }
  return r.data;
}

/** A flag key from an experiment's name: lower case, runs of other characters as "-". */
export function flagKeyFromName(experimentName: string, id: string): string {
  const slug = experimentName
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 100);
  // A flag key starts with a letter.
  if (slug === '') return `experiment-${id.slice(0, 8)}`;
  return /^[a-z]/.test(slug) ? slug : `experiment-${slug}`.slice(0, 100);
}
