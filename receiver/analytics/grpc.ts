/**
 * The analytics service's ingest RPCs (`analytics.v1.AnalyticsService`): `TrackEvent` and `IdentifyUser` with
 * a write key (`authorization: Bearer <write key>` metadata, checked by the listener), `HealthCheck` without one. Each call is one event
 * through the logs pipeline and its processors, as the envelope API ingests (receiver/product/ingest.ts),
 * answered after the commit. `TrackEvent` is an event named `event_name`; `IdentifyUser` an `identify` event
 * whose properties become `traits.*` (as Segment's identify), so the identity views and the count API's stitched
 * people see it. Times are Unix seconds (`timestamp` 0: the receive time).
 *
 * The service's errors as typed errors (their gRPC codes: core/grpc-status.ts): invalid event name, user id or
 * properties, and an event the processors refuse → INVALID_ARGUMENT; payload too large → RESOURCE_EXHAUSTED
 * (permanent); rate limit exceeded → RESOURCE_EXHAUSTED with RetryInfo; database unavailable → UNAVAILABLE with
 * RetryInfo. An event accepted but not stored (dropped for missing consent) answers `success: false` with the
 * trailers `signalhouse-outcome: dropped` and `signalhouse-reason`; a repeat of a stored one answers `success:
 * true` with `signalhouse-outcome: duplicate`.
 */
import type { GrpcCall, GrpcMethod, Pipeline } from '../../core/components.ts';
import { SignalhouseError } from '../../core/errors.ts';
import { type Attributes, type LogEvent, newAttributes } from '../../core/event.ts';
import type { RateLimiter } from '../../core/rate-limit/limiter.ts';
import { formatDouble, putAttribute, RecordRejected } from '../otlp/common.ts';
import { admitRequest } from '../receiverhelper/rate-limit.ts';
import { eventTimeNs, productEvent, type ProductContext, type ProductFieldNames, requestContext } from '../product/common.ts';
import { ingestProductEvents } from '../product/ingest.ts';
import type { ReceiverCounters } from '../receiverhelper/counters.ts';
import type { RecordLimits } from '../receiverhelper/limits.ts';
import type { AnalyticsReceiverConfig } from './config.ts';
import {
  decodeIdentifyUser,
  decodeTrackEvent,
  encodeHealthCheckResponse,
  encodeIdentifyUserResponse,
  encodeTrackEventResponse,
  type PropertyValue,
} from './messages.ts';
import { createRateLimiter } from './rate-limit.ts';

export const ANALYTICS_SERVICE = 'analytics.v1.AnalyticsService';

/** Names the events' instrumentation scope (`signalhouse/analytics`), whatever the receiver's config key. */
const RECEIVER = 'analytics';

const FIELDS: ProductFieldNames = { eventName: 'event_name', eventId: 'event_id', sessionId: 'session_id', userId: 'user_id', anonymousId: 'anonymous_id' };

export interface AnalyticsGrpcOptions {
  config: AnalyticsReceiverConfig;
  /** The logs pipeline that names the receiver; without one only HealthCheck is served. */
  pipeline: Pipeline | undefined;
  counters: ReceiverCounters;
  /** The per-tenant and per-key limits, before the per-user one. */
  rateLimits: RateLimiter;
}

function putProperties(attrs: Attributes, properties: ReadonlyMap<string, PropertyValue>, limits: RecordLimits, prefix: string): void {
  for (const [key, value] of properties) {
    if (value === undefined) {
      throw new RecordRejected('invalid_field', `invalid properties: "${key.slice(0, 64)}" has no value (set string_value, number_value or bool_value)`);
    }
    // The attribute count is checked once per event, in productEvent().
    putAttribute(attrs, 0, prefix + key, typeof value === 'number' ? formatDouble(value) : String(value), limits);
  }
}

/** `timestamp` (Unix seconds, as decimal text) in ns; "0" is the receive time. */
function timeOf(timestamp: string, ctx: ProductContext): bigint {
  if (timestamp === '0') return eventTimeNs(undefined, undefined, ctx.receivedAtMs, 'timestamp');
  return eventTimeNs(Number(timestamp) * 1000, undefined, ctx.receivedAtMs, 'timestamp');
}

