/**
 * `npm start`: loads the config (`--config`, `SIGNALHOUSE_CONFIG`, else ./signalhouse.yaml when present, else
 * built-in defaults), starts the service, prints where it listens (and the demo tenant's keys with a request to
 * paste), and shuts down cleanly on SIGTERM / SIGINT: every acknowledged event is committed before exit.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig, type SignalhouseConfig } from '../core/config.ts';
import { createService } from './service.ts';

function configPath(): string | undefined {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } }, strict: true });
  if (values.config) return values.config;
  if (process.env.SIGNALHOUSE_CONFIG) return process.env.SIGNALHOUSE_CONFIG;
  return existsSync('signalhouse.yaml') ? 'signalhouse.yaml' : undefined;
}

function banner(config: SignalhouseConfig, url: string, grpcAddress: string | undefined, storeLocation: string): string {
  const lines = [
    `Signalhouse listening on ${url} (store: ${storeLocation})`,
    grpcAddress
      ? `gRPC (OTLP, analytics.v1.AnalyticsService, grpc.health.v1) on ${grpcAddress}`
      : 'gRPC off (GRPC_PORT=0, or receivers.otlp.protocols without grpc)',
  ];
  if (config.demoTenant) {
    const t = config.tenants[0];
    const body = JSON.stringify({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'demo-app' } }] },
          scopeLogs: [
            {
              logRecords: [
                {
                  eventName: 'voice.first_response',
                  attributes: [
                    { key: 'voice.turn_id', value: { stringValue: 't-1' } },
                    { key: 'voice.first_response_ms', value: { intValue: '420' } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    lines.push(
      '',
      `No tenants configured: demo tenant "${t.id}" is ready.`,
      `  write key  (ingest): ${t.write_keys[0]}`,
      `  read token (query):  ${t.read_tokens[0]}`,
      `  admin token (privacy jobs, audit log): ${t.admin_tokens[0]}`,
      '',
      'Send an event:',
      `  curl -sS ${url}/v1/logs -H 'Authorization: Bearer ${t.write_keys[0]}' -H 'Content-Type: application/json' \\`,
      `    -d '${body}'`,
      '',
      'Read it back:',
      `  curl -sS ${url}/api/v1/analytics/reports/summary -H 'Authorization: Bearer ${t.read_tokens[0]}' -H 'Content-Type: application/json' \\`,
      `    -d '{"from":"${new Date(Date.now() - 3_600_000).toISOString()}","to":"${new Date(Date.now() + 86_400_000).toISOString()}","metrics":["voice.first_response_ms.p50"]}'`,
      '',
      `Point an OpenTelemetry SDK at it: OTEL_EXPORTER_OTLP_ENDPOINT=${url} OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer ${t.write_keys[0]}"`,
    );
    if (grpcAddress) {
      lines.push(
        `  or over gRPC: OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://${grpcAddress} OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer ${t.write_keys[0]}"`,
      );
    }
  }
  return lines.join('\n');
}

/** A config problem (in the file, or in a component's options, which factories validate at start): exit 2. */
function exitOnConfigError(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

async function main(): Promise<void> {
  let config: SignalhouseConfig;
  try {
    config = loadConfig(configPath());
  } catch (err) {
    exitOnConfigError(err);
  }
  const logger = pino({ level: config.service.log_level });
  const service = await createService(config, logger).catch(exitOnConfigError);
  const url = await service.listen();
  process.stdout.write(`${banner(config, url, service.grpcAddress, service.store.location)}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests and queued rows');
    service.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`signalhouse failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
