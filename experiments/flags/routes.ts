/**
 * The feature flags API. Admin tokens change flags (`POST /api/feature-flags/flags`, `PATCH` and `DELETE
 * /api/feature-flags/flags/:key`); admin and read tokens read them (the list, one flag, its history); any of the
 * tenant's credentials, write keys included, evaluates one (`POST /api/feature-flags/flags/:key/evaluate`), which
 * also stores a `$feature_flag_called` event for the person. posthog-node's local evaluation loads the
 * definitions with an admin token as its personal API key (`GET /flags/definitions`,
 * `/api/feature_flag/local_evaluation`). The tenant comes from the credential: another tenant's flags are not
 * found; a change refused to a known credential of another role is audited. Every reply carries a request id (`X-Request-Id`), which the version row and the audit row of a change
 * record.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Authenticator, RoleRefusal } from '../../core/auth.ts';
import { SignalhouseError } from '../../core/errors.ts';
import type { FlagCalledRecorder } from '../../core/flags.ts';
import type { Principal, TenantRegistry } from '../../core/tenants.ts';
import { evaluateFlag } from './evaluate.ts';
import { FLAG_KEY } from './model.ts';
import { localEvaluationDefinitions } from './posthog.ts';
import { formatIssues } from './check.ts';
import type { FlagActor, FlagStore } from './store.ts';

export interface FlagRoutesOptions {
  flags: FlagStore;
  auth: Authenticator;
  tenants: TenantRegistry;
  /** Stores the evaluate API's `$feature_flag_called` events; absent: none are stored. */
  recordFlagCalled?: FlagCalledRecorder;
}

const BODY_LIMIT = 256 * 1024;

const attributeKey = z
  .string()
  .min(1)
  .max(400)
  .refine((k) => k !== '__proto__' && k !== 'constructor' && k !== 'prototype', 'this attribute name is not allowed');
const attributeScalar = z.union([z.string().max(8192), z.number().finite(), z.boolean(), z.null()]);
const evaluateBody = z.strictObject({
  userId: z.string().min(1).max(1024),
  attributes: z.record(attributeKey, z.union([attributeScalar, z.array(attributeScalar).max(100)])).default({}),
});
const historyQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(10_000).default(1000) });

function parse<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const r = schema.safeParse(input ?? {});
  if (!r.success) throw new SignalhouseError('BAD_REQUEST', formatIssues(r.error));
  return r.data;
}

function keyParam(request: FastifyRequest): string {
  const key = (request.params as { key: string }).key;
  if (!FLAG_KEY.test(key)) throw new SignalhouseError('BAD_REQUEST', 'key: a flag key is a letter, then up to 99 letters, digits, "_", "." or "-"');
  return key;
}

const object = (body: unknown): Record<string, unknown> => {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new SignalhouseError('BAD_REQUEST', '(body): must be a JSON object');
  return body as Record<string, unknown>;
};