export function analyticsGrpcMethods(opts: AnalyticsGrpcOptions): GrpcMethod[] {
  const { config, pipeline, counters, rateLimits } = opts;
  const failed = (status: number) => counters.failed(status);
  const healthCheck: GrpcMethod = { path: `/${ANALYTICS_SERVICE}/HealthCheck`, failed, handle: async () => encodeHealthCheckResponse('ok') };
  if (!pipeline) return [healthCheck];
  const records = counters.signal('logs');
  const perMinute = config.rate_limit.events_per_user_per_minute;
  const limiter = perMinute > 0 ? createRateLimiter(perMinute, config.rate_limit.max_users) : undefined;

  /** One event through the pipeline: whether it is stored (now or before), its id, and what became of it. */
  async function ingest(request: Buffer, call: GrpcCall, userId: string, map: (ctx: ProductContext) => LogEvent) {
    if (request.length > config.max_event_size) {
      throw new SignalhouseError('PAYLOAD_TOO_LARGE', `payload exceeds maximum size: message of ${request.length} bytes, at most ${config.max_event_size}`);
    }
    const principal = call.principal!;
    const { tenant } = principal;
    await admitRequest(rateLimits, principal, 1);
    if (limiter && userId !== '') {
      const wait = limiter.take(`${tenant.id}\u0000${userId}`);
      if (wait > 0) {
        throw new SignalhouseError('RATE_LIMITED', `rate limit exceeded: more than ${perMinute} events a minute for this user`, {
          retryAfterSeconds: Math.max(1, Math.ceil(wait)),
        });
      }
    }
    const ctx = requestContext(RECEIVER, config, undefined, 'timestamp');
    let event: LogEvent | undefined;
    const outcome = await ingestProductEvents(records, pipeline!, tenant.id, [request], () => (event = map(ctx)));
    const r = outcome.results[0];
    if (r.status === 'rejected') throw new SignalhouseError('BAD_REQUEST', r.error!);
    if (r.status === 'dropped') {
      call.setTrailer('signalhouse-outcome', 'dropped');
      call.setTrailer('signalhouse-reason', r.reason!);
    } else if (r.duplicate) call.setTrailer('signalhouse-outcome', 'duplicate');
    return { stored: r.status === 'accepted', eventId: event?.eventId ?? '' };
  }

  return [
    {
      path: `/${ANALYTICS_SERVICE}/TrackEvent`,
      role: 'write',
      failed,
      async handle(request, call) {
        const m = decodeTrackEvent(request);
        const { stored, eventId } = await ingest(request, call, m.userId, (ctx) => {
          if (m.eventName === '') throw new RecordRejected('invalid_field', 'invalid event name: event_name must be a non-empty string');
          const attributes = newAttributes();
          putProperties(attributes, m.properties, ctx.limits, '');
          const fields = { eventId: '', sessionId: '', userId: m.userId, anonymousId: '', eventName: m.eventName, attributes };
          return productEvent({ ...fields, timeUnixNano: timeOf(m.timestamp, ctx) }, ctx, FIELDS);
        });
        return encodeTrackEventResponse(stored, eventId);
      },
    },
    {
      path: `/${ANALYTICS_SERVICE}/IdentifyUser`,
      role: 'write',
      failed,
      async handle(request, call) {
        const m = decodeIdentifyUser(request);
        const { stored } = await ingest(request, call, m.userId, (ctx) => {
          if (m.userId === '') throw new RecordRejected('invalid_field', 'invalid user ID: user_id must be a non-empty string');
          const attributes = newAttributes();
          putProperties(attributes, m.properties, ctx.limits, 'traits.');
          const fields = { eventId: '', sessionId: '', userId: m.userId, anonymousId: '', eventName: 'identify', attributes };
          return productEvent({ ...fields, timeUnixNano: BigInt(ctx.receivedAtMs) * 1_000_000n }, ctx, FIELDS);
        });
        return encodeIdentifyUserResponse(stored);
      },
    },
    healthCheck,
  ];
}
