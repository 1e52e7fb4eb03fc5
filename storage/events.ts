/**
 * Reads of the event tables that components other than the query layer need, as operations: components ask
 * storage for what they need ("event ids seen since t") and never write SQL themselves.
 */
import type { Signal } from '../core/config.ts';
import { readRows, type Store } from './store.ts';

export interface SeenEventId {
  tenantId: string;
  eventId: string;
  /** When it was last seen: the latest of its event time and observed time (logs), its start (spans), in ms. */
  atMs: number;
}

/**
 * The distinct (tenant, event id) pairs stored within the last `windowMs` (by their latest time), oldest first,
 * at most `max`; events without an id are left out.
 */
export async function recentEventIds(store: Store, signal: Signal, windowMs: number, max: number): Promise<SeenEventId[]> {
  const table = signal === 'logs' ? 'otel_logs' : 'otel_traces';
  const time = signal === 'logs' ? 'greatest(Timestamp, ObservedTimestamp)' : 'Timestamp';
  const rows = await readRows<{ t: string; id: string; at: string }>(
    store,
    `SELECT TenantId AS t, EventId AS id, toUnixTimestamp64Milli(max(${time})) AS at
     FROM ${store.database}.${table}
     WHERE ${time} >= now64(3) - toIntervalMillisecond({window:UInt64}) AND EventId != ''
     GROUP BY t, id ORDER BY at LIMIT {max:UInt64}`,
    { window: Math.round(windowMs), max },
  );
  return rows.map((r) => ({ tenantId: r.t, eventId: r.id, atMs: Number(r.at) }));
}
