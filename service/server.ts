/**
 * The one HTTP server: OTLP/HTTP, product APIs, query API, health, readiness, metrics and the UI share a port.
 * Built as a Fastify instance without listening, so tests can `inject()` requests. Errors thrown anywhere as
 * SignalhouseError map to HTTP here (status, `Retry-After`, JSON body); the receivers' routes answer theirs
 * through the receiver helper (receiver/receiverhelper/replies.ts): the same mapping, counted per receiver, in
 * the receiver's wire format (OTLP: google.rpc.Status).
 */
import { Transform } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { createReceivers } from '../receiver/receiverhelper/factory.ts';
import { installCors } from './cors.ts';
import { RECEIVER_FACTORIES } from '../receiver/registry.ts';
import type { Store } from '../storage/store.ts';
import type { ErasureRunner } from '../query/privacy/erasure.ts';
import { privacyRoutes } from '../query/privacy/routes.ts';
import { queryRoutes } from '../query/routes.ts';
import { eventJsonSchemas } from '../semconv/events.ts';
import type { Authenticator } from '../core/auth.ts';
import { type BodyReservation, createByteBudget, reserveBody } from '../core/byte-budget.ts';
import type { SignalhouseConfig } from '../core/config.ts';
import { errorReply, SignalhouseError } from '../core/errors.ts';
import type { Pipelines } from '../core/components.ts';
import type { Telemetry } from '../core/telemetry.ts';
import type { TenantRegistry } from '../core/tenants.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's share of the in-flight byte budget; body readers add the decompressed bytes to it. */
    bodyReservation: BodyReservation | null;
  }
}

export interface ServerDeps {
  config: SignalhouseConfig;
  logger: FastifyBaseLogger;
  pipelines: Pipelines;
  tenants: TenantRegistry;
  /** Checks the read and admin roles' credentials (tokens, bearer JWTs). */
  auth: Authenticator;
  /** The erasure jobs the admin routes start and report. */
  erasures: ErasureRunner;
  telemetry: Telemetry;
  /** Resolves when storage answers and migrations are done; rejects with the reason otherwise. */
  checkReady(): Promise<void>;
  store: Store;
  /** Resolves when every event acknowledged so far is visible to queries (see Service.settle). */
  readAfterAck(): Promise<void>;
  /** Whether the store keeps the rollups (the ClickHouse exporter's `rollups`). */
  rollups: boolean;
}

export interface Server {
  readonly app: FastifyInstance;
  /**
   * Starts the drain: from now on every request is answered 503 SHUTTING_DOWN with `Retry-After` (and its
   * connection closed), while the listener stays open so that clients get that answer instead of a refused
   * connection. Resolves when the requests already in flight have been answered.
   */
  stopAdmitting(): Promise<void>;
}

