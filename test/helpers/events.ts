/**
 * Decoded events for tests that drive processors or the exporter directly (no receiver): one event with the
 * fields a test cares about, or a batch of `n` with ids `<id>-<i>`, one nanosecond apart from now.
 */
import type { LogBatch, LogEvent, Resource, Scope } from '../../core/event.ts';

export const NOW_NANOS = BigInt(Date.now()) * 1_000_000n;
export const testScope: Scope = { name: 's', version: '', attributes: {}, schemaUrl: '' };
export const testResource = (service: string): Resource => ({ attributes: { 'service.name': service }, schemaUrl: '', serviceName: service });

const EMPTY_RESOURCE: Resource = { attributes: {}, schemaUrl: '', serviceName: '' };
const EMPTY_SCOPE: Scope = { name: '', version: '', attributes: {}, schemaUrl: '' };

/** One decoded log event: every field empty or zero but those given. */
export function testLogEvent(fields: Partial<LogEvent>): LogEvent {
  return {
    eventId: '',
    sessionId: '',
    userId: '',
    anonymousId: '',
    timeUnixNano: 0n,
    observedTimeUnixNano: 0n,
    traceId: '',
    spanId: '',
    traceFlags: 0,
    severityText: '',
    severityNumber: 0,
    body: '',
    eventName: '',
    attributes: {},
    resource: EMPTY_RESOURCE,
    scope: EMPTY_SCOPE,
    ...fields,
  };
}

export function logBatch(
  id: string,
  n: number,
  fields: (i: number) => Pick<LogEvent, 'eventName' | 'body' | 'attributes'>,
  resource = testResource('test'),
): LogBatch {
  const events: LogEvent[] = [];
  for (let i = 0; i < n; i++) {
    events.push(testLogEvent({ eventId: `${id}-${i}`, timeUnixNano: NOW_NANOS + BigInt(i), ...fields(i), resource, scope: testScope }));
  }
  return { tenantId: 'acme', signal: 'logs', events, rejections: [] };
}
