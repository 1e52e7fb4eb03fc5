/**
 * The official OpenTelemetry JS SDK gRPC exporters (`@opentelemetry/exporter-logs-otlp-grpc`,
 * `@opentelemetry/exporter-trace-otlp-grpc`), plain and gzip-compressed, send logs and traces to a running
 * Signalhouse's gRPC listener; the rows in ClickHouse are checked field by field, as for OTLP/HTTP
 * (test/helpers/otel-sdk-export.ts).
 */
import { Metadata } from '@grpc/grpc-js';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { afterAll, beforeAll } from 'vitest';
import { describeSdkExporters } from '../../test/helpers/otel-sdk-export.ts';
import { ACME_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

const metadata = () => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${ACME_KEY}`);
  return m;
};

describeSdkExporters(
  [
    { name: 'grpc', compression: CompressionAlgorithm.NONE },
    { name: 'grpc-gzip', compression: CompressionAlgorithm.GZIP },
  ].map(({ name, compression }) => ({
    name,
    logs: () => new OTLPLogExporter({ url: `http://${svc.grpcAddress}`, metadata: metadata(), compression }),
    traces: () => new OTLPTraceExporter({ url: `http://${svc.grpcAddress}`, metadata: metadata(), compression }),
  })),
  () => svc,
);
