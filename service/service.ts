/**
 * Starts and stops a whole Signalhouse instance: store, migrations, exporter, pipelines, the HTTP server and the
 * gRPC listener. Shutdown order keeps the acknowledgement promise: refuse new requests and calls (503 /
 * UNAVAILABLE, listeners still open), let in-flight ones finish (their replies wait for commits), drain the
 * exporter (landed rows move on), close the listeners, then the store.
 */
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { type Alerting, createAlerting } from '../alerting/alerting.ts';
import { type AlertingConfig, parseAlertingConfig } from '../alerting/config.ts';
import type { Exporter, GrpcMethod, Receiver } from '../core/components.ts';
import type { Batch } from '../core/event.ts';
import type { ClickHouseExporterConfig } from '../exporters/clickhouse/config.ts';
import { storeOptions } from '../exporters/clickhouse/config.ts';
import { EXPORTER_FACTORIES, resolveExporters } from '../exporters/registry.ts';
import { recentEventIds } from '../storage/events.ts';
import { migrate } from '../storage/migrate.ts';
import { openStore, type Store } from '../storage/store.ts';
import { PROCESSOR_FACTORIES } from '../processors/registry.ts';
import { createLiveFeed } from '../query/live.ts';
import { ConfigError, type SignalhouseConfig } from '../core/config.ts';
import { analyticsReadMethods } from '../query/grpc.ts';
import { createAdmission } from './admission.ts';
import { buildGrpcListener, type GrpcListener, type GrpcListenerDeps } from './grpc.ts';
import { buildPipelines } from './pipeline.ts';
import { buildServer } from './server.ts';
import { createTelemetry, type Telemetry } from '../core/telemetry.ts';
import { createTenantRegistry } from '../core/tenants.ts';
import { createAuthenticator } from '../core/auth.ts';
import { rateLimitedAuth } from '../core/rate-limit/auth.ts';
import { type BucketStore, createLocalBucketStore, createRateLimiter } from '../core/rate-limit/limiter.ts';
import { createRedisBucketStore } from '../storage/rate-limit-redis.ts';
import { createSuppressionList } from '../core/suppressions.ts';
import { createErasureRunner } from '../query/privacy/erasure.ts';
import { createExperiments } from '../experiments/ab-tests/service.ts';
import { createEncryption, type Encryption } from '../core/keyring.ts';
import { resolveMasterKeys } from '../core/master-keys.ts';
import type { MasterKey } from '../core/encryption.ts';
import { createDataKeyStore } from '../storage/data-keys.ts';
import { parseFlagsConfig } from '../experiments/flags/config.ts';
import { type ConfigFlag, FlagStore } from '../experiments/flags/store.ts';
import { experimentFlags, flagCalledRecorder } from './flags.ts';

