/**
 * The read side of the analytics service (`analytics.v1.AnalyticsService`) over gRPC: `GetEventCount` and
 * `GetUserCount`, for read tokens (`authorization: Bearer <read token>` metadata). They count exactly as the
 * HTTP count API (query/counts.ts), after the same read-after-ack wait. Times are Unix seconds; a range is
 * `start_time` inclusive to `end_time` exclusive. The write side (`TrackEvent`, `IdentifyUser`, `HealthCheck`)
 * is the analytics receiver's (receiver/analytics/); the service assembles both on one listener.
 *
 * Messages (the service's .proto):
 *   GetEventCountRequest { string event_name = 1; int64 start_time = 2; int64 end_time = 3; string group_by = 4; }
 *   GetEventCountResponse { repeated EventCount counts = 1; }  EventCount { string event_name = 1; int64 timestamp = 2; int64 count = 3; }
 *   GetUserCountRequest { int64 start_time = 1; int64 end_time = 2; }  GetUserCountResponse { int64 unique_users = 1; }
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { GrpcCall, GrpcMethod } from '../core/components.ts';
import { SignalhouseError } from '../core/errors.ts';
import { NO_RATE_LIMITS, type RateLimiter } from '../core/rate-limit/limiter.ts';
import { credentialFromAuthorization, type Tenant, type TenantRegistry } from '../core/tenants.ts';
import { COUNT_GRAINS, type CountGrain, countEvents, countUsers } from './counts.ts';
import { MAX_TIME_MS, MIN_TIME_MS } from './fields.ts';
import { awaitAcknowledged, type QueryRoutesOptions } from './routes.ts';

export const ANALYTICS_SERVICE = 'analytics.v1.AnalyticsService';

const GRAIN_SECONDS: Record<CountGrain, number> = { hour: 3600, day: 86_400, week: 604_800 };
/** Counts one call may answer (buckets × event names), as the query API's row cap. */
const MAX_COUNTS = 10_000;

type Fields = Map<number, string | bigint>;

/**
 * The fields of a flat message of strings (wire type 2) and varints (wire type 0), by number; unknown fields are
 * skipped, a known one with another wire type or a malformed message is INVALID_ARGUMENT.
 */
function decodeFields(bytes: Buffer, message: string, strings: readonly number[], varints: readonly number[]): Fields {
  const fields: Fields = new Map();
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [no, wireType] = r.tag();
      const wanted = strings.includes(no) ? WireType.LengthDelimited : varints.includes(no) ? WireType.Varint : undefined;
      if (wanted === undefined) r.skip(wireType);
      else if (wireType !== wanted) throw new Error(`field ${no} has the wrong wire type`);
      else fields.set(no, wanted === WireType.Varint ? BigInt(r.int64()) : r.string());
    }
  } catch (err) {
    throw new SignalhouseError('UNDECODABLE_BODY', `undecodable ${message}: ${(err as Error).message}`);
  }
  return fields;
}

/** A time in Unix seconds as milliseconds, within what the event columns hold. */
function timeMs(fields: Fields, no: number, name: string): number {
  const seconds = (fields.get(no) as bigint | undefined) ?? 0n;
  const ms = Number(seconds) * 1000;
  if (seconds === 0n) throw new SignalhouseError('BAD_REQUEST', `invalid time range: ${name} is required (Unix seconds)`);
  if (!(ms >= MIN_TIME_MS && ms <= MAX_TIME_MS)) {
    throw new SignalhouseError('BAD_REQUEST', `invalid time range: ${name} must be between ${MIN_TIME_MS / 1000} and ${Math.floor(MAX_TIME_MS / 1000)}`);
  }
  return ms;
}

function range(fields: Fields, startNo: number, endNo: number): { fromMs: number; toMs: number } {
  const fromMs = timeMs(fields, startNo, 'start_time');
  const toMs = timeMs(fields, endNo, 'end_time');
  if (toMs <= fromMs) throw new SignalhouseError('BAD_REQUEST', 'invalid time range: end_time must be after start_time');
  return { fromMs, toMs };
}

