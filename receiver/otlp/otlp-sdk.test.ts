/**
 * The official OpenTelemetry JS SDK exporters (protobuf and JSON over HTTP) send logs and traces to a running
 * Signalhouse; the rows in ClickHouse are checked field by field (test/helpers/otel-sdk-export.ts).
 */
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
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

const headers = () => ({ Authorization: `Bearer ${ACME_KEY}` });

describeSdkExporters(
  [
    {
      name: 'protobuf',
      logs: () => new ProtoLogExporter({ url: `${svc.url}/v1/logs`, headers: headers() }),
      traces: () => new ProtoTraceExporter({ url: `${svc.url}/v1/traces`, headers: headers() }),
    },
    {
      name: 'json',
      logs: () => new JsonLogExporter({ url: `${svc.url}/v1/logs`, headers: headers() }),
      traces: () => new JsonTraceExporter({ url: `${svc.url}/v1/traces`, headers: headers() }),
    },
  ],
  () => svc,
);
