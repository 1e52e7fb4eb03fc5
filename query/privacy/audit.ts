/**
 * The audit log (`audit_log`): who did what, for which tenant, when, under which request id. Admin calls are
 * written here by the admin routes, one INSERT per call before its reply is sent; identify and alias calls by
 * the view over otel_logs (storage/governance.ts), with no cost on the ingest path. Rows are only ever
 * appended; the one change made to them is erasure's, which blanks an erased person's ids (erasure.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../core/tenants.ts';
import { AUDIT_TABLE } from '../../storage/governance.ts';
import { readRows, type Store } from '../../storage/store.ts';
import { chTime } from './jobs.ts';

export interface AuditEntry {
  tenantId: string;
  /** The credential's key id (never the secret). */
  actor: string;
  role: string;
  /** `privacy.erasure.create`, `privacy.export`, `audit.read`, ... (docs/privacy.md lists them). */
  action: string;
  /** What the call was about: a job id, a route. */
  target: string;
  status: number;
  requestId: string;
  details?: Record<string, unknown>;
}

/**
 * An admin route's call in the audit log: who (`principal`), the reply's status and request id, the method and
 * route. Written in the reply's `onSend` (or for a refusal): the call itself has happened, so a failed write is
 * logged rather than failing the reply, which would make the client repeat it.
 */
export async function auditRouteCall(
  store: Store,
  request: FastifyRequest,
  reply: FastifyReply,
  principal: Principal,
  call: { action: string; target: string; status: number },
): Promise<void> {
  try {
    await recordAudit(store, {
      tenantId: principal.tenant.id,
      actor: principal.keyId,
      role: principal.role,
      ...call,
      requestId: String(reply.getHeader('x-request-id') ?? ''),
      details: { method: request.method, route: request.routeOptions.url },
    });
  } catch (err) {
    request.log.error({ err }, 'audit row not written');
  }
}

export async function recordAudit(store: Store, entry: AuditEntry): Promise<void> {
  await store.client.insert({
    table: `${store.database}.${AUDIT_TABLE}`,
    format: 'JSONEachRow',
    values: [
      {
        Timestamp: chTime(Date.now()),
        TenantId: entry.tenantId,
        Actor: entry.actor,
        Role: entry.role,
        Action: entry.action,
        Target: entry.target,
        Status: entry.status,
        RequestId: entry.requestId,
        UserId: '',
        AnonymousId: '',
        Details: entry.details ? JSON.stringify(entry.details) : '',
      },
    ],
    clickhouse_settings: { insert_deduplicate: 0 },
  });
}

export interface AuditQuery {
  tenantId: string;
  fromMs: number;
  toMs: number;
  action?: string;
  limit: number;
}

/** The tenant's audit rows in the range, newest first. */
export async function readAudit(store: Store, q: AuditQuery) {
  const rows = await readRows<Record<string, string | number>>(
    store,
    `SELECT toUnixTimestamp64Milli(Timestamp) AS at, Actor, Role, Action, Target, Status, RequestId, UserId, AnonymousId, Details
     FROM ${store.database}.${AUDIT_TABLE}
     WHERE TenantId = {tenant:String} AND Timestamp >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND Timestamp < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
       AND ({action:String} = '' OR Action = {action:String})
     ORDER BY Timestamp DESC LIMIT {limit:UInt32}`,
    { tenant: q.tenantId, from: q.fromMs, to: q.toMs, action: q.action ?? '', limit: q.limit },
  );
  return rows.map((r) => ({
    time: new Date(Number(r.at)).toISOString(),
    actor: r.Actor,
    role: r.Role,
    action: r.Action,
    target: r.Target,
    status: Number(r.Status),
    request_id: r.RequestId,
    ...(r.UserId ? { user_id: r.UserId } : {}),
    ...(r.AnonymousId ? { anonymous_id: r.AnonymousId } : {}),
    ...(r.Details ? { details: JSON.parse(String(r.Details)) as unknown } : {}),
  }));
}
