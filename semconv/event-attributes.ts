/**
 * The known product events and their attributes, as plain data: the one table both the server's event schemas
 * (`events.ts` builds its zod schemas from it) and the Node helpers (`sdk/node`, which types its inputs from it)
 * read. Plain data with no imports, so an SDK can take it without zod.
 *
 * Kinds: `text` is a non-empty string, `string` any string, `number` a number, `integer` a whole number,
 * `boolean` true or false (stored as text, see events.ts). `unit` names what a number measures: `ms` (a
 * duration in milliseconds) and `count` are never negative.
 */

export type AttributeKind = 'text' | 'string' | 'number' | 'integer' | 'boolean';
export type AttributeUnit = 'ms' | 'count';

export interface AttributeSpec {
  readonly kind: AttributeKind;
  readonly required?: true;
  readonly unit?: AttributeUnit;
}

const toolCall = {
  'gen_ai.tool.name': { kind: 'text', required: true },
  'ai.tool.category': { kind: 'text' },
  'ai.tool.duration_ms': { kind: 'number', unit: 'ms' },
  'ai.tool.success': { kind: 'boolean' },
  'ai.navigation.optimistic': { kind: 'boolean' },
  'gen_ai.conversation.id': { kind: 'text' },
} as const;
const commerce = { 'commerce.product_id': { kind: 'text' }, 'commerce.value': { kind: 'number' } } as const;

export const EVENT_ATTRIBUTES = {
  'voice.turn_started': { 'voice.turn_id': { kind: 'text', required: true } },
  'voice.first_response': { 'voice.turn_id': { kind: 'text', required: true }, 'voice.first_response_ms': { kind: 'number', required: true, unit: 'ms' } },
  'voice.barge_in': { 'voice.turn_id': { kind: 'text', required: true }, 'voice.barge_in_ms': { kind: 'number', unit: 'ms' } },
  'voice.asr_partial': { 'voice.asr_partial_latency_ms': { kind: 'number', required: true, unit: 'ms' } },
  'ai.tool_call_started': toolCall,
  'ai.tool_call_completed': { ...toolCall, 'ai.tool.success': { kind: 'boolean', required: true } },
  'ai.tool_chain_completed': { 'ai.tool_chain.length': { kind: 'integer', required: true, unit: 'count' } },
  'kb.search': {
    'kb.query': { kind: 'string' },
    'kb.results_count': { kind: 'integer', required: true, unit: 'count' },
    'kb.search_latency_ms': { kind: 'number', required: true, unit: 'ms' },
    'kb.top_score': { kind: 'number' },
  },
  'kb.hit': { 'kb.result_id': { kind: 'text', required: true }, 'kb.relevance_score': { kind: 'number' } },
  'commerce.view': commerce,
  'commerce.add_to_cart': commerce,
  'commerce.checkout': commerce,
  'booking.slot_hold': { 'booking.id': { kind: 'text', required: true } },
  'booking.confirmed': { 'booking.id': { kind: 'text', required: true } },
} as const satisfies Readonly<Record<string, Readonly<Record<string, AttributeSpec>>>>;

export type EventName = keyof typeof EVENT_ATTRIBUTES;
export const EVENT_NAMES = Object.keys(EVENT_ATTRIBUTES) as EventName[];
/** The attribute keys of one event. */
export type EventAttributeKey<E extends EventName> = keyof (typeof EVENT_ATTRIBUTES)[E] & string;

/** The JavaScript value an attribute of each kind takes before it is stored as text. */
export interface AttributeKindValue {
  text: string;
  string: string;
  number: number;
  integer: number;
  boolean: boolean;
}

type Spec<E extends EventName, K extends EventAttributeKey<E>> = (typeof EVENT_ATTRIBUTES)[E][K] & AttributeSpec;
/** The keys an event cannot be stored without. */
export type RequiredAttributeKey<E extends EventName> = {
  [K in EventAttributeKey<E>]: Spec<E, K> extends { required: true } ? K : never;
}[EventAttributeKey<E>];
type OptionalKeys<E extends EventName> = Exclude<EventAttributeKey<E>, RequiredAttributeKey<E>>;

/** An event's attributes as values, keyed by their semantic-convention names: required ones required. */
export type EventAttributes<E extends EventName> = { [K in RequiredAttributeKey<E>]: AttributeKindValue[Spec<E, K>['kind']] } & {
  [K in OptionalKeys<E>]?: AttributeKindValue[Spec<E, K>['kind']];
};
