/**
 * Tenants and their keys, one role each. Write keys are public (browser-safe) and only ingest; read tokens are
 * secret and only query; admin tokens are secret and only run the admin routes (privacy jobs, the audit log).
 * The tenant always comes from the key, never from the payload. Secret tokens are kept as SHA-256 digests only,
 * so a config may list `sha256:<hex>` instead of the token itself; a presented token is hashed and its digest
 * looked up, so how long the lookup takes depends on the digest, which a guesser cannot steer, not on how much
 * of a real token a guess matches.
 */
import { createHash } from 'node:crypto';
import type { TenantConfig } from './config.ts';
import { SignalhouseError } from './errors.ts';

export interface Tenant {
  readonly id: string;
  /** Browser origins allowed to send with its write keys; empty: any. */
  readonly allowedOrigins: ReadonlySet<string>;
}

export type Role = 'write' | 'read' | 'admin';

/** Who a request comes from: the tenant, the role of its credential, and an id naming the credential safely. */
export interface Principal {
  readonly tenant: Tenant;
  readonly role: Role;
  /**
   * The credential as the audit log names it, never the secret: `<role>:sha256:<first 12 hex digits of its
   * digest>`, or `jwt:<issuer>#<subject>` for a bearer JWT.
   */
  readonly keyId: string;
}

export interface TenantRegistry {
  /** The tenant owning `writeKey`, or undefined. */
  byWriteKey(writeKey: string): Tenant | undefined;
  /** Who holds `writeKey` (its tenant and key id), or undefined. */
  writePrincipal(writeKey: string): Principal | undefined;
  /** The tenant owning `readToken`, or undefined. */
  byReadToken(readToken: string): Tenant | undefined;
  /** The tenant owning `adminToken`, or undefined. */
  byAdminToken(adminToken: string): Tenant | undefined;
  /** Whoever holds `credential`, whatever its role, or undefined. */
  principal(credential: string): Principal | undefined;
  byId(id: string): Tenant | undefined;
  readonly tenants: readonly Tenant[];
}

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');
const keyIdOf = (role: Role, digest: string) => `${role}:sha256:${digest.slice(0, 12)}`;

/** The `keyId` of the principal a config entry (a key or token as listed, `sha256:` entries included) makes. */
export function configuredKeyId(role: Role, entry: string): string {
  return keyIdOf(role, role !== 'write' && entry.startsWith('sha256:') ? entry.slice(7).toLowerCase() : sha256Hex(entry));
}

/** A tenant's config as the registry reads it (admin tokens may be left out). */
export type TenantKeys = Pick<TenantConfig, 'id' | 'write_keys' | 'read_tokens' | 'allowed_origins'> & { readonly admin_tokens?: readonly string[] };

export function createTenantRegistry(configs: readonly TenantKeys[]): TenantRegistry {
  const writeKeys = new Map<string, Principal>();
  // Secret tokens of both roles by digest: one hash per lookup.
  const secretDigests = new Map<string, Principal>();
  const tenants: Tenant[] = [];
  for (const cfg of configs) {
    const tenant: Tenant = Object.freeze({ id: cfg.id, allowedOrigins: new Set(cfg.allowed_origins) });
    tenants.push(tenant);
    for (const k of cfg.write_keys) writeKeys.set(k, Object.freeze({ tenant, role: 'write' as const, keyId: keyIdOf('write', sha256Hex(k)) }));
    for (const [role, tokens] of [
      ['read', cfg.read_tokens],
      ['admin', cfg.admin_tokens ?? []],
    ] as const) {
      for (const t of tokens) {
        const digest = t.startsWith('sha256:') ? t.slice(7).toLowerCase() : sha256Hex(t);
        secretDigests.set(digest, Object.freeze({ tenant, role, keyId: keyIdOf(role, digest) }));
      }
    }
  }
  const byId = new Map(tenants.map((t) => [t.id, t]));
  const secret = (token: string, role: Role) => {
    const p = secretDigests.get(sha256Hex(token));
    return p?.role === role ? p.tenant : undefined;
  };
  return {
    tenants,
    byWriteKey: (k) => writeKeys.get(k)?.tenant,
    writePrincipal: (k) => writeKeys.get(k),
    byReadToken: (t) => secret(t, 'read'),
    byAdminToken: (t) => secret(t, 'admin'),
    principal: (c) => writeKeys.get(c) ?? secretDigests.get(sha256Hex(c)),
    byId: (id) => byId.get(id),
  };
}

/** The credential in an `Authorization` header: `Bearer <key>` or Segment's `Basic base64(<key>:)`. */
export function credentialFromAuthorization(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return value || undefined;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? decoded : decoded.slice(0, colon);
    return user || undefined;
  }
  return undefined;
}

/**
 * Resolves the ingest tenant from a write key, or throws 401 with a message that says what was wrong. A request
 * from a browser page (`origin`, the `Origin` header) must come from one of the tenant's allowed origins (403).
 */
export function requireWriteTenant(registry: TenantRegistry, writeKey: string | undefined, origin: string | undefined): Tenant {
  return requireWritePrincipal(registry, writeKey, origin).tenant;
}

/** As `requireWriteTenant`, with the key's principal (its id names it to the rate limits). */
export function requireWritePrincipal(registry: TenantRegistry, writeKey: string | undefined, origin: string | undefined): Principal {
  if (!writeKey) {
    throw new SignalhouseError('UNAUTHENTICATED', 'missing write key: send "Authorization: Bearer <write key>"');
  }
  const principal = registry.writePrincipal(writeKey);
  if (!principal) throw new SignalhouseError('UNAUTHENTICATED', 'unknown write key');
  const { tenant } = principal;
  if (origin !== undefined && tenant.allowedOrigins.size > 0 && !tenant.allowedOrigins.has(origin)) {
    throw new SignalhouseError('FORBIDDEN_ORIGIN', `origin ${JSON.stringify(origin)} may not send with this write key (tenants[].allowed_origins)`);
  }
  return principal;
}
