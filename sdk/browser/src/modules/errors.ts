/**
 * Uncaught errors and unhandled promise rejections as `exception` events with the OpenTelemetry attributes
 * (`exception.type`, `.message`, `.stacktrace`; message ≤ 1,000 and stack ≤ 4,000 characters). At most 20 per
 * page, each distinct type and message once, so an error in a loop cannot flood the queue.
 */
import type { ModuleHost } from '../types.ts';

export function install(host: ModuleHost): void {
  const seen = new Set<string>();
  const report = (type: string, message: string, stack: string | undefined) => {
    const k = `${type}:${message}`;
    if (seen.size >= 20 || seen.has(k)) return;
    seen.add(k);
    host.track('exception', { 'exception.type': type, 'exception.message': message.slice(0, 1000), 'exception.stacktrace': stack?.slice(0, 4000) });
  };
  addEventListener('error', (e: ErrorEvent) => {
    const err = e.error as Error | undefined;
    report(err?.name || 'Error', err?.message ?? e.message ?? '', err?.stack ?? (e.filename ? `${e.filename}:${e.lineno}:${e.colno}` : undefined));
  });
  addEventListener('unhandledrejection', (e: PromiseRejectionEvent) => {
    const r = e.reason as Error | undefined;
    report(r?.name || 'UnhandledRejection', r?.message ?? String(r), r?.stack);
  });
}
