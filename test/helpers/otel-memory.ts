/**
 * The official OpenTelemetry JS SDK with its in-memory exporters: a LoggerProvider and a TracerProvider whose
 * finished records and spans a test reads back, for instrumentation tests that need no server.
 */
import { type DiagLogger, diag, DiagLogLevel } from '@opentelemetry/api';
import { InMemoryLogRecordExporter, LoggerProvider, type ReadableLogRecord, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface MemoryPipeline {
  readonly loggerProvider: LoggerProvider;
  readonly tracerProvider: BasicTracerProvider;
  records(): ReadableLogRecord[];
  spans(): ReadableSpan[];
  reset(): void;
}

export function memoryPipeline(): MemoryPipeline {
  const logs = new InMemoryLogRecordExporter();
  const spans = new InMemorySpanExporter();
  return {
    loggerProvider: new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logs })] }),
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    records: () => logs.getFinishedLogRecords(),
    spans: () => spans.getFinishedSpans(),
    reset() {
      logs.reset();
      spans.reset();
    },
  };
}

/** Collects what OpenTelemetry's `diag` is told, by level. */
export function captureDiag(): { readonly lines: Array<{ level: string; message: string }>; stop(): void } {
  const lines: Array<{ level: string; message: string }> = [];
  const at =
    (level: string) =>
    (message: string, ...args: unknown[]) =>
      lines.push({ level, message: [message, ...args].join(' ') });
  const logger: DiagLogger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), verbose: at('verbose') };
  diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
  return { lines, stop: () => diag.disable() };
}
