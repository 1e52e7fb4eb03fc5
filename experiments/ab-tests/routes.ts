/**
 * The experiments API: `POST /api/feature-flags/ab-tests` and `PATCH /api/feature-flags/ab-tests/:id` for admin
 * tokens; `GET /api/feature-flags/ab-tests`, `GET …/:id` and `GET …/:id/results` for read tokens and admin
 * tokens alike (core/auth.ts; a write key gets 403, an unknown token 401). The tenant comes from the token, and
 * another tenant's experiment is not found. Every change is audited (`experiment.create`, `experiment.update`)
 * before its reply is sent, refused attempts by a known credential of another role too; each reply carries its
 * request id as `X-Request-Id`.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { type Authenticator, RoleRefusal, requireRole } from '../../core/auth.ts';
import type { Principal } from '../../core/tenants.ts';
import { auditRouteCall } from '../../query/privacy/audit.ts';
import { awaitAcknowledged } from '../../query/routes.ts';
import type { Store } from '../../storage/store.ts';
import { createSchema, parseBody, updateSchema } from './definition.ts';
import { experimentResults } from './results.ts';
import type { Experiments } from './service.ts';

export interface ExperimentRoutesOptions {
  store: Store;
  auth: Authenticator;
  experiments: Experiments;
  /** Resolves when every event acknowledged so far is visible to queries (results wait for it). */
  readAfterAck(): Promise<void>;
  now?: () => number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The action a change route's calls are audited as. */
    experimentAudit?: string;
  }
  interface FastifyRequest {
    /** The experiment a change was about, for its audit row. */
    experimentId: string;
  }
}

const BASE = '/api/feature-flags/ab-tests';

export async function experimentRoutes(app: FastifyInstance, opts: ExperimentRoutesOptions): Promise<void> {
  const { experiments, store, auth } = opts;
  const now = opts.now ?? Date.now;

  const audit = (request: FastifyRequest, reply: FastifyReply, principal: Principal, status: number) =>
    auditRouteCall(store, request, reply, principal, {
      action: request.routeOptions.config.experimentAudit ?? 'experiment.update',
      target: request.experimentId || String((request.params as { id?: string }).id ?? ''),
      status,
    });
  const admin = requireRole(auth, 'admin', async (request, reply, err) => {
    if (err instanceof RoleRefusal) await audit(request, reply, err.principal, err.statusCode);
  });
  /** Read tokens and admin tokens both read experiments. */
  const reader: preHandlerAsyncHookHandler = async (request) => {
    try {
      request.principal = await auth.authenticate(request.headers.authorization, 'read');
    } catch (err) {
      if (!(err instanceof RoleRefusal && err.principal.role === 'admin')) throw err;
      request.principal = err.principal;
    }
  };

  app.decorateRequest('experimentId', '');
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('x-request-id', randomUUID());
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.routeOptions.config.experimentAudit && request.principal) await audit(request, reply, request.principal, reply.statusCode);
    return payload;
  });

  /** Every acknowledged event visible, or a retryable 503 (query/routes.ts). */
  const settled = () => awaitAcknowledged(opts.readAfterAck);
  const requestId = (reply: FastifyReply) => String(reply.getHeader('x-request-id'));

  app.post(BASE, { preHandler: admin, config: { experimentAudit: 'experiment.create' } }, async (request, reply) => {
    const input = parseBody(createSchema, request.body);
    const p = request.principal!;
    const abTest = await experiments.create(p.tenant.id, input, p.keyId, requestId(reply));
    request.experimentId = abTest.id;
    return reply.code(201).send({ abTest });
  });

  app.get(BASE, { preHandler: reader }, async (request) => ({ abTests: experiments.list(request.principal!.tenant.id) }));

  app.get<{ Params: { id: string } }>(`${BASE}/:id`, { preHandler: reader }, async (request) => ({
    abTest: experiments.get(request.principal!.tenant.id, request.params.id),
  }));

  app.patch<{ Params: { id: string } }>(`${BASE}/:id`, { preHandler: admin, config: { experimentAudit: 'experiment.update' } }, async (request, reply) => {
    const p = request.principal!;
    experiments.get(p.tenant.id, request.params.id);
    const input = parseBody(updateSchema, request.body);
    return { abTest: await experiments.update(p.tenant.id, request.params.id, input, p.keyId, requestId(reply)) };
  });

  app.get<{ Params: { id: string } }>(`${BASE}/:id/results`, { preHandler: reader }, async (request) => {
    const tenantId = request.principal!.tenant.id;
    const e = experiments.get(tenantId, request.params.id);
    await settled();
    return experimentResults(store, tenantId, e, now());
  });
}
