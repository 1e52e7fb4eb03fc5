/**
 * Starts and stops a whole Signalhouse instance: store, migrations, exporter, pipelines, HTTP server. Shutdown
 * order keeps the acknowledgement promise: refuse new requests (503, listener still open), let in-flight requests
 * finish (their replies wait for commits), drain the exporter (landed rows move on), close the listener, then
 * the store.
 */
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Exporter } from '../core/components.ts';
import type { ClickHouseExporterConfig } from '../exporters/clickhouse/config.ts';
import { storeOptions } from '../exporters/clickhouse/config.ts';
import { EXPORTER_FACTORIES, resolveExporters } from '../exporters/registry.ts';
import { recentEventIds } from '../storage/events.ts';
import { migrate } from '../storage/migrate.ts';
import { openStore, type Store } from '../storage/store.ts';
import { PROCESSOR_FACTORIES } from '../processors/registry.ts';
import { ConfigError, type SignalhouseConfig } from '../core/config.ts';
import { buildPipelines } from './pipeline.ts';
import { buildServer } from './server.ts';
import { createTelemetry, type Telemetry } from '../core/telemetry.ts';
import { createTenantRegistry } from '../core/tenants.ts';
import { createAuthenticator } from '../core/auth.ts';
import { createSuppressionList } from '../core/suppressions.ts';
import { createErasureRunner } from '../query/privacy/erasure.ts';

export interface Service {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** The listening address, e.g. http://127.0.0.1:4318 (after `listen`). */
  url: string;
  listen(): Promise<string>;
  /** Resolves when every event acknowledged so far is visible to queries (landed rows moved on). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export async function createService(config: SignalhouseConfig, logger: Logger = pino({ level: config.service.log_level })): Promise<Service> {
  const telemetry = createTelemetry();
  // Every exporter's options, validated by its factory; the store is the ClickHouse exporter's (one per process).
  const problems: string[] = [];
  const specs = resolveExporters(EXPORTER_FACTORIES, config.exporters, problems);
  const storeSpecs = specs.filter((s) => s.factory.type === 'clickhouse');
  if (problems.length === 0 && storeSpecs.length !== 1) {
    problems.push(`exporters: ${storeSpecs.length === 0 ? 'a clickhouse exporter is required' : 'one clickhouse exporter per process (they share its store)'}`);
  }
  if (problems.length > 0) throw new ConfigError('exporters', problems);
  const chConfig = storeSpecs[0].config as ClickHouseExporterConfig;
  const store = await openStore(storeOptions(chConfig));
  // Whatever fails from here on (migrations, recovery, a component's options) closes the store again.
  try {
    return await assemble(config, logger, telemetry, store, chConfig, specs);
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function assemble(
  config: SignalhouseConfig,
  logger: Logger,
  telemetry: Telemetry,
  store: Store,
  chConfig: ClickHouseExporterConfig,
  specs: ReturnType<typeof resolveExporters>,
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
  const suppressions = createSuppressionList();
  const erasures = createErasureRunner({ store, suppressions, rollups: chConfig.rollups, settleIngest, holdWrites, logger });
  // The suppressed ids are loaded before any event can arrive; unfinished erasure jobs resume in the background.
  await erasures.start();
  const pipelines = buildPipelines(config, exporters, PROCESSOR_FACTORIES, telemetry);
  await pipelines.start({ recentEventIds: (signal, windowMs, max) => recentEventIds(store, signal, windowMs, max), suppressions });
  // Queries see every acknowledged event, and no rollup minute an erasure is rebuilding.
  const settle = async () => {
    await settleIngest();
    await erasures.rebuilt();
  };
  const tenants = createTenantRegistry(config.tenants);
  const server = await buildServer({
    config,
    logger,
    pipelines,
    tenants,
    auth: createAuthenticator(tenants, config.auth.jwt),
    erasures,
    telemetry,
    store,
    readAfterAck: settle,
    rollups: chConfig.rollups,
    async checkReady() {
      const ping = await store.client.ping();
      if (!ping.success) throw new Error(`storage unreachable: ${ping.error.message}`);
    },
  });

  const { app } = server;
  let closing: Promise<void> | undefined;
  const service: Service = {
    app,
    store,
    telemetry,
    logger,
    url: '',
    async listen() {
      const { host, port } = config.service.http;
      service.url = await app.listen({ host, port });
      return service.url;
    },
    settle,
    close() {
      closing ??= (async () => {
        // Rows waiting for their group commit go now. New requests get 503 + Retry-After while the listener stays
        // open; in-flight requests finish (their replies wait for their commits). Then every landed row moves on
        // to its table, and only then does the listener close.
        for (const e of exporters.values()) e.flushNow();
        await server.stopAdmitting();
        // An erasure stops after its current step (it resumes at the next start) while the store is still open.
        await erasures.close();
        await Promise.all([...exporters.values()].map((e) => e.drain()));
        await app.close();
        await store.close();
      })();
      return closing;
    },
  };
  return service;
}
