import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SignalhouseError } from './errors.ts';
import { createTenantRegistry, credentialFromAuthorization, requireWriteTenant } from './tenants.ts';

describe('tenants', () => {
  const digest = createHash('sha256').update('rt_hashed_token').digest('hex');
  const registry = createTenantRegistry([
    { id: 'acme', write_keys: ['wk_acme_123'], read_tokens: ['rt_acme_456'], allowed_origins: ['https://shop.acme.com'] },
    { id: 'globex', write_keys: ['wk_globex_1'], read_tokens: [`sha256:${digest}`], allowed_origins: [] },
  ]);

  it('resolves write keys and read tokens (plain or sha256) to their tenant, and nothing else', () => {
    expect(registry.byWriteKey('wk_acme_123')?.id).toBe('acme');
    expect(registry.byWriteKey('rt_acme_456')).toBeUndefined();
    expect(registry.byReadToken('rt_acme_456')?.id).toBe('acme');
    expect(registry.byReadToken('wk_acme_123')).toBeUndefined();
    expect(registry.byReadToken('rt_hashed_token')?.id).toBe('globex');
    expect(registry.byReadToken(`sha256:${digest}`)).toBeUndefined();
  });

  it('reads Bearer and Basic credentials', () => {
    expect(credentialFromAuthorization('Bearer wk_acme_123')).toBe('wk_acme_123');
    expect(credentialFromAuthorization('bearer  wk_acme_123 ')).toBe('wk_acme_123');
    expect(credentialFromAuthorization(`Basic ${Buffer.from('wk_acme_123:').toString('base64')}`)).toBe('wk_acme_123');
    expect(credentialFromAuthorization('Basic ')).toBeUndefined();
    expect(credentialFromAuthorization('Token abc')).toBeUndefined();
    expect(credentialFromAuthorization(undefined)).toBeUndefined();
  });

  it('refuses missing and unknown keys with 401', () => {
    expect(() => requireWriteTenant(registry, undefined, undefined)).toThrow(
      expect.objectContaining({ code: 'UNAUTHENTICATED', statusCode: 401 }) as SignalhouseError,
    );
    expect(() => requireWriteTenant(registry, 'nope', undefined)).toThrow('unknown write key');
    expect(requireWriteTenant(registry, 'wk_globex_1', undefined).id).toBe('globex');
  });

  it("checks a browser page's origin against the tenant's allowed origins; any origin when none are listed", () => {
    expect(requireWriteTenant(registry, 'wk_acme_123', 'https://shop.acme.com').id).toBe('acme');
    expect(requireWriteTenant(registry, 'wk_acme_123', undefined).id).toBe('acme'); // a server SDK sends no Origin
    expect(() => requireWriteTenant(registry, 'wk_acme_123', 'https://evil.example')).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN_ORIGIN', statusCode: 403 }) as SignalhouseError,
    );
    expect(() => requireWriteTenant(registry, 'wk_acme_123', 'https://shop.acme.com.evil.example')).toThrow(/may not send/);
    expect(requireWriteTenant(registry, 'wk_globex_1', 'https://anywhere.example').id).toBe('globex');
  });
});
