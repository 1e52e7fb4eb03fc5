/**
 * Starts a real Signalhouse instance for a test file: embedded chDB in a fresh temporary directory, real HTTP and
 * gRPC on loopback (port 0 each). chDB allows one data directory per process, so each test file (a vitest fork) starts at
 * most one of these.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../../core/config.ts';
import { createService, type Service } from '../../service/service.ts';

export const TENANTS = [
  { id: 'acme', write_keys: ['wk_acme_test_key'], read_tokens: ['rt_acme_test_token'] },
  { id: 'globex', write_keys: ['wk_globex_test_key'], read_tokens: ['rt_globex_test_token'] },
];
export const ACME_KEY = 'wk_acme_test_key';
export const GLOBEX_KEY = 'wk_globex_test_key';

export interface TestService {
  readonly service: Service;
  readonly url: string;
  /** The gRPC listener's `host:port`; undefined when the config turns gRPC off. */
  readonly grpcAddress: string | undefined;
  readonly dataDir: string;
  /** The service's log lines (warn and above) as parsed JSON, when started with `captureLogs`; else empty. */
  readonly logs: Array<Record<string, unknown>>;
  /** Waits until every acknowledged event is visible to queries (see landing.ts). */
  settle(): Promise<void>;
  /** Runs a query on the service's own store, once every acknowledged event is visible, and returns the rows. */
  rows<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * `overrides` is merged into the config document (before validation), e.g. `{ exporters: { clickhouse: {...} } }`.
 * `captureLogs` keeps the service's log lines in `logs` instead of printing them. With `dataDir` the service
 * starts on that directory (a restart of an earlier one) and `close` leaves it in place.
 */
export async function startTestService(
  overrides: Record<string, unknown> = {},
  options: { captureLogs?: boolean; dataDir?: string } = {},
): Promise<TestService> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'signalhouse-test-'));
  const exporterOverrides = ((overrides.exporters as Record<string, unknown> | undefined)?.clickhouse ?? {}) as Record<string, unknown>;
  const receivers = { otlp: {}, ...((overrides.receivers as Record<string, unknown>) ?? {}) };
  const config = parseConfig(
    {
      ...overrides,
      receivers: { ...receivers, otlp: onAnyFreeGrpcPort(receivers.otlp as Record<string, unknown>) },
      exporters: { clickhouse: { data_dir: dataDir, batch: { max_delay: '5ms' }, ...exporterOverrides } },
      service: { http: { host: '127.0.0.1', port: 0 }, log_level: 'warn', ...((overrides.service as object) ?? {}) },
      tenants: overrides.tenants ?? TENANTS,
    },
    {},
    'test',
  );
  const logs: Array<Record<string, unknown>> = [];
  const capture = { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) };
  const service = await createService(config, options.captureLogs ? pino({ level: 'warn' }, capture) : pino({ level: 'warn' }));
  const url = await service.listen();
  return {
    service,
    url,
    grpcAddress: service.grpcAddress,
    dataDir,
    logs,
    settle: () => service.settle(),
    async rows<T>(sql: string, params?: Record<string, unknown>) {
      await service.settle();
      const rs = await service.store.client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
      return rs.json<T>();
    },
    async close() {
      await service.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The OTLP receiver's options with the gRPC listener (when on) on port 0 unless they name an endpoint. */
function onAnyFreeGrpcPort(otlp: Record<string, unknown>): Record<string, unknown> {
  const protocols = (otlp.protocols ?? { http: {}, grpc: {} }) as Record<string, unknown>;
  if (!Object.hasOwn(protocols, 'grpc')) return otlp;
  return { ...otlp, protocols: { ...protocols, grpc: { endpoint: '127.0.0.1:0', ...((protocols.grpc as object) ?? {}) } } };
}