export async function buildServer(deps: ServerDeps): Promise<Server> {
  const { config, telemetry } = deps;
  // Every receiver's options are checked by its factory before anything else (ConfigError, every problem by path).
  const receivers = createReceivers(RECEIVER_FACTORIES, config, { pipelines: deps.pipelines, tenants: deps.tenants, telemetry });
  const maxConcurrent = config.service.http.max_concurrent_requests;
  const app = Fastify({
    loggerInstance: deps.logger,
    // No per-request log lines on the hot path: requests are counted in /metrics instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // The drain answers 503 + Retry-After itself (stopAdmitting), through the error table; Fastify's own closing
    // 503 has no Retry-After.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });

  // CORS first: every reply, a refusal at admission included, carries the headers a page needs to read it.
  const corsRoutes = await installCors(app, config.service.http.query_allowed_origins);

  // Bounded concurrency: past the limit, refuse at once (503 + Retry-After) rather than queue without end.
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | undefined;
  app.addHook('onRequest', (request, reply, done) => {
    if (draining) return done(new SignalhouseError('SHUTTING_DOWN', 'server is shutting down, retry against another instance', { retryAfterSeconds: 1 }));
    if (inFlight >= maxConcurrent) return done(new SignalhouseError('OVERLOADED', 'too many concurrent requests, retry later', { retryAfterSeconds: 1 }));
    inFlight++;
    telemetry.inFlightRequests.set(inFlight);
    // One listener per request: the reply is done, so are its slot and its body bytes (preParsing below).
    reply.raw.once('close', () => {
      request.bodyReservation?.release();
      inFlight--;
      telemetry.inFlightRequests.set(inFlight);
      if (inFlight === 0) drained?.();
    });
    done();
  });

  // The in-flight byte budget: a body's bytes are taken before it is read when it declares its length (so an
  // oversized request is refused without reading it), else as they arrive; they return when the reply is sent
  // (the close listener above).
  const budget = createByteBudget(config.service.http.max_in_flight_bytes, (used) => telemetry.inFlightBodyBytes.set(used));
  app.decorateRequest('bodyReservation', null);
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const reservation = reserveBody(budget);
    request.bodyReservation = reservation;
    const declared = Number(request.headers['content-length']);
    try {
      if (declared > 0) {
        reservation.take(declared);
        return done(null, payload);
      }
    } catch (err) {
      return done(err as Error);
    }
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, next) {
        try {
          reservation.take(chunk.length);
          (counted as Transform & { receivedEncodedLength: number }).receivedEncodedLength += chunk.length;
          next(null, chunk);
        } catch (err) {
          next(err as Error);
        }
      },
    });
    (counted as Transform & { receivedEncodedLength: number }).receivedEncodedLength = 0;
    payload.on('error', (err) => counted.destroy(err));
    done(null, payload.pipe(counted));
  });

  // While draining, in-flight requests still get their reply, but their keep-alive connections end with it, so
  // that closing the server does not wait for clients to hang up.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close');
    done(null, payload);
  });

  app.setErrorHandler((error, request, reply) => {
    const r = errorReply(error, request.log);
    reply.code(r.err.statusCode).headers(r.headers).send({ error: r.err.code, message: r.message, request_id: r.requestId });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'NOT_FOUND', message: `no route for ${request.method} ${request.url}` });
  });

  // Liveness, under the analytics API's paths too.
  for (const path of ['/health', '/api/v1/analytics/health', '/api/v1/analytics/events/health']) {
    app.get(path, async () => ({ status: 'ok' }));
  }

  app.get('/api/v1/analytics/stats', async () => ingestStats(telemetry));

  // Built once: the JSON Schema of every known event's attributes.
  const schemas = { $schema: 'https://json-schema.org/draft/2020-12/schema', events: eventJsonSchemas() };
  app.get('/api/v1/analytics/schemas', async () => schemas);

  app.get('/ready', async (_request, reply) => {
    try {
      await deps.checkReady();
      return { status: 'ready' };
    } catch (err) {
      reply.header('retry-after', '5');
      return reply.code(503).send({ status: 'not ready', message: (err as Error).message });
    }
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', telemetry.registry.contentType);
    return telemetry.registry.metrics();
  });

  // The receivers the pipelines name, each in a plugin scope of its own (its body parsers and error handler),
  // then the query API; CORS answers each kind of route as service/cors.ts says.
  for (const receiver of receivers) await corsRoutes.register('ingest', receiver.routes, {});
  await corsRoutes.register('query', queryRoutes, {
    store: deps.store,
    tenants: deps.tenants,
    auth: deps.auth,
    rollups: deps.rollups,
    readAfterAck: deps.readAfterAck,
  });
  await corsRoutes.register('query', privacyRoutes, { store: deps.store, auth: deps.auth, erasures: deps.erasures, readAfterAck: deps.readAfterAck });
  return {
    app,
    stopAdmitting() {
      draining = true;
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        drained = resolve;
      });
    },
  };
}

/** Ingest counters since start, per receiver (the stats endpoint): received = accepted + dropped + rejected. */
async function ingestStats(telemetry: Telemetry) {
  type Counts = { received: number; accepted: number; dropped: number; rejected: number };
  const receivers: Record<string, Counts> = {};
  const add = async (metric: Telemetry['receivedRecords'] | Telemetry['rejectedRecords'], field: keyof Counts) => {
    for (const v of (await metric.get()).values) {
      const name = String(v.labels.receiver);
      receivers[name] ??= { received: 0, accepted: 0, dropped: 0, rejected: 0 };
      receivers[name][field] += v.value;
    }
  };
  await add(telemetry.receivedRecords, 'received');
  await add(telemetry.acceptedRecords, 'accepted');
  await add(telemetry.droppedRecords, 'dropped');
  await add(telemetry.rejectedRecords, 'rejected');
  const total: Counts = { received: 0, accepted: 0, dropped: 0, rejected: 0 };
  for (const r of Object.values(receivers)) {
    total.received += r.received;
    total.accepted += r.accepted;
    total.dropped += r.dropped;
    total.rejected += r.rejected;
  }
  return { ...total, receivers };
}
