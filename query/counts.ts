/**
 * The count API's two counts, shared by its HTTP routes (query/routes.ts) and the analytics service's gRPC
 * `GetEventCount` / `GetUserCount` (query/grpc.ts), so both answer the same numbers: events in a range, by event
 * name and by hour / day / week if asked, and the stitched people (user id, else the user an anonymous id was
 * linked to, else the anonymous id) who sent any. Both are query-API (explore.ts) requests.
 */
import type { Store } from '../storage/store.ts';
import { runExplore } from './explore.ts';

export const COUNT_GRAINS = ['hour', 'day', 'week'] as const;
export type CountGrain = (typeof COUNT_GRAINS)[number];

export interface EventCountQuery {
  fromMs: number;
  toMs: number;
  /** Only this event; all when undefined. */
  eventName?: string;
  groupBy?: CountGrain;
  /** One count per event name (and bucket) instead of per bucket. */
  byEventName?: boolean;
  /** Rows at most (the query API's cap is 10,000). */
  limit?: number;
}

export interface EventCountRow {
  /** With `byEventName`. */
  eventName?: string;
  /** The bucket's start as the query API writes it (`2025-11-30`, `2025-11-30T10:00:00Z`), with `groupBy`. */
  t?: string;
  count: number;
}

export async function countEvents(store: Store, tenantId: string, q: EventCountQuery): Promise<EventCountRow[]> {
  const filters = q.eventName ? [{ field: 'event_name', op: 'eq' as const, value: q.eventName }] : [];
  const dimensions = [...(q.byEventName ? ['event_name'] : []), ...(q.groupBy ? [q.groupBy] : [])];
  const req = { metrics: ['count' as const], dimensions, filters, dateRange: { from: q.fromMs, to: q.toMs }, limit: q.limit ?? 10_000 };
  const rows = await runExplore(store, tenantId, req, undefined);
  // Without dimensions the query answers one row, also for no events.
  return rows.map((r) => ({
    eventName: q.byEventName ? String(r.event_name) : undefined,
    t: q.groupBy ? String(r[q.groupBy]) : undefined,
    count: Number(r.count ?? 0),
  }));
}

export async function countUsers(store: Store, tenantId: string, fromMs: number, toMs: number): Promise<number> {
  const req = { metrics: ['unique_users' as const], dimensions: [], filters: [], dateRange: { from: fromMs, to: toMs }, limit: 1 };
  const rows = await runExplore(store, tenantId, req, undefined);
  return Number(rows[0]?.unique_users ?? 0);
}
