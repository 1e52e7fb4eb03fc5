/**
 * What every query route does with its request: the tenant from the read token, the body checked against a
 * strict schema with every problem reported by its path, and the range fields the report endpoints share.
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SignalhouseError } from '../core/errors.ts';
import { type Authenticator, RoleRefusal } from '../core/auth.ts';
import type { Principal, Tenant } from '../core/tenants.ts';
import { timeField } from './fields.ts';

/** `from`, `to` (a range `[from, to)`) and an optional site. */
export const rangeFields = { from: timeField, to: timeField, site_id: z.string().min(1).max(256).optional() };

export const rangeCheck = (b: { from: number; to: number }, ctx: z.RefinementCtx) => {
  if (b.to <= b.from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
};

/** The body as `schema` reads it, or 400 naming every problem by its path. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`);
    throw new SignalhouseError('BAD_REQUEST', problems.join('; '));
  }
  return r.data;
}

/** The tenant of the request's read token (or bearer JWT of the read role); 401 / 403 saying what is wrong. */
export async function readTenant(auth: Authenticator, request: FastifyRequest): Promise<Tenant> {
  return (await auth.authenticate(request.headers.authorization, 'read')).tenant;
}

/**
 * The caller of a route that serves read tokens and admin tokens alike (the people API: an admin token sees
 * encrypted values in clear); 401 / 403 as for read routes otherwise.
 */
export async function readOrAdmin(auth: Authenticator, request: FastifyRequest): Promise<Principal> {
  try {
    return await auth.authenticate(request.headers.authorization, 'read');
  } catch (err) {
    if (err instanceof RoleRefusal && err.principal.role === 'admin') return err.principal;
    throw err;
  }
}