/** The tenant of the call's read token, once the token's rate limits admit the call (RESOURCE_EXHAUSTED otherwise). */
async function readTenant(tenants: TenantRegistry, rateLimits: RateLimiter, call: GrpcCall): Promise<Tenant> {
  const token = credentialFromAuthorization(call.metadata('authorization'));
  if (!token) throw new SignalhouseError('UNAUTHENTICATED', 'missing read token: send the metadata "authorization: Bearer <read token>"');
  const principal = tenants.principal(token);
  if (principal?.role !== 'read') throw new SignalhouseError('UNAUTHENTICATED', 'unknown read token');
  await rateLimits.admit(principal, 0);
  return principal.tenant;
}

/** A bucket's start as the query API writes it (UTC date, or date and hour) in Unix seconds. */
const bucketSeconds = (t: string) => Math.floor(Date.parse(t) / 1000);

export function analyticsReadMethods(opts: QueryRoutesOptions): GrpcMethod[] {
  const { store, tenants } = opts;
  const rateLimits = opts.rateLimits ?? NO_RATE_LIMITS;
  return [
    {
      path: `/${ANALYTICS_SERVICE}/GetEventCount`,
      async handle(request, call) {
        const tenant = await readTenant(tenants, rateLimits, call);
        const fields = decodeFields(request, 'GetEventCountRequest', [1, 4], [2, 3]);
        const { fromMs, toMs } = range(fields, 2, 3);
        const eventName = (fields.get(1) as string | undefined) ?? '';
        const groupBy = ((fields.get(4) as string | undefined) ?? '') || undefined;
        if (groupBy !== undefined && !(COUNT_GRAINS as readonly string[]).includes(groupBy)) {
          throw new SignalhouseError('BAD_REQUEST', `group_by must be one of ${COUNT_GRAINS.join(', ')} (or empty for one count per event name)`);
        }
        const grain = groupBy as CountGrain | undefined;
        if (grain && (toMs - fromMs) / 1000 / GRAIN_SECONDS[grain] > MAX_COUNTS) {
          throw new SignalhouseError('BAD_REQUEST', `more than ${MAX_COUNTS} ${grain}s in the range: use a coarser group_by or a shorter range`);
        }
        await awaitAcknowledged(opts.readAfterAck);
        const rows = await countEvents(store, tenant.id, {
          fromMs,
          toMs,
          eventName: eventName || undefined,
          groupBy: grain,
          byEventName: true,
          limit: MAX_COUNTS + 1,
        });
        if (rows.length > MAX_COUNTS) {
          throw new SignalhouseError('BAD_REQUEST', `more than ${MAX_COUNTS} counts: name an event, use a coarser group_by or a shorter range`);
        }
        const w = new BinaryWriter();
        for (const r of rows) {
          w.tag(1, WireType.LengthDelimited).fork();
          if (r.eventName) w.tag(1, WireType.LengthDelimited).string(r.eventName);
          w.tag(2, WireType.Varint).int64(grain ? bucketSeconds(r.t!) : fromMs / 1000);
          w.tag(3, WireType.Varint).int64(r.count);
          w.join();
        }
        return w.finish();
      },
    },
    {
      path: `/${ANALYTICS_SERVICE}/GetUserCount`,
      async handle(request, call) {
        const tenant = await readTenant(tenants, rateLimits, call);
        const { fromMs, toMs } = range(decodeFields(request, 'GetUserCountRequest', [], [1, 2]), 1, 2);
        await awaitAcknowledged(opts.readAfterAck);
        const users = await countUsers(store, tenant.id, fromMs, toMs);
        const w = new BinaryWriter();
        if (users > 0) w.tag(1, WireType.Varint).int64(users);
        return w.finish();
      },
    },
  ];
}