export interface Service {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly alerting: Alerting;
  /** The feature flags of every tenant (experiments/flags). */
  readonly flags: FlagStore;
  /** The listening address, e.g. http://127.0.0.1:4318 (after `listen`). */
  url: string;
  /** The gRPC listener's `host:port` (after `listen`); undefined when gRPC is off. */
  grpcAddress: string | undefined;
  listen(): Promise<string>;
  /** Resolves when every event acknowledged so far is visible to queries (landed rows moved on). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export async function createService(config: SignalhouseConfig, logger: Logger = pino({ level: config.service.log_level })): Promise<Service> {
  const telemetry = createTelemetry();
  // The SLOs, against the catalog and the tenants, before anything opens.
  const alertingConfig = parseAlertingConfig(
    config.alerting,
    config.tenants.map((t) => t.id),
  );
  // The flags declared in the config, against the tenants, before anything opens.
  const configFlags = parseFlagsConfig(
    config.flags,
    config.tenants.map((t) => t.id),
  );
  // Every exporter's options, validated by its factory; the store is the ClickHouse exporter's (one per process).
  const problems: string[] = [];
  const specs = resolveExporters(EXPORTER_FACTORIES, config.exporters, problems);
  const storeSpecs = specs.filter((s) => s.factory.type === 'clickhouse');
  if (problems.length === 0 && storeSpecs.length !== 1) {
    problems.push(`exporters: ${storeSpecs.length === 0 ? 'a clickhouse exporter is required' : 'one clickhouse exporter per process (they share its store)'}`);
  }
  if (problems.length > 0) throw new ConfigError('exporters', problems);
  const chConfig = storeSpecs[0].config as ClickHouseExporterConfig;
  // The master keys, before anything opens: a missing or malformed one is a config error.
  const masterKeys = config.encryption ? resolveMasterKeys(config.encryption) : [];
  const store = await openStore(storeOptions(chConfig));
  // Whatever fails from here on (migrations, recovery, a component's options) closes the store again.
  try {
    return await assemble(config, alertingConfig, configFlags, logger, telemetry, store, chConfig, specs, masterKeys);
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function assemble(
  config: SignalhouseConfig,
  alertingConfig: AlertingConfig,
  configFlags: readonly ConfigFlag[],
  logger: Logger,
  telemetry: Telemetry,
  store: Store,
  chConfig: ClickHouseExporterConfig,
  specs: ReturnType<typeof resolveExporters>,
  masterKeys: readonly MasterKey[],
): Promise<Service> {
  const applied = await migrate(store.client, {
    database: chConfig.database,
    cluster: chConfig.cluster,
    ttlMs: chConfig.ttl,
    rollups: chConfig.rollups,
    fsync: chConfig.fsync,
    embedded: store.kind === 'embedded',
    tenantRetentionMs: new Map(config.tenants.flatMap((t) => (t.retention === undefined ? [] : [[t.id, t.retention] as const]))),
  });
  if (applied.length > 0) logger.info({ versions: applied }, 'schema migrations applied');
  const exporters = new Map<string, Exporter>(specs.map((s) => [s.key, s.factory.create(s.config, s.key, { store, telemetry, logger })]));
  // Rows a crash left in the landing table reach their tables before anything reads them (dedupe's window).
  for (const e of exporters.values()) await e.start();
  const settleIngest = async () => {
    await Promise.all([...exporters.values()].map((e) => e.settle()));
  };
  // The exporters' INSERTs held together (for an erasure's rebuild of rollup minutes).
  const holdWrites = <T>(fn: () => Promise<T>): Promise<T> =>
    [...exporters.values()].reduce<() => Promise<T>>((inner, e) => (e.holdWrites ? () => e.holdWrites!(inner) : inner), fn)();
  // The data keys (made for new tenants, re-wrapped under the newest master key) before any event is sealed.
  const encryption: Encryption | undefined = config.encryption
    ? await createEncryption(
        config.encryption,
        masterKeys,
        createDataKeyStore(store),
        config.tenants.map((t) => t.id),
      )
    : undefined;
  const suppressions = createSuppressionList();
  // Also with per-person keys off now: keys made while they were on are shredded all the same.
  const shredKeys = encryption?.shred;
  const erasures = createErasureRunner({ store, suppressions, rollups: chConfig.rollups, settleIngest, holdWrites, shredKeys, logger });
  // The suppressed ids are loaded before any event can arrive; unfinished erasure jobs resume in the background.
  await erasures.start();
  // Queries see every acknowledged event, and no rollup minute an erasure is rebuilding.
  const settle = async () => {
    await settleIngest();
    await erasures.rebuilt();
  };
  const alerting = createAlerting(alertingConfig, { store, settle, registry: telemetry.registry, logger });
  // Committed events, as stored, for the SLI metrics and the live stream.
  const live = createLiveFeed();
  const observeSlis = alerting.onCommitted;
  const onCommitted = (batch: Batch) => {
    observeSlis?.(batch);
    live.publish(batch);
  };
  const pipelines = buildPipelines(config, exporters, PROCESSOR_FACTORIES, telemetry, onCommitted);
  await pipelines.start({ recentEventIds: (signal, windowMs, max) => recentEventIds(store, signal, windowMs, max), suppressions, encryption });
  // The flags of every tenant, in memory before the first /flags request.
  const flags = await FlagStore.open(store, configFlags, logger);
  // Experiments are few: all of them in memory, read once here; each keeps its multivariate flag in the store.
  const experiments = createExperiments({ store, flags: experimentFlags(flags) });
  await experiments.load();
  const tenants = createTenantRegistry(config.tenants);
  // One concurrency cap, byte budget and drain for both listeners.
  const http = config.service.http;
  const admission = createAdmission({ maxConcurrent: http.max_concurrent_requests, maxInFlightBytes: http.max_in_flight_bytes, telemetry });
  const rateLimits = createRateLimiter({ config: config.rate_limits, tenants: config.tenants, telemetry, store: bucketStore(config, telemetry, logger) });
  // One authenticator for both listeners' query, alert-state and admin calls, the tokens' rate limits applied.
  const auth = rateLimitedAuth(createAuthenticator(tenants, config.auth.jwt), rateLimits);
  const queryOptions = { store, tenants, auth, rollups: chConfig.rollups, readAfterAck: settle };
  const server = await buildServer({
    config,
    logger,
    pipelines,
    tenants,
    auth,
    erasures,
    telemetry,
    store,
    readAfterAck: settle,
    rollups: chConfig.rollups,
    admission,
    rateLimits,
    alerting,
    live,
    experiments,
    encryption,
    flags,
    recordFlagCalled: flagCalledRecorder(config, pipelines, telemetry, logger),
    async checkReady() {
      const ping = await store.client.ping();
      if (!ping.success) throw new Error(`storage unreachable: ${ping.error.message}`);
    },
  });
  const grpc = grpcListener(server.receivers, analyticsReadMethods(queryOptions), { admission, tenants, auth, logger });

  const { app } = server;
  alerting.start();
  let closing: Promise<void> | undefined;
  const service: Service = {
    app,
    store,
    telemetry,
    logger,
    alerting,
    flags,
    url: '',
    grpcAddress: undefined,
    async listen() {
      const { host, port } = config.service.http;
      service.url = await app.listen({ host, port });
      if (grpc) service.grpcAddress = await grpc.listen();
      return service.url;
    },
    settle,
    close() {
      closing ??= (async () => {
        // Rows waiting for their group commit go now. New requests get 503 + Retry-After (gRPC: UNAVAILABLE with
        // RetryInfo, health NOT_SERVING) while the listeners stay open; in-flight ones finish (their replies wait
        // for their commits). Then every landed row moves on to its table, and only then do the listeners close.
        for (const e of exporters.values()) e.flushNow();
        await alerting.stop();
        grpc?.stopServing();
        // Live streams never finish by themselves: they end first, so the drain waits only for real requests.
        live.close();
        // Long-lived connections (WebSocket) drain with the requests in flight: what they read is answered.
        await Promise.all([admission.stopAdmitting(), ...server.receivers.map((r) => r.drain?.())]);
        // An erasure stops after its current step (it resumes at the next start) while the store is still open.
        await erasures.close();
        await Promise.all([...exporters.values()].map((e) => e.drain()));
        await Promise.all([app.close(), grpc?.close()]);
        await rateLimits.close();
        await store.close();
      })();
      return closing;
    },
  };
  return service;
}

/** Where the rate-limit buckets live: Redis (`rate_limits.redis`) with the local buckets as its fallback, or local. */
function bucketStore(config: SignalhouseConfig, telemetry: Telemetry, logger: Logger): BucketStore {
  const { redis, max_buckets } = config.rate_limits;
  const local = createLocalBucketStore(max_buckets);
  if (!redis) return local;
  return createRedisBucketStore({ url: redis.url, keyPrefix: redis.key_prefix, timeoutMs: redis.timeout, fallback: local, telemetry, logger });
}

/**
 * The gRPC listener, set up by the receiver that configures it (the OTLP receiver's `protocols.grpc`) and
 * serving every receiver's gRPC methods and the query side's; undefined when no receiver configures one
 * (`GRPC_PORT=0`, or `protocols` without `grpc`).
 */
function grpcListener(
  receivers: readonly Receiver[],
  queryMethods: readonly GrpcMethod[],
  deps: Omit<GrpcListenerDeps, 'settings' | 'methods'>,
): GrpcListener | undefined {
  const settings = receivers.find((r) => r.grpcListener)?.grpcListener;
  if (!settings) {
    if (receivers.some((r) => (r.grpcMethods?.length ?? 0) > 0))
      deps.logger.info('gRPC listener off (receivers.otlp.protocols.grpc not set): gRPC methods are not served');
    return undefined;
  }
  return buildGrpcListener({ ...deps, settings, methods: [...receivers.flatMap((r) => r.grpcMethods ?? []), ...queryMethods] });
}
