/**
 * The helpers' public types: what each takes, the per-call options and the instance's options.
 */
import type { Context, Tracer } from '@opentelemetry/api';
import type { Logger } from '@opentelemetry/api-logs';
import type { EventAttributes, EventName } from '../../../semconv/event-attributes.ts';
import type { Attributes, Limits, SignalhouseStats } from './attributes.ts';
import type { EventInput } from './fields.ts';

/** Who and where, per call; each falls back to the instance's `defaults`. */
export interface TrackContext {
  siteId?: string;
  sessionId?: string;
  userId?: string;
  anonymousId?: string;
  /** `gen_ai.conversation.id`; a tool execution's own `conversationId` wins. */
  conversationId?: string;
  /** Custom attributes: strings, finite numbers, booleans, or arrays of one of them. */
  attributes?: Attributes;
}

export interface TrackOptions extends TrackContext {
  /** `log.record.uid`, the id the server deduplicates retries by; a random UUID by default. */
  eventId?: string;
  /** When it happened (a Date or milliseconds since the epoch); now by default. */
  timestamp?: Date | number;
  /** The OpenTelemetry context: its span becomes the record's trace and span id, or the span's parent. */
  context?: Context;
}

export interface SignalhouseOptions {
  /** Where records go; a logger of the global LoggerProvider by default. */
  logger?: Logger;
  /** Where spans go (with `spans: true`); a tracer of the global TracerProvider by default. */
  tracer?: Tracer;
  /** Tool executions and KB searches as GenAI spans instead of log records (see signalhouse.ts: each call in one form only). */
  spans?: boolean;
  defaults?: TrackContext;
  limits?: Partial<Limits>;
}

export type VoiceMetrics = {
  /** Shared by the turn's records; a random UUID when absent. */
  turnId?: string;
  firstResponseMs?: number;
  bargeInMs?: number;
  asrLatencyMs?: number;
};
export type ToolExecution = EventInput<'ai.tool_call_completed'> & {
  /** `error.type` of a failed call (`_OTHER` on a span when absent). */
  errorType?: string;
};
export type KBSearch = EventInput<'kb.search'> & {
  /** `gen_ai.data_source.id`: the index or store searched. */
  dataSourceId?: string;
};

export type Helper<E extends EventName> = (input: EventInput<E>, options?: TrackOptions) => void;

export interface Signalhouse {
  /** `voice.first_response`, `voice.barge_in` and `voice.asr_partial`, one record for each value given. */
  trackVoiceMetrics(metrics: VoiceMetrics, options?: TrackOptions): void;
  /** `ai.tool_call_completed`, or an `execute_tool` span. */
  trackToolExecution(execution: ToolExecution, options?: TrackOptions): void;
  /** `kb.search`, or a `retrieval` span. */
  trackKBSearch(search: KBSearch, options?: TrackOptions): void;
  trackTurnStarted: Helper<'voice.turn_started'>;
  trackFirstResponse: Helper<'voice.first_response'>;
  trackBargeIn: Helper<'voice.barge_in'>;
  trackAsrPartial: Helper<'voice.asr_partial'>;
  trackToolCallStarted: Helper<'ai.tool_call_started'>;
  trackToolChainCompleted: Helper<'ai.tool_chain_completed'>;
  trackKBHit: Helper<'kb.hit'>;
  trackCommerceView: Helper<'commerce.view'>;
  trackAddToCart: Helper<'commerce.add_to_cart'>;
  trackCheckout: Helper<'commerce.checkout'>;
  trackSlotHold: Helper<'booking.slot_hold'>;
  trackBookingConfirmed: Helper<'booking.confirmed'>;
  /** Any event by name, its attributes keyed by their semantic-convention names (checked for known events). */
  track<N extends string>(name: N, attributes?: N extends EventName ? EventAttributes<N> & Attributes : Attributes, options?: TrackOptions): void;
  /** What was emitted and dropped so far. */
  stats(): Readonly<SignalhouseStats>;
}
