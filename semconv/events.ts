/**
 * Schemas of the known product events (the catalog's events and the product's event list): which attributes each event needs for the
 * metric catalog, and their types. Attribute values are text (the storage model), so numbers are checked as
 * numeric text and booleans as "true"/"false". Other attributes are allowed. Exported as JSON Schema at
 * `GET /api/v1/analytics/schemas`.
 */
import { z } from 'zod';
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

const attrs = (shape: Record<string, z.ZodType>) => z.looseObject(shape);

const toolCall = {
  'gen_ai.tool.name': text,
  'ai.tool.category': text.optional(),
  'ai.tool.duration_ms': number.optional(),
  'ai.tool.success': boolean.optional(),
  'ai.navigation.optimistic': boolean.optional(),
  'gen_ai.conversation.id': text.optional(),
};
const commerce = { 'commerce.product_id': text.optional(), 'commerce.value': number.optional() };

export const EVENT_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  'voice.turn_started': attrs({ 'voice.turn_id': text }),
  'voice.first_response': attrs({ 'voice.turn_id': text, 'voice.first_response_ms': number }),
  'voice.barge_in': attrs({ 'voice.turn_id': text, 'voice.barge_in_ms': number.optional() }),
  'voice.asr_partial': attrs({ 'voice.asr_partial_latency_ms': number }),
  'ai.tool_call_started': attrs({ ...toolCall }),
  'ai.tool_call_completed': attrs({ ...toolCall, 'ai.tool.success': boolean }),
  'ai.tool_chain_completed': attrs({ 'ai.tool_chain.length': integer }),
  'kb.search': attrs({ 'kb.query': z.string().optional(), 'kb.results_count': integer, 'kb.search_latency_ms': number, 'kb.top_score': number.optional() }),
  'kb.hit': attrs({ 'kb.result_id': text, 'kb.relevance_score': number.optional() }),
  'commerce.view': attrs(commerce),
  'commerce.add_to_cart': attrs(commerce),
  'commerce.checkout': attrs(commerce),
  'booking.slot_hold': attrs({ 'booking.id': text }),
  'booking.confirmed': attrs({ 'booking.id': text }),
  // The web tracker's web vitals (semconv/browser.ts). Optional: OpenTelemetry's own browser instrumentation
  // sends these fields in the log body, which must not be refused; present attributes are checked.
  [EVENT_WEB_VITAL]: attrs({
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
