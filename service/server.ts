/**
 * The one HTTP server: OTLP/HTTP, product APIs, query API, health, readiness, metrics and the UI share a port.
 * Built as a Fastify instance without listening, so tests can `inject()` requests. Errors thrown anywhere as
 * SignalhouseError map to HTTP here (status, `Retry-After`, JSON body); the receivers' routes answer theirs
 * through the receiver helper (receiver/receiverhelper/replies.ts): the same mapping, counted per receiver, in
 * the receiver's wire format (OTLP: google.rpc.Status).
 */
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, LogController } from 'fastify';
import type { Alerting } from '../alerting/alerting.ts';
import { experimentRoutes } from '../experiments/ab-tests/routes.ts';
import type { Experiments } from '../experiments/ab-tests/service.ts';
import { alertRulesRoute, alertStateRoutes } from '../alerting/routes.ts';
import { createReceivers } from '../receiver/receiverhelper/factory.ts';
import { installCors } from './cors.ts';
import { dashboardRoutes } from './dashboard.ts';
import { sdkRoutes } from './sdk.ts';
import { RECEIVER_FACTORIES } from '../receiver/registry.ts';
import type { Store } from '../storage/store.ts';
import type { LiveFeed } from '../query/live.ts';
import type { ErasureRunner } from '../query/privacy/erasure.ts';
import type { Encryption } from '../core/keyring.ts';
import { privacyRoutes } from '../query/privacy/routes.ts';
import { posthogFlagsEvaluator } from '../experiments/flags/posthog.ts';
import { flagRoutes } from '../experiments/flags/routes.ts';
import type { FlagStore } from '../experiments/flags/store.ts';
import type { FlagCalledRecorder } from '../core/flags.ts';
import { queryRoutes } from '../query/routes.ts';
import { eventJsonSchemas } from '../semconv/events.ts';
import type { Authenticator } from '../core/auth.ts';
import type { RateLimiter } from '../core/rate-limit/limiter.ts';
import { type BodyReservation, reserveBody } from '../core/byte-budget.ts';
import type { SignalhouseConfig } from '../core/config.ts';
import { errorReply, SignalhouseError } from '../core/errors.ts';
import type { Pipelines, Receiver } from '../core/components.ts';
import type { Admission } from './admission.ts';
import type { Telemetry } from '../core/telemetry.ts';
import type { TenantRegistry } from '../core/tenants.ts';
import type { TlsMaterial } from '../core/tls.ts';

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
  /** The concurrency cap, byte budget and drain, shared with the gRPC listener. */
  admission: Admission;
  /** The rate limits per tenant and per key (ingest at each receiver, queries with their token). */
  rateLimits: RateLimiter;
  /** The rule file and the built-in evaluator's state, served by the alerting routes. */
  alerting: Alerting;
  /** Committed events for the query API's live stream. */
  live: LiveFeed;
  /** The A/B experiments the experiments API creates, changes and reports. */
  experiments: Experiments;
  /** With encryption on: the keys authorised reads (exports, the people API for admin tokens) decrypt with. */
  encryption?: Encryption;
  /** The feature flags (the flags API, and what the PostHog API's `/flags` answers). */
  flags: FlagStore;
  /** Stores the evaluate API's `$feature_flag_called` events (service/flags.ts). */
  recordFlagCalled?: FlagCalledRecorder;
  /** Where the dashboard's build is (default dashboard/dist). */
  dashboardDir?: string;
}

export interface Server {
  readonly app: FastifyInstance;
  /** The receivers the pipelines name (their gRPC methods go to the gRPC listener). */
  readonly receivers: readonly Receiver[];
}

/** Fastify's `https` option for `service.http.tls` (none: plain HTTP). */
function httpsOptions(tls: TlsMaterial | undefined) {
  if (!tls) return {};
  const mutual = tls.clientCa !== undefined;
  return { https: { cert: tls.cert, key: tls.key, ca: tls.clientCa, requestCert: mutual, rejectUnauthorized: mutual } };
}

