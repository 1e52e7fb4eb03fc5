/**
 * Schemas of the known product events (the catalog's events and the product's event list): which attributes each
 * event needs for the metric catalog, and their types, built from the table in `event-attributes.ts`. Attribute
 * values are text (the storage model), so numbers are checked as numeric text and booleans as "true"/"false".
 * Other attributes are allowed. Exported as JSON Schema at `GET /api/v1/analytics/schemas`.
 */
import { z } from 'zod';
import { type AttributeKind, type AttributeSpec, EVENT_ATTRIBUTES } from './event-attributes.ts';
import {
  ATTR_WEB_VITAL_DELTA,
  ATTR_WEB_VITAL_ID,
  ATTR_WEB_VITAL_NAME,
  ATTR_WEB_VITAL_NAVIGATION_TYPE,
  ATTR_WEB_VITAL_RATING,
  ATTR_WEB_VITAL_VALUE,
  EVENT_WEB_VITAL,
} from './browser.ts';

const text = z.string().min(1, 'must not be empty');
const number = z.string().regex(/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, 'must be a number');
const integer = z.string().regex(/^-?\d+$/, 'must be an integer');
const boolean = z.enum(['true', 'false'], { message: 'must be true or false' });

const KIND_SCHEMAS: Readonly<Record<AttributeKind, z.ZodType>> = { text, string: z.string(), number, integer, boolean };

/** Each known event's attributes (`event-attributes.ts`) as a zod schema; attributes it does not name are allowed. */
export const EVENT_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  ...Object.fromEntries(
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
  ),
  // The web tracker's web vitals (semconv/browser.ts). Optional: OpenTelemetry's own browser instrumentation
  // sends these fields in the log body, which must not be refused; present attributes are checked.
  [EVENT_WEB_VITAL]: z.looseObject({
    [ATTR_WEB_VITAL_NAME]: text.optional(),
    [ATTR_WEB_VITAL_VALUE]: number.optional(),
    [ATTR_WEB_VITAL_DELTA]: number.optional(),
    [ATTR_WEB_VITAL_ID]: text.optional(),
    [ATTR_WEB_VITAL_RATING]: z.enum(['good', 'needs-improvement', 'poor'], { message: 'must be good, needs-improvement or poor' }).optional(),
    [ATTR_WEB_VITAL_NAVIGATION_TYPE]: text.optional(),
  }),
};

/** JSON Schema (draft 2020-12) of every known event's attributes, keyed by event name. */
export function eventJsonSchemas(): Record<string, unknown> {
  return Object.fromEntries(Object.entries(EVENT_SCHEMAS).map(([name, schema]) => [name, { title: name, ...z.toJSONSchema(schema) }]));
}
