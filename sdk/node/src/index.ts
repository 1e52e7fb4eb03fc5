/**
 * @signalhouse/node: OpenTelemetry instrumentation helpers for Signalhouse's product events (docs/sdk-node.md).
 *
 * `createSignalhouse(options)` makes an instance with its own logger, tracer, defaults and counters. The
 * functions exported by name use one default instance, made on first use, that writes to the global
 * LoggerProvider (and TracerProvider); register the OTel SDK's providers before or after importing this.
 */
import type { Signalhouse } from './api.ts';
import { createSignalhouse } from './signalhouse.ts';

export type { Attributes, AttributeValue, Limits, SignalhouseStats } from './attributes.ts';
export { DEFAULT_LIMITS } from './attributes.ts';
export type { EventAttributes, EventInput, EventName } from './fields.ts';
export { EVENT_FIELDS } from './fields.ts';
export type { Helper, KBSearch, Signalhouse, SignalhouseOptions, ToolExecution, TrackContext, TrackOptions, VoiceMetrics } from './api.ts';
export { createSignalhouse } from './signalhouse.ts';
export { SDK_VERSION } from './version.ts';

let defaultInstance: Signalhouse | undefined;
/** The instance behind the functions exported by name. */
export function defaultSignalhouse(): Signalhouse {
  defaultInstance ??= createSignalhouse();
  return defaultInstance;
}

export const trackVoiceMetrics: Signalhouse['trackVoiceMetrics'] = (m, o) => defaultSignalhouse().trackVoiceMetrics(m, o);
export const trackToolExecution: Signalhouse['trackToolExecution'] = (e, o) => defaultSignalhouse().trackToolExecution(e, o);
export const trackKBSearch: Signalhouse['trackKBSearch'] = (s, o) => defaultSignalhouse().trackKBSearch(s, o);
export const trackTurnStarted: Signalhouse['trackTurnStarted'] = (i, o) => defaultSignalhouse().trackTurnStarted(i, o);
export const trackFirstResponse: Signalhouse['trackFirstResponse'] = (i, o) => defaultSignalhouse().trackFirstResponse(i, o);
export const trackBargeIn: Signalhouse['trackBargeIn'] = (i, o) => defaultSignalhouse().trackBargeIn(i, o);
export const trackAsrPartial: Signalhouse['trackAsrPartial'] = (i, o) => defaultSignalhouse().trackAsrPartial(i, o);
export const trackToolCallStarted: Signalhouse['trackToolCallStarted'] = (i, o) => defaultSignalhouse().trackToolCallStarted(i, o);
export const trackToolChainCompleted: Signalhouse['trackToolChainCompleted'] = (i, o) => defaultSignalhouse().trackToolChainCompleted(i, o);
export const trackKBHit: Signalhouse['trackKBHit'] = (i, o) => defaultSignalhouse().trackKBHit(i, o);
export const trackCommerceView: Signalhouse['trackCommerceView'] = (i, o) => defaultSignalhouse().trackCommerceView(i, o);
export const trackAddToCart: Signalhouse['trackAddToCart'] = (i, o) => defaultSignalhouse().trackAddToCart(i, o);
export const trackCheckout: Signalhouse['trackCheckout'] = (i, o) => defaultSignalhouse().trackCheckout(i, o);
export const trackSlotHold: Signalhouse['trackSlotHold'] = (i, o) => defaultSignalhouse().trackSlotHold(i, o);
export const trackBookingConfirmed: Signalhouse['trackBookingConfirmed'] = (i, o) => defaultSignalhouse().trackBookingConfirmed(i, o);
export const track: Signalhouse['track'] = (name, attributes, o) => defaultSignalhouse().track(name, attributes, o);
