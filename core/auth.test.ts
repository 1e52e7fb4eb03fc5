/**
 * Roles: configured tokens of each role (plain and sha256), and bearer JWTs verified against a static public key
 * or a JWKS served over real HTTP on loopback, mapped to a tenant and a role by their claims.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Authenticator, createAuthenticator } from './auth.ts';
import { parseConfig } from './config.ts';
import { createTenantRegistry } from './tenants.ts';

const digest = (s: string) => createHash('sha256').update(s).digest('hex');
const registry = createTenantRegistry([
  { id: 'acme', write_keys: ['wk_acme_123'], read_tokens: ['rt_acme_456'], admin_tokens: ['at_acme_789'], allowed_origins: [] },
  { id: 'globex', write_keys: [], read_tokens: [], admin_tokens: [`sha256:${digest('at_globex_hashed')}`], allowed_origins: [] },
]);
const bearer = (t: string) => `Bearer ${t}`;

/** What `authenticate` throws, as code and message (or the principal it resolves). */
async function outcome(auth: Authenticator, token: string | undefined, role: 'read' | 'admin') {
  try {
    const p = await auth.authenticate(token === undefined ? undefined : bearer(token), role);
    return { tenant: p.tenant.id, role: p.role, keyId: p.keyId };
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message };
  }
}

