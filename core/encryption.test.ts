/**
 * The value format of encryption at rest: every string (unicode, empty) comes back from a round trip, and any
 * change to a stored value (a byte of its IV, ciphertext or tag, its key id, the tenant or attribute it is read
 * for) is refused with a DecryptionError, never a wrong plaintext.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  blindIndex,
  CIPHERTEXT_PREFIX,
  deriveBlindIndexKey,
  type DataKey,
  DecryptionError,
  decryptValue,
  encryptValue,
  parseMasterKeyText,
  secretKey,
  unwrapDataKey,
  valueAad,
  wrapDataKey,
} from './encryption.ts';

const key: DataKey = { id: 'dk_test', key: secretKey(randomBytes(32)) };
const seal = (tenant: string, attr: string, value: string) => encryptValue(key, value, valueAad(tenant, attr, key.id));
const options = { seed: 42, numRuns: 2000, interruptAfterTimeLimit: 4000 };
const anyString = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.constant(''));
const name = fc.string({ minLength: 1, maxLength: 20 });

describe('value encryption', () => {
  it('round-trips any string, unicode and empty included, as enc:v1:<key id>:<base64>', () => {
    fc.assert(
      fc.property(name, name, anyString, (tenant, attr, value) => {
        const stored = seal(tenant, attr, value);
        expect(stored.startsWith(`${CIPHERTEXT_PREFIX}${key.id}:`)).toBe(true);
        expect(decryptValue(key, tenant, attr, stored)).toBe(value);
      }),
      options,
    );
  });

  it('gives every sealing of one value a fresh IV', () => {
    expect(seal('acme', 'traits.email', 'a@b.c')).not.toBe(seal('acme', 'traits.email', 'a@b.c'));
  });

  it('refuses a value with any byte changed', () => {
    fc.assert(
      fc.property(anyString, fc.nat(), fc.integer({ min: 1, max: 255 }), (value, at, flip) => {
        const stored = seal('acme', 'traits.email', value);
        const head = stored.slice(0, stored.lastIndexOf(':') + 1);
        const bytes = Buffer.from(stored.slice(head.length), 'base64');
        bytes[at % bytes.length] ^= flip;
        expect(() => decryptValue(key, 'acme', 'traits.email', head + bytes.toString('base64'))).toThrow(DecryptionError);
      }),
      options,
    );
  });

  it('refuses a value read for another tenant, another attribute or under another key id', () => {
    fc.assert(
      fc.property(anyString, name, name, (value, tenant, attr) => {
        fc.pre(tenant !== 'acme' && attr !== 'traits.email');
        const stored = seal('acme', 'traits.email', value);
        expect(() => decryptValue(key, tenant, 'traits.email', stored)).toThrow(DecryptionError);
        expect(() => decryptValue(key, 'acme', attr, stored)).toThrow(DecryptionError);
        const renamed = stored.replace(`:${key.id}:`, ':dk_other:');
        expect(() => decryptValue({ ...key, id: 'dk_other' }, 'acme', 'traits.email', renamed)).toThrow(DecryptionError);
      }),
      options,
    );
  });

  it('refuses what is not a well-formed ciphertext', () => {
    for (const bad of ['', 'plain', 'enc:v1:', 'enc:v1:dk_test', 'enc:v1:dk_test:', 'enc:v1:dk_test:!!!!', 'enc:v1:dk_test:AAAA', 'enc:v1:a b:AAAA'])
      expect(() => decryptValue(key, 'acme', 'traits.email', bad), bad).toThrow(DecryptionError);
  });
});

describe('data key wrapping', () => {
  it('unwraps only with the master key, tenant and key id it was wrapped for', () => {
    const master = { id: 'k1', key: secretKey(randomBytes(32)) };
    const raw = randomBytes(32);
    const wrapped = wrapDataKey(master, 'acme', 'dk_1', raw);
    expect(unwrapDataKey(master, 'acme', 'dk_1', wrapped).key.export()).toEqual(raw);
    expect(() => unwrapDataKey({ id: 'k1', key: secretKey(randomBytes(32)) }, 'acme', 'dk_1', wrapped)).toThrow(DecryptionError);
    expect(() => unwrapDataKey(master, 'globex', 'dk_1', wrapped)).toThrow(DecryptionError);
    expect(() => unwrapDataKey(master, 'acme', 'dk_2', wrapped)).toThrow(DecryptionError);
  });

  it('reads master keys as 64 hex digits or base64 of 32 bytes, nothing else', () => {
    const raw = randomBytes(32);
    expect(parseMasterKeyText(raw.toString('hex'))).toEqual(raw);
    expect(parseMasterKeyText(`${raw.toString('base64')}\n`)).toEqual(raw);
    expect(parseMasterKeyText(raw.toString('base64url'))).toEqual(raw);
    for (const bad of ['', 'short', raw.toString('hex').slice(2), randomBytes(31).toString('base64'), randomBytes(48).toString('base64')])
      expect(parseMasterKeyText(bad), bad).toBeUndefined();
  });
});

describe('blind indexes', () => {
  it('are equal exactly for equal values of one tenant, and differ across tenants and tenant keys', () => {
    const indexKey = deriveBlindIndexKey(key, 'acme');
    const otherTenant = deriveBlindIndexKey(key, 'globex');
    const otherKey = deriveBlindIndexKey({ id: 'dk_2', key: secretKey(randomBytes(32)) }, 'acme');
    fc.assert(
      fc.property(anyString, anyString, (a, b) => {
        const ia = blindIndex(indexKey, a);
        expect(ia).toMatch(/^bidx:v1:[A-Za-z0-9_-]{22}$/);
        expect(blindIndex(indexKey, a)).toBe(ia);
        expect(blindIndex(indexKey, b) === ia).toBe(a === b);
        expect(blindIndex(otherTenant, a)).not.toBe(ia);
        expect(blindIndex(otherKey, a)).not.toBe(ia);
      }),
      options,
    );
  });
});
