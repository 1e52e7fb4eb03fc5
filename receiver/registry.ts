/**
 * Receiver types available to `signalhouse.yaml`, keyed by type. Each receiver folder exports its factory; add
 * it here to make it configurable (docs/architecture.md, "Adding a receiver").
 */
import type { ReceiverFactory, ReceiverRegistry } from '../core/components.ts';
import { analyticsReceiverFactory } from './analytics/factory.ts';
import { envelopeReceiverFactory } from './envelope/factory.ts';
import { otlpReceiverFactory } from './otlp/factory.ts';
import { posthogReceiverFactory } from './posthog/factory.ts';
import { segmentReceiverFactory } from './segment/factory.ts';
import { websocketReceiverFactory } from './websocket/factory.ts';
import { trackerReceiverFactory } from './tracker/factory.ts';

const factories: ReceiverFactory[] = [
  otlpReceiverFactory,
  segmentReceiverFactory,
  posthogReceiverFactory,
  envelopeReceiverFactory,
  analyticsReceiverFactory,
  websocketReceiverFactory,
  trackerReceiverFactory,
] as ReceiverFactory[];

export const RECEIVER_FACTORIES: ReceiverRegistry = new Map(factories.map((f) => [f.type, f]));
