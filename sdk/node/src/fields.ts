/**
 * The helpers' input fields: a camelCase name for every attribute of every known event, mapped onto the
 * semantic-convention keys of `semconv/event-attributes.ts`. Input types, required fields and value kinds all
 * follow from that table, so an attribute added there is a type error here until it has a field.
 */
import {
  type AttributeSpec,
  EVENT_ATTRIBUTES,
  type EventAttributeKey,
  type EventAttributes,
  type EventName,
  type RequiredAttributeKey,
} from '../../../semconv/event-attributes.ts';

const TOOL_CALL = {
  toolName: 'gen_ai.tool.name',
  category: 'ai.tool.category',
  durationMs: 'ai.tool.duration_ms',
  success: 'ai.tool.success',
  optimistic: 'ai.navigation.optimistic',
  conversationId: 'gen_ai.conversation.id',
} as const;
const COMMERCE = { productId: 'commerce.product_id', value: 'commerce.value' } as const;

export const EVENT_FIELDS = {
  'voice.turn_started': { turnId: 'voice.turn_id' },
  'voice.first_response': { turnId: 'voice.turn_id', firstResponseMs: 'voice.first_response_ms' },
  'voice.barge_in': { turnId: 'voice.turn_id', bargeInMs: 'voice.barge_in_ms' },
  'voice.asr_partial': { asrLatencyMs: 'voice.asr_partial_latency_ms' },
  'ai.tool_call_started': TOOL_CALL,
  'ai.tool_call_completed': TOOL_CALL,
  'ai.tool_chain_completed': { length: 'ai.tool_chain.length' },
  'kb.search': { query: 'kb.query', resultsCount: 'kb.results_count', latencyMs: 'kb.search_latency_ms', topScore: 'kb.top_score' },
  'kb.hit': { resultId: 'kb.result_id', relevanceScore: 'kb.relevance_score' },
  'commerce.view': COMMERCE,
  'commerce.add_to_cart': COMMERCE,
  'commerce.checkout': COMMERCE,
  'booking.slot_hold': { bookingId: 'booking.id' },
  'booking.confirmed': { bookingId: 'booking.id' },
} as const satisfies { readonly [E in EventName]: Readonly<Record<string, EventAttributeKey<E>>> };

type Fields<E extends EventName> = (typeof EVENT_FIELDS)[E];
/** Compile-time check: every attribute of every event has a field; a missing one is named in the error here. */
type Unmapped<E extends EventName> = Exclude<EventAttributeKey<E>, Fields<E>[keyof Fields<E>]>;
type UnmappedAttributes = { [E in EventName]: [Unmapped<E>] extends [never] ? never : `${E}: ${Unmapped<E>}` }[EventName];
const everyAttributeHasAField: [UnmappedAttributes] extends [never] ? true : UnmappedAttributes = true;
void everyAttributeHasAField;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type FieldValue<E extends EventName, F extends keyof Fields<E>> = Exclude<EventAttributes<E>[Fields<E>[F] & keyof EventAttributes<E>], undefined>;

/** A helper's input for event `E`: its attributes by field name, required where the event requires them. */
export type EventInput<E extends EventName> = Simplify<
  { [F in keyof Fields<E> as Fields<E>[F] extends RequiredAttributeKey<E> ? F : never]: FieldValue<E, F> } & {
    [F in keyof Fields<E> as Fields<E>[F] extends RequiredAttributeKey<E> ? never : F]?: FieldValue<E, F>;
  }
>;
/** `track(name, attributes)`: the same attributes keyed by their semantic-convention names. */
export type { EventAttributes, EventName };

/** One field of an event, ready to check: where it comes from, where it goes, its rule. */
export interface FieldPlan {
  readonly field: string;
  readonly key: string;
  readonly spec: AttributeSpec;
}

/** Each event's fields, in the table's order. Built once. */
export const FIELD_PLANS: ReadonlyMap<string, readonly FieldPlan[]> = new Map(
  Object.entries(EVENT_FIELDS).map(([event, fields]) => {
    const specs = EVENT_ATTRIBUTES[event as EventName] as Readonly<Record<string, AttributeSpec>>;
    return [event, Object.entries(fields).map(([field, key]) => ({ field, key, spec: specs[key] }))];
  }),
);
