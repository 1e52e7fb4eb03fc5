/**
 * Who may call a route that needs a role: the read token of the query API, the admin token of the admin routes,
 * or, with `auth.jwt` configured, a bearer JWT whose claims name a tenant and a role. Each role does one job: a
 * credential of another role is refused with 403 FORBIDDEN_ROLE saying what it is for, an unknown one with 401.
 * JWTs are verified with `jose` (signature against the JWKS or the public key, `iss`, `aud`, `exp`, `nbf`);
 * their tenant must be configured, and a JWT never ingests (write keys are public anyway).
 */
import { createPublicKey } from 'node:crypto';
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify, type KeyObject } from 'jose';
import type { JwtConfig } from './config.ts';
import { SignalhouseError } from './errors.ts';
import { credentialFromAuthorization, type Principal, type Role, type TenantRegistry } from './tenants.ts';

/** The roles a route can require (ingest reads its write key where the payload is decoded). */
export type RouteRole = Exclude<Role, 'write'>;

export interface Authenticator {
  /** The principal a request's `Authorization` header names for a route needing `role`; throws 401 / 403 otherwise. */
  authenticate(authorization: string | undefined, role: RouteRole): Promise<Principal>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireRole`'s hook: who is calling. */
    principal: Principal | null;
  }
}

const JOBS: Record<Role, string> = {
  write: 'a write key only ingests',
  read: 'a read token only queries',
  admin: 'an admin token only runs the admin routes (privacy jobs, the audit log)',
};
const NEEDS: Record<RouteRole, string> = {
  read: 'this route needs a read token',
  admin: 'this route needs an admin token',
};

/** A credential of another role (403): it names who tried, for the audit log. */
export class RoleRefusal extends SignalhouseError {
  readonly principal: Principal;
  constructor(principal: Principal, message: string) {
    super('FORBIDDEN_ROLE', message);
    this.principal = principal;
  }
}

/** A compact JWS: three base64url parts, the header a JSON object (`eyJ`). */
const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function createAuthenticator(tenants: TenantRegistry, jwt: JwtConfig | undefined): Authenticator {
  const verifyJwt = jwt ? jwtVerifier(tenants, jwt) : undefined;
  return {
    async authenticate(authorization, role) {
      const credential = credentialFromAuthorization(authorization);
      if (!credential) throw new SignalhouseError('UNAUTHENTICATED', `missing ${role} token: send "Authorization: Bearer <${role} token>"`);
      const principal = tenants.principal(credential) ?? (verifyJwt && JWT_SHAPE.test(credential) ? await verifyJwt(credential, role) : undefined);
      if (!principal) throw new SignalhouseError('UNAUTHENTICATED', `unknown ${role} token`);
      if (principal.role !== role) throw new RoleRefusal(principal, `${JOBS[principal.role]}: ${NEEDS[role]}`);
      return principal;
    },
  };
}

/** Verifies a JWT; its principal has `wanted` when the role claim grants it, else the role it grants. */
function jwtVerifier(tenants: TenantRegistry, cfg: JwtConfig): (token: string, wanted: RouteRole) => Promise<Principal> {
  const key: KeyObject | JWTVerifyGetKey = cfg.jwks_url
    ? createRemoteJWKSet(new URL(cfg.jwks_url))
    : (createPublicKey(cfg.public_key!) as unknown as KeyObject);
  const options = { issuer: cfg.issuer, audience: cfg.audience, algorithms: cfg.algorithms, clockTolerance: Math.round(cfg.clock_tolerance / 1000) };
  return async (token, wanted) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as KeyObject, options));
    } catch (err) {
      // jose's messages name the failed check (signature, "exp", "aud", ...), never the token.
      throw new SignalhouseError('UNAUTHENTICATED', `invalid bearer token: ${(err as Error).message}`, { cause: err });
    }
    const tenantId = payload[cfg.tenant_claim];
    const tenant = typeof tenantId === 'string' ? tenants.byId(tenantId) : undefined;
    if (!tenant) throw new SignalhouseError('FORBIDDEN_TENANT', `the token's "${cfg.tenant_claim}" claim names no configured tenant`);
    const claimed = payload[cfg.role_claim];
    const roles = Array.isArray(claimed) ? claimed : [claimed];
    const role = roles.includes(wanted) ? wanted : (['read', 'admin'] as const).find((r) => roles.includes(r));
    if (!role) throw new SignalhouseError('FORBIDDEN_ROLE', `the token's "${cfg.role_claim}" claim names no role: "read" or "admin"`);
    return { tenant, role, keyId: `jwt:${payload.iss ?? ''}#${payload.sub ?? ''}` };
  };
}

/**
 * A preHandler for routes that need `role`: authenticates the request and sets `request.principal`.
 * `onRefused` sees a refusal first (the admin routes audit refused attempts by known credentials).
 */
export function requireRole(
  auth: Authenticator,
  role: RouteRole,
  onRefused?: (request: FastifyRequest, reply: FastifyReply, err: SignalhouseError) => Promise<void>,
): preHandlerAsyncHookHandler {
  return async function authenticateRequest(request, reply) {
    try {
      request.principal = await auth.authenticate(request.headers.authorization, role);
    } catch (err) {
      if (onRefused && err instanceof SignalhouseError) await onRefused(request, reply, err);
      throw err;
    }
  };
}
