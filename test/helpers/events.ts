/**
 * Decoded events for tests that drive the exporter directly (no receiver): a batch of `n` log events with ids
 * `<id>-<i>`, one nanosecond apart from now, with the fields a test cares about set per event.
 */
import type { LogBatch, LogEvent, Resource, Scope } from '../../core/event.ts';

export const NOW_NANOS = BigInt(Date.now()) * 1_000_000n;
export const testScope: Scope = { name: 's', version: '', attributes: {}, schemaUrl: '' };
export const testResource = (service: string): Resource => ({ attributes: { 'service.name': service }, schemaUrl: '', serviceName: service });

export function logBatch(
  id: string,
  n: number,
  fields: (i: number) => Pick<LogEvent, 'eventName' | 'body' | 'attributes'>,
  resource = testResource('test'),
): LogBatch {
  const events: LogEvent[] = [];
  for (let i = 0; i < n; i++) {
    events.push({
      eventId: `${id}-${i}`,
      sessionId: '',
      userId: '',
      anonymousId: '',
      timeUnixNano: NOW_NANOS + BigInt(i),
      observedTimeUnixNano: 0n,
      traceId: '',
      spanId: '',
      traceFlags: 0,
      severityText: '',
      severityNumber: 0,
      ...fields(i),
      resource,
      scope: testScope,
    });
  }
  return { tenantId: 'acme', signal: 'logs', events, rejections: [] };
}