export async function flagRoutes(app: FastifyInstance, opts: FlagRoutesOptions): Promise<void> {
  const { flags, auth } = opts;

  app.addHook('onRequest', async (_request, reply) => {
    reply.header('x-request-id', randomUUID());
  });
  const requestId = (reply: { getHeader(name: string): unknown }) => String(reply.getHeader('x-request-id') ?? '');

  /** The caller, if its role is one of `roles` (a credential of another role: 403 saying what it is for). */
  async function caller(
    request: FastifyRequest,
    roles: ReadonlyArray<Principal['role']>,
    audited?: { action: string; key: string; requestId: string },
  ): Promise<Principal> {
    let principal: Principal;
    try {
      principal = await auth.authenticate(request.headers.authorization, 'admin');
    } catch (err) {
      if (!(err instanceof RoleRefusal)) throw err;
      principal = err.principal;
    }
    if (!roles.includes(principal.role)) {
      if (audited)
        await flags.auditRefusal(principal.tenant.id, audited.key, { keyId: principal.keyId, role: principal.role }, audited.action, 403, audited.requestId);
      throw new SignalhouseError('FORBIDDEN_ROLE', `a ${principal.role} credential cannot do this: it needs ${roles.map((r) => `a ${r} token`).join(' or ')}`);
    }
    return principal;
  }
  const READERS = ['admin', 'read'] as const;
  const actorOf = (p: Principal, name: unknown): FlagActor => ({
    keyId: p.keyId,
    role: p.role,
    name: typeof name === 'string' && name !== '' ? name : undefined,
  });
  const notFound = (key: string) => new SignalhouseError('NOT_FOUND', `no flag "${key}"`);

  app.post('/api/feature-flags/flags', { bodyLimit: BODY_LIMIT }, async (request, reply) => {
    const body = object(request.body);
    const principal = await caller(request, ['admin'], {
      action: 'flag.create',
      key: typeof body.key === 'string' ? body.key : '',
      requestId: requestId(reply),
    });
    const flag = await flags.create(principal.tenant.id, body, actorOf(principal, body.createdBy), requestId(reply));
    return reply.code(201).send({ flag });
  });

  app.get('/api/feature-flags/flags', async (request) => {
    const principal = await caller(request, READERS);
    return { flags: flags.list(principal.tenant.id) };
  });

  app.get('/api/feature-flags/flags/:key', async (request) => {
    const principal = await caller(request, READERS);
    const key = keyParam(request);
    const flag = flags.get(principal.tenant.id, key);
    if (!flag) throw notFound(key);
    return { flag };
  });

  app.patch('/api/feature-flags/flags/:key', { bodyLimit: BODY_LIMIT }, async (request, reply) => {
    const key = keyParam(request);
    const principal = await caller(request, ['admin'], { action: 'flag.update', key, requestId: requestId(reply) });
    const body = object(request.body);
    const { updatedBy, createdBy: _createdBy, ...patch } = body;
    const flag = await flags.update(principal.tenant.id, key, patch, actorOf(principal, updatedBy), requestId(reply));
    return { flag };
  });

  app.delete('/api/feature-flags/flags/:key', async (request, reply) => {
    const key = keyParam(request);
    const principal = await caller(request, ['admin'], { action: 'flag.delete', key, requestId: requestId(reply) });
    if (!(await flags.remove(principal.tenant.id, key, actorOf(principal, undefined), requestId(reply)))) throw notFound(key);
    return { key, deleted: true };
  });

  app.get('/api/feature-flags/flags/:key/history', async (request) => {
    const principal = await caller(request, READERS);
    const key = keyParam(request);
    const { limit } = parse(historyQuery, request.query);
    const versions = await flags.history(principal.tenant.id, key, limit);
    if (versions.length === 0 && !flags.get(principal.tenant.id, key)) throw notFound(key);
    return { versions };
  });

  app.post('/api/feature-flags/flags/:key/evaluate', { bodyLimit: BODY_LIMIT }, async (request) => {
    const principal = await caller(request, ['admin', 'read', 'write']);
    const key = keyParam(request);
    const { userId, attributes } = parse(evaluateBody, request.body);
    const flag = flags.compiledFlag(principal.tenant.id, key);
    if (!flag) throw notFound(key);
    const e = evaluateFlag(flag, userId, attributes);
    await opts.recordFlagCalled?.(principal.tenant.id, userId, key, e.value);
    return { key, enabled: e.enabled, value: e.value, variant: e.variant ?? null, payload: e.payload ?? null, reason: e.reason };
  });

  // posthog-node's local evaluation: the admin token is its personal API key, `token` the project (write) key.
  const definitions = async (request: FastifyRequest, reply: FastifyReply) => {
    const principal = await caller(request, ['admin']);
    const token = (request.query as Record<string, unknown>).token;
    if (token !== undefined) {
      if (typeof token !== 'string') throw new SignalhouseError('BAD_REQUEST', 'token: one project key');
      if (opts.tenants.byWriteKey(token)?.id !== principal.tenant.id) {
        throw new SignalhouseError('FORBIDDEN_TENANT', "token is not a project (write) key of the admin token's tenant");
      }
    }
    // posthog-node polls with the ETag it was given: unchanged flags are a 304 without a body.
    const etag = flags.etag(principal.tenant.id);
    reply.header('etag', etag);
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return localEvaluationDefinitions(flags, principal.tenant.id);
  };
  app.get('/flags/definitions', definitions);
  app.get('/api/feature_flag/local_evaluation', definitions);
}