export async function buildServer(deps: ServerDeps): Promise<Server> {
  const { config, telemetry } = deps;
  // Every receiver's options are checked by its factory before anything else (ConfigError, every problem by path).
  const { admission } = deps;
  const { rateLimits } = deps;
  const receivers = createReceivers(RECEIVER_FACTORIES, config, {
    pipelines: deps.pipelines,
    tenants: deps.tenants,
    telemetry,
    byteBudget: admission.budget,
    rateLimits,
    flags: posthogFlagsEvaluator(deps.flags),
  });
  // The query, alert-state and admin routes authenticate every request (deps.auth applies the tokens' rate limits).
  const { auth } = deps;
  const app = Fastify({
    loggerInstance: deps.logger,
    // No per-request log lines on the hot path: requests are counted in /metrics instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // The drain answers 503 + Retry-After itself (admission.stopAdmitting: every request is answered 503
    // SHUTTING_DOWN while the listener stays open, so clients get that answer instead of a refused connection),
    // through the error table; Fastify's own closing 503 has no Retry-After.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // HTTPS with `service.http.tls`; with its client CA, a client without a certificate it signed is refused.
    ...httpsOptions(config.service.http.tls),
  });

  // CORS first: every reply, a refusal at admission included, carries the headers a page needs to read it.
  const corsRoutes = await installCors(app, config.service.http.query_allowed_origins);

  // Bounded concurrency: past the limit, refuse at once (503 + Retry-After) rather than queue without end.
  app.addHook('onRequest', (request, reply, done) => {
    if ((request.raw as IncomingMessage & { upgrade?: boolean }).upgrade === true) {
      // A WebSocket connection is not a request in flight: its receiver bounds its connections and closes them
      // when it drains. Other routes take no upgrades (their answer would hold the detached socket open).
      const refusal = admission.refusal();
      if (refusal) return done(refusal);
      if (request.routeOptions.config.acceptsWebSocket === true) return done();
      return done(new SignalhouseError('BAD_REQUEST', `${request.method} ${request.routeOptions.url ?? request.url} does not accept WebSocket connections`));
    }
    const refusal = admission.admit();
    if (refusal) return done(refusal);
    // One listener per request: the reply is done, so are its slot and its body bytes (preParsing below).
    reply.raw.once('close', () => {
      request.bodyReservation?.release();
      admission.leave();
    });
    done();
  });

  // The in-flight byte budget: a body's bytes are taken before it is read when it declares its length (so an
  // oversized request is refused without reading it), else as they arrive; they return when the reply is sent
  // (the close listener above).
  const { budget } = admission;
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
    if (admission.draining) reply.header('connection', 'close');
    done(null, payload);
  });

  // An upgrade request answered over HTTP (refused, or not upgraded) owns a socket the HTTP server has let go of:
  // close it with the answer.
  app.addHook('onResponse', (request, _reply, done) => {
    if ((request.raw as IncomingMessage & { upgrade?: boolean }).upgrade === true) request.raw.socket.destroy();
    done();
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
    // The SLI metrics write their own text (alerting/tenant-series.ts): thousands of samples at 200 tenants.
    return `${await telemetry.registry.metrics()}\n${deps.alerting.metricsText()}`;
  });

  await app.register(alertRulesRoute, { rules: deps.alerting.rules });

  // The built-in dashboard at `/` (a client of the query API like any other).
  await app.register(dashboardRoutes, { dir: deps.dashboardDir });

  // The receivers the pipelines name, each in a plugin scope of its own (its body parsers and error handler),
  // then the query API and the alert state; CORS answers each kind of route as service/cors.ts says. Ingest and
  // query latency are measured per kind (the operational alerts read them).
  const ingestTimer = telemetry.requestDuration.labels('ingest');
  const queryTimer = telemetry.requestDuration.labels('query');
  for (const receiver of receivers) await corsRoutes.register('ingest', timed(ingestTimer, receiver.routes), {});
  await corsRoutes.register('query', timed(queryTimer, queryRoutes), {
    store: deps.store,
    tenants: deps.tenants,
    rollups: deps.rollups,
    auth,
    readAfterAck: deps.readAfterAck,
    live: deps.live,
    encryption: deps.encryption,
  });
  await corsRoutes.register('query', timed(queryTimer, alertStateRoutes), { evaluator: deps.alerting.evaluator, auth });
  await corsRoutes.register('query', timed(queryTimer, privacyRoutes), {
    store: deps.store,
    auth,
    erasures: deps.erasures,
    readAfterAck: deps.readAfterAck,
    encryption: deps.encryption,
  });
  await corsRoutes.register('query', timed(queryTimer, experimentRoutes), {
    store: deps.store,
    auth,
    experiments: deps.experiments,
    readAfterAck: deps.readAfterAck,
  });
  await corsRoutes.register('query', timed(queryTimer, flagRoutes), {
    flags: deps.flags,
    auth: deps.auth,
    tenants: deps.tenants,
    recordFlagCalled: deps.recordFlagCalled,
  });
  // The web tracker's scripts, for pages on any origin (their own CORS headers: a static `*`).
  await sdkRoutes(app);
  return { app, receivers };
}

/** `plugin` with the latency of each of its replies observed by `timer` (seconds, arrival to reply sent). */
function timed<O extends object>(timer: { observe(seconds: number): void }, plugin: FastifyPluginAsync<O>): FastifyPluginAsync<O> {
  return async (scope, options) => {
    scope.addHook('onResponse', (_request, reply, done) => {
      timer.observe(reply.elapsedTime / 1000);
      done();
    });
    await scope.register(plugin, options);
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