describe('configured tokens', () => {
  const auth = createAuthenticator(registry, undefined);

  it('resolves each role to its tenant, naming the credential by a digest prefix', async () => {
    expect(await outcome(auth, 'rt_acme_456', 'read')).toEqual({ tenant: 'acme', role: 'read', keyId: `read:sha256:${digest('rt_acme_456').slice(0, 12)}` });
    expect(await outcome(auth, 'at_acme_789', 'admin')).toEqual({ tenant: 'acme', role: 'admin', keyId: `admin:sha256:${digest('at_acme_789').slice(0, 12)}` });
    expect(await outcome(auth, 'at_globex_hashed', 'admin')).toMatchObject({ tenant: 'globex', role: 'admin' });
    expect(registry.byAdminToken('at_acme_789')?.id).toBe('acme');
    expect(registry.byAdminToken('rt_acme_456')).toBeUndefined();
    expect(registry.byReadToken('at_acme_789')).toBeUndefined();
    expect(registry.byWriteKey('at_acme_789')).toBeUndefined();
  });

  it('refuses another role with 403 saying what the credential is for, unknown ones with 401', async () => {
    expect(await outcome(auth, 'rt_acme_456', 'admin')).toEqual({
      code: 'FORBIDDEN_ROLE',
      message: 'a read token only queries: this route needs an admin token',
    });
    expect(await outcome(auth, 'wk_acme_123', 'read')).toEqual({ code: 'FORBIDDEN_ROLE', message: 'a write key only ingests: this route needs a read token' });
    expect(await outcome(auth, 'at_acme_789', 'read')).toMatchObject({ code: 'FORBIDDEN_ROLE' });
    expect(await outcome(auth, `sha256:${digest('at_globex_hashed')}`, 'admin')).toEqual({ code: 'UNAUTHENTICATED', message: 'unknown admin token' });
    expect(await outcome(auth, undefined, 'admin')).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('checks the config: admin tokens are keys like the others, digests are well formed', () => {
    const problems = (tenants: unknown[]) => {
      try {
        parseConfig({ tenants }, {});
        return [];
      } catch (err) {
        return (err as { problems: string[] }).problems;
      }
    };
    expect(problems([{ id: 'a', read_tokens: ['same_token_1'], admin_tokens: ['same_token_1'] }])).toEqual([
      'tenants.0.admin_tokens.0: key already used by tenant "a"',
    ]);
    expect(problems([{ id: 'a', admin_tokens: ['sha256:abc'] }])).toEqual(['tenants.0.admin_tokens.0: a digest entry is "sha256:" and 64 hex digits']);
    expect(problems([{ id: 'a', admin_tokens: ['short'] }])).toEqual(['tenants.0.admin_tokens.0: tokens must have at least 8 characters']);
  });
});

describe('bearer JWTs', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const jwt = (claims: Record<string, unknown>, opts: { key?: CryptoKey; audience?: string; expires?: string; kid?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', ...(opts.kid ? { kid: opts.kid } : {}) })
      .setIssuer('https://idp.example')
      .setAudience(opts.audience ?? 'signalhouse')
      .setSubject('dpo@acme')
      .setIssuedAt()
      .setExpirationTime(opts.expires ?? '5m')
      .sign(opts.key ?? privateKey);

  let jwks: Server;
  let jwksUrl = '';
  let jwksRequests = 0;
  beforeAll(async () => {
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_req, res) => {
      jwksRequests++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    jwks.listen(0, '127.0.0.1');
    await once(jwks, 'listening');
    jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/.well-known/jwks.json`;
  });
  afterAll(() => jwks?.close());

  const config = async (key: { public_key: string } | { jwks_url: string }) =>
    parseConfig({ auth: { jwt: { ...key, issuer: 'https://idp.example', audience: 'signalhouse', tenant_claim: 'org', role_claim: 'roles' } } }, {}).auth.jwt;

  it('maps a JWT verified with the static key to its tenant and role', async () => {
    const auth = createAuthenticator(registry, await config({ public_key: await exportSPKI(publicKey) }));
    expect(await outcome(auth, await jwt({ org: 'acme', roles: ['admin'] }), 'admin')).toEqual({
      tenant: 'acme',
      role: 'admin',
      keyId: 'jwt:https://idp.example#dpo@acme',
    });
    expect(await outcome(auth, await jwt({ org: 'acme', roles: 'read' }), 'read')).toMatchObject({ tenant: 'acme', role: 'read' });
    expect(await outcome(auth, await jwt({ org: 'acme', roles: ['read', 'admin'] }), 'read')).toMatchObject({ role: 'read' });
    expect(await outcome(auth, await jwt({ org: 'acme', roles: 'read' }), 'admin')).toEqual({
      code: 'FORBIDDEN_ROLE',
      message: 'a read token only queries: this route needs an admin token',
    });
    expect(await outcome(auth, await jwt({ org: 'initech', roles: 'admin' }), 'admin')).toEqual({
      code: 'FORBIDDEN_TENANT',
      message: 'the token\'s "org" claim names no configured tenant',
    });
    expect(await outcome(auth, await jwt({ org: 'acme', roles: 'superuser' }), 'admin')).toMatchObject({ code: 'FORBIDDEN_ROLE' });
  });

  it('refuses a JWT with a bad signature, audience or expiry with 401', async () => {
    const auth = createAuthenticator(registry, await config({ public_key: await exportSPKI(publicKey) }));
    const refused = async (token: string) => outcome(auth, token, 'admin');
    expect(await refused(await jwt({ org: 'acme', roles: 'admin' }, { key: other.privateKey }))).toEqual({
      code: 'UNAUTHENTICATED',
      message: 'invalid bearer token: signature verification failed',
    });
    expect(await refused(await jwt({ org: 'acme', roles: 'admin' }, { audience: 'someone-else' }))).toMatchObject({
      code: 'UNAUTHENTICATED',
      message: expect.stringContaining('"aud"'),
    });
    const expired = await jwt({ org: 'acme', roles: 'admin' }, { expires: Math.floor(Date.now() / 1000) - 3600 } as never);
    expect(await refused(expired)).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('"exp"') });
  });

  it('verifies against a JWKS fetched over HTTP', async () => {
    const auth = createAuthenticator(registry, await config({ jwks_url: jwksUrl }));
    expect(await outcome(auth, await jwt({ org: 'acme', roles: 'admin' }, { kid: 'k1' }), 'admin')).toMatchObject({ tenant: 'acme', role: 'admin' });
    expect(jwksRequests).toBe(1);
    expect(await outcome(auth, await jwt({ org: 'acme', roles: 'admin' }, { key: other.privateKey, kid: 'k1' }), 'admin')).toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });

  it('checks the config: one key source', () => {
    expect(() => parseConfig({ auth: { jwt: { issuer: 'i', audience: 'a' } } }, {})).toThrow('auth.jwt: set exactly one of jwks_url and public_key');
  });
});
