/**
 * Live events: committed product events, as they are stored (after every processor, redaction included), pushed
 * to read-token subscribers as Server-Sent Events (`GET /api/v1/analytics/live`). The service publishes each
 * batch once its exporters have committed it (service/pipeline.ts), so an event shows here only after its
 * acknowledgement and never when its request failed.
 *
 * Bounded: each subscriber has a buffer of `maxBuffered` events; what arrives while it is full is dropped and
 * counted, and the subscriber is told how many (`event: dropped`) once it catches up, so a slow reader costs
 * memory for at most its buffer plus one write. Subscribers are capped per tenant and in all. Tenant-scoped: a
 * subscription sees only its token's tenant. Free when nobody listens: publishing is one size check then.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Batch, LogEvent } from '../core/event.ts';
import { SignalhouseError } from '../core/errors.ts';
import type { Authenticator } from '../core/auth.ts';
import { parseBody, readTenant } from './request.ts';

/** Where a subscription writes: an HTTP response (Node's `ServerResponse`), or anything that writes like one. */
export interface LiveSink {
  /** False when the chunk was queued in memory: wait for `drain` before writing more. */
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
  end(): void;
}

export interface LiveSubscription {
  close(): void;
}

export interface LiveFeed {
  /** A committed batch. Only log records (product events) are published. */
  publish(batch: Batch): void;
  /** Subscribes `sink` to the tenant's events (only those named, when `eventNames` is given); 429 when full. */
  subscribe(tenantId: string, eventNames: ReadonlySet<string> | undefined, sink: LiveSink): LiveSubscription;
  /** Subscriptions open now. */
  readonly size: number;
  /** Ends every subscription (shutdown: the streams end before the server drains). */
  close(): void;
}

export interface LiveFeedOptions {
  /** Events buffered per subscriber before new ones are dropped (default 1,000). */
  maxBuffered?: number;
  maxSubscribersPerTenant?: number;
  maxSubscribers?: number;
  /** A comment line keeps idle connections open through proxies (default every 15 s). */
  heartbeatMs?: number;
}

interface Subscriber {
  readonly tenantId: string;
  readonly names: ReadonlySet<string> | undefined;
  readonly sink: LiveSink;
  readonly buffer: LogEvent[];
  dropped: number;
  waitingForDrain: boolean;
}

/** One committed event as the stream shows it: the columns it is stored in. */
export function liveEventJson(e: LogEvent): string {
  return JSON.stringify({
    time: new Date(Number((e.timeUnixNano > 0n ? e.timeUnixNano : 0n) / 1_000_000n)).toISOString(),
    event_name: e.eventName,
    event_id: e.eventId,
    user_id: e.userId,
    anonymous_id: e.anonymousId,
    session_id: e.sessionId,
    site_id: e.attributes['site.id'] ?? '',
    service_name: e.resource.serviceName,
    body: e.body,
    attributes: e.attributes,
  });
}

export function createLiveFeed(options: LiveFeedOptions = {}): LiveFeed {
  const maxBuffered = options.maxBuffered ?? 1000;
  const perTenant = options.maxSubscribersPerTenant ?? 16;
  const maxSubscribers = options.maxSubscribers ?? 256;
  const byTenant = new Map<string, Set<Subscriber>>();
  let size = 0;
  let flushScheduled = false;
  let heartbeat: NodeJS.Timeout | undefined;

  // Writes what each subscriber has waiting, in one chunk per subscriber; an event going to several subscribers
  // is serialized once. Runs after the publishing request's reply, never inside it.
  const flush = () => {
    flushScheduled = false;
    const serialized = new Map<LogEvent, string>();
    for (const subs of byTenant.values()) {
      for (const s of subs) {
        if (s.waitingForDrain || (s.buffer.length === 0 && s.dropped === 0)) continue;
        let chunk = '';
        for (const e of s.buffer) {
          let json = serialized.get(e);
          if (json === undefined) serialized.set(e, (json = liveEventJson(e)));
          chunk += `event: event\ndata: ${json}\n\n`;
        }
        if (s.dropped > 0) chunk += `event: dropped\ndata: {"dropped":${s.dropped}}\n\n`;
        s.buffer.length = 0;
        s.dropped = 0;
        if (!s.sink.write(chunk)) {
          s.waitingForDrain = true;
          s.sink.once('drain', () => {
            s.waitingForDrain = false;
            schedule();
          });
        }
      }
    }
  };
  const schedule = () => {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(flush);
  };
  const remove = (s: Subscriber) => {
    const subs = byTenant.get(s.tenantId);
    if (!subs?.delete(s)) return;
    size--;
    if (subs.size === 0) byTenant.delete(s.tenantId);
    if (size === 0 && heartbeat) {
      clearInterval(heartbeat);
      heartbeat = undefined;
    }
  };

  return {
    get size() {
      return size;
    },
    publish(batch) {
      if (size === 0 || batch.signal !== 'logs') return;
      const subs = byTenant.get(batch.tenantId);
      if (!subs) return;
      for (const s of subs) {
        for (const e of batch.events) {
          if (s.names !== undefined && !s.names.has(e.eventName)) continue;
          if (s.buffer.length < maxBuffered) s.buffer.push(e);
          else s.dropped++;
        }
      }
      schedule();
    },
    subscribe(tenantId, names, sink) {
      const subs = byTenant.get(tenantId) ?? new Set<Subscriber>();
      if (subs.size >= perTenant || size >= maxSubscribers) {
        throw new SignalhouseError('RATE_LIMITED', `too many live subscriptions (at most ${perTenant} per tenant, ${maxSubscribers} in all); retry later`, {
          retryAfterSeconds: 10,
        });
      }
      const s: Subscriber = { tenantId, names, sink, buffer: [], dropped: 0, waitingForDrain: false };
      subs.add(s);
      byTenant.set(tenantId, subs);
      size++;
      heartbeat ??= setInterval(() => {
        for (const set of byTenant.values()) for (const sub of set) if (!sub.waitingForDrain) sub.sink.write(': keep-alive\n\n');
      }, options.heartbeatMs ?? 15_000).unref();
      return { close: () => remove(s) };
    },
    close() {
      for (const subs of [...byTenant.values()]) {
        for (const s of [...subs]) {
          remove(s);
          s.sink.end();
        }
      }
    },
  };
}

const eventName = z.string().min(1).max(1024);
const liveQuery = z.strictObject({ event_name: z.union([eventName.transform((n) => [n]), z.array(eventName).min(1).max(20)]).optional() });

/**
 * `GET /api/v1/analytics/live[?event_name=…]` (repeatable): the stream. `event: ready` first, then
 * `event: event` per committed event (its JSON as `data`), `event: dropped` (`{"dropped": n}`) after events
 * this subscriber missed, and a comment line as heartbeat.
 */
export async function liveRoutes(app: FastifyInstance, opts: { live: LiveFeed; auth: Authenticator }): Promise<void> {
  app.get('/api/v1/analytics/live', async (request, reply) => {
    const tenant = await readTenant(opts.auth, request);
    const q = parseBody(liveQuery, request.query);
    const res = reply.raw;
    const subscription = opts.live.subscribe(tenant.id, q.event_name ? new Set(q.event_name) : undefined, res);
    res.once('close', () => subscription.close());
    reply.hijack();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // Proxies that buffer responses (nginx) would hold the stream back.
      'x-accel-buffering': 'no',
    });
    res.write(`event: ready\ndata: ${JSON.stringify({ event_names: q.event_name ?? null })}\n\n`);
    return reply;
  });
}
