/**
 * Schemas of the known product events (the catalog's events and the product's event list): which attributes each
 * event needs for the metric catalog, and their types, built from the table in `event-attributes.ts`. Attribute
 * values are text (the storage model), so numbers are checked as numeric text and booleans as "true"/"false".
 * Other attributes are allowed. Exported as JSON Schema at `GET /api/v1/analytics/schemas`.
 */
import { z } from 'zod';
import { type AttributeKind, type AttributeSpec, EVENT_ATTRIBUTES } from './event-attributes.ts';

const text = z.string().min(1, 'must not be empty');
const number = z.string().regex(/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, 'must be a number');
const integer = z.string().regex(/^-?\d+$/, 'must be an integer');
const boolean = z.enum(['true', 'false'], { message: 'must be true or false' });

const KIND_SCHEMAS: Readonly<Record<AttributeKind, z.ZodType>> = { text, string: z.string(), number, integer, boolean };

/** Each known event's attributes (`event-attributes.ts`) as a zod schema; attributes it does not name are allowed. */
export const EVENT_SCHEMAS: Readonly<Record<string, z.ZodType>> = Object.fromEntries(
  Object.entries(EVENT_ATTRIBUTES).map(([event, attributes]) => [
    event,
    z.looseObject(
      Object.fromEntries(
        Object.entries(attributes as Readonly<Record<string, AttributeSpec>>).map(([key, spec]) => [
          key,
          spec.required ? KIND_SCHEMAS[spec.kind] : KIND_SCHEMAS[spec.kind].optional(),
        ]),
      ),
    ),
  ]),
);

/** JSON Schema (draft 2020-12) of every known event's attributes, keyed by event name. */
export function eventJsonSchemas(): Record<string, unknown> {
  return Object.fromEntries(Object.entries(EVENT_SCHEMAS).map(([name, schema]) => [name, { title: name, ...z.toJSONSchema(schema) }]));
}
