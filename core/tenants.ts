/**
 * Tenants and their keys. Write keys are public (browser-safe) and only allow ingest; read tokens are secret
 * and only allow queries. The tenant always comes from the key, never from the payload. Read tokens are kept
 * as SHA-256 digests, so a config may list `sha256:<hex>` instead of the token itself.
 */
import { createHash } from 'node:crypto';
import type { TenantConfig } from './config.ts';
import { SignalhouseError } from './errors.ts';

export interface Tenant {
  readonly id: string;
  /** Browser origins allowed to send with its write keys; empty: any. */
  readonly allowedOrigins: ReadonlySet<string>;
}

export interface TenantRegistry {
  /** The tenant owning `writeKey`, or undefined. */
  byWriteKey(writeKey: string): Tenant | undefined;
  /** The tenant owning `readToken`, or undefined. */
  byReadToken(readToken: string): Tenant | undefined;
  readonly tenants: readonly Tenant[];
}

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');

export function createTenantRegistry(configs: readonly TenantConfig[]): TenantRegistry {
  const writeKeys = new Map<string, Tenant>();
  const readTokenDigests = new Map<string, Tenant>();
  const tenants: Tenant[] = [];
  for (const cfg of configs) {
    const tenant: Tenant = Object.freeze({ id: cfg.id, allowedOrigins: new Set(cfg.allowed_origins) });
    tenants.push(tenant);
    for (const k of cfg.write_keys) writeKeys.set(k, tenant);
    for (const t of cfg.read_tokens) {
      const digest = t.startsWith('sha256:') ? t.slice(7).toLowerCase() : sha256Hex(t);
      readTokenDigests.set(digest, tenant);
    }
  }
  return {
    tenants,
    byWriteKey: (k) => writeKeys.get(k),
    // Comparing digests, not tokens: lookup time does not depend on how much of a guessed token matches.
    byReadToken: (t) => readTokenDigests.get(sha256Hex(t)),
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
  if (!writeKey) {
    throw new SignalhouseError('UNAUTHENTICATED', 'missing write key: send "Authorization: Bearer <write key>"');
  }
  const tenant = registry.byWriteKey(writeKey);
  if (!tenant) throw new SignalhouseError('UNAUTHENTICATED', 'unknown write key');
  if (origin !== undefined && tenant.allowedOrigins.size > 0 && !tenant.allowedOrigins.has(origin)) {
    throw new SignalhouseError('FORBIDDEN_ORIGIN', `origin ${JSON.stringify(origin)} may not send with this write key (tenants[].allowed_origins)`);
  }
  return tenant;
}
