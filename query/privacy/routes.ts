/**
 * The admin routes: erasure jobs, exports of a person and the audit log, for admin tokens only (core/auth.ts;
 * read tokens and write keys get 403, unknown tokens 401). The tenant comes from the token; a body naming
 * another tenant is refused with 403, and another tenant's job is not found. Every call is audited before its
 * reply is sent, refused calls by a known credential of another role too; each reply carries its audit row's
 * request id as `X-Request-Id`.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Authenticator, RoleRefusal, requireRole } from '../../core/auth.ts';
import { blindIndex, blindIndexAttribute } from '../../core/encryption.ts';
import { SignalhouseError } from '../../core/errors.ts';
import type { Encryption } from '../../core/keyring.ts';
import type { Principal } from '../../core/tenants.ts';
import type { Store } from '../../storage/store.ts';
import { timeField } from '../fields.ts';
import { parseBody } from '../request.ts';
import { awaitAcknowledged } from '../routes.ts';
import { auditRouteCall, readAudit } from './audit.ts';
import type { ErasureRunner } from './erasure.ts';
import { exportPerson } from './export.ts';
import { jobView } from './jobs.ts';
import { type PersonRef, resolvePerson } from './person.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The action an admin route's calls are audited as. */
    audit?: string;
  }
  interface FastifyRequest {
    /** What an admin call was about (a job id), for its audit row. */
    auditTarget: string;
  }
}

export interface PrivacyRoutesOptions {
  store: Store;
  auth: Authenticator;
  erasures: ErasureRunner;
  /** Resolves when every event acknowledged so far is visible to queries (exports and audit reads wait for it). */
  readAfterAck(): Promise<void>;
  /** With encryption on: exports show traits and PII attributes decrypted. */
  encryption?: Encryption;
}

const id = z.string().min(1).max(1024);
const personFields = { user_id: id.optional(), anonymous_id: id.optional(), tenant_id: z.string().min(1).max(64).optional() };
const onePerson = (b: { user_id?: string; anonymous_id?: string }, ctx: z.RefinementCtx) => {
  if ((b.user_id === undefined) === (b.anonymous_id === undefined))
    ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of user_id and anonymous_id' });
};
const erasureBody = z.strictObject({ ...personFields, suppress: z.boolean().default(true) }).superRefine(onePerson);
const exportBody = z.strictObject(personFields).superRefine(onePerson);
const blindIndexBody = z.strictObject({
  attribute: z.string().min(1).max(256),
  value: z.string().max(65_536),
  tenant_id: personFields.tenant_id,
});
const queryTime = z
  .string()
  .transform((s) => (/^\d+$/.test(s) ? Number(s) : s))
  .pipe(timeField);
const auditQuery = z
  .strictObject({
    from: queryTime.optional(),
    to: queryTime.optional(),
    action: z.string().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && q.to <= q.from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
  });

/** The caller (set by the admin hook), checked against a tenant the body may name. */
function callerOf(request: FastifyRequest, tenantId?: string): Principal {
  const principal = request.principal!;
  if (tenantId !== undefined && tenantId !== principal.tenant.id) {
    throw new SignalhouseError('FORBIDDEN_TENANT', `this admin token is tenant "${principal.tenant.id}"'s: it cannot act for tenant "${tenantId}"`);
  }
  return principal;
}

const personRef = (b: { user_id?: string; anonymous_id?: string }): PersonRef =>
  b.user_id !== undefined ? { userId: b.user_id } : { anonymousId: b.anonymous_id! };

export async function privacyRoutes(app: FastifyInstance, opts: PrivacyRoutesOptions): Promise<void> {
  const { store, erasures } = opts;
  app.decorateRequest('auditTarget', '');

  const audit = (request: FastifyRequest, reply: FastifyReply, principal: Principal, status: number) =>
    auditRouteCall(store, request, reply, principal, { action: request.routeOptions.config.audit ?? 'admin.call', target: request.auditTarget, status });

  app.addHook('onRequest', async (_request, reply) => {
    reply.header('x-request-id', randomUUID());
  });
  app.addHook(
    'preHandler',
    requireRole(opts.auth, 'admin', async (request, reply, err) => {
      if (err instanceof RoleRefusal) await audit(request, reply, err.principal, err.statusCode);
    }),
  );
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.principal) await audit(request, reply, request.principal, reply.statusCode);
    return payload;
  });

  /** Every acknowledged event visible, or a retryable 503 (query/routes.ts). */
  const settled = () => awaitAcknowledged(opts.readAfterAck);

  app.post('/api/v1/privacy/erasures', { config: { audit: 'privacy.erasure.create' } }, async (request, reply) => {
    const b = parseBody(erasureBody, request.body);
    const principal = callerOf(request, b.tenant_id);
    const job = await erasures.create({
      tenantId: principal.tenant.id,
      person: personRef(b),
      suppress: b.suppress,
      actor: principal.keyId,
      requestId: String(reply.getHeader('x-request-id')),
    });
    request.auditTarget = job.id;
    reply.code(202).header('location', `/api/v1/privacy/erasures/${job.id}`);
    return { id: job.id, status: job.status };
  });

  app.get<{ Params: { id: string } }>('/api/v1/privacy/erasures/:id', { config: { audit: 'privacy.erasure.read' } }, async (request) => {
    const principal = callerOf(request);
    request.auditTarget = request.params.id;
    const job = await erasures.get(principal.tenant.id, request.params.id);
    if (!job) throw new SignalhouseError('NOT_FOUND', `tenant "${principal.tenant.id}" has no erasure job ${JSON.stringify(request.params.id)}`);
    return jobView(job);
  });

  app.post('/api/v1/privacy/exports', { config: { audit: 'privacy.export' } }, async (request, reply) => {
    const b = parseBody(exportBody, request.body);
    const principal = callerOf(request, b.tenant_id);
    await settled();
    const person = await resolvePerson(store, principal.tenant.id, personRef(b));
    request.auditTarget = person.userIds[0] !== undefined ? 'user' : 'anonymous';
    reply.type('application/x-ndjson; charset=utf-8');
    return reply.send(Readable.from(exportPerson(store, principal.tenant.id, person, opts.encryption)));
  });

  // The blind index of a value, for equality filters on an encrypted attribute (docs/privacy.md): admin only, as
  // whoever can compute indexes can test guesses of a value.
  app.post('/api/v1/privacy/blind-index', { config: { audit: 'privacy.blind_index' } }, async (request) => {
    const b = parseBody(blindIndexBody, request.body);
    const principal = callerOf(request, b.tenant_id);
    const tenantId = principal.tenant.id;
    request.auditTarget = b.attribute;
    const enc = opts.encryption;
    const key = enc?.hasBlindIndex(tenantId, b.attribute) ? enc.blindIndexKey(tenantId) : undefined;
    if (!key) throw new SignalhouseError('BAD_REQUEST', `attribute ${JSON.stringify(b.attribute)} has no blind index (encryption.blind_index)`);
    return { attribute: blindIndexAttribute(b.attribute), value: blindIndex(key, b.value) };
  });

  app.get('/api/v1/audit', { config: { audit: 'audit.read' } }, async (request) => {
    const q = parseBody(auditQuery, request.query);
    const principal = callerOf(request);
    await settled();
    const toMs = q.to ?? Date.now() + 60_000;
    const entries = await readAudit(store, { tenantId: principal.tenant.id, fromMs: q.from ?? 0, toMs, action: q.action, limit: q.limit });
    return { entries };
  });
}
