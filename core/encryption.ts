/**
 * Envelope encryption of values at rest (docs/privacy.md, "Encryption at rest"): AES-256-GCM with node:crypto.
 * A value is sealed under a data key with a random 96-bit IV and additional authenticated data (AAD) naming
 * the tenant, the attribute key and the data key, so a ciphertext copied to another tenant, another attribute
 * or another key fails to open. It is stored as `enc:v1:<data key id>:<base64(iv | ciphertext | tag)>`. Data
 * keys are random 256-bit keys, themselves sealed ("wrapped") under a master key with AAD naming their tenant
 * and id (core/keyring.ts keeps them).
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, type KeyObject, randomFillSync } from 'node:crypto';

export const CIPHERTEXT_PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;
/** Data key ids as stored and written into ciphertexts. */
export const DATA_KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface DataKey {
  readonly id: string;
  readonly key: KeyObject;
}

/** A master key: the configured id and its 32 bytes. */
export interface MasterKey {
  readonly id: string;
  readonly key: KeyObject;
}

/** A value that cannot be decrypted, with why (reads report it per value; nothing else fails). */
export class DecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecryptionError';
  }
}

export const secretKey = (raw: Buffer): KeyObject => createSecretKey(raw);

/**
 * IVs come from a pool refilled by one `randomFillSync` per 1,024 of them, instead of one call per value. An IV
 * is never handed out twice: the pool is consumed front to back and refilled whole.
 */
const ivPool = Buffer.allocUnsafe(IV_BYTES * 1024);
let ivOffset = ivPool.length;
function nextIv(): Buffer {
  if (ivOffset + IV_BYTES > ivPool.length) {
    randomFillSync(ivPool);
    ivOffset = 0;
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + IV_BYTES);
  ivOffset += IV_BYTES;
  return iv;
}

/** iv | ciphertext | tag of `plaintext` under `key`, bound to `aad`. */
export function seal(key: KeyObject, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const out = Buffer.allocUnsafe(IV_BYTES + plaintext.length + TAG_BYTES);
  iv.copy(out, 0);
  const written = cipher.update(plaintext).copy(out, IV_BYTES);
  cipher.final();
  cipher.getAuthTag().copy(out, IV_BYTES + written);
  return out;
}

/** The plaintext of `sealed` (iv | ciphertext | tag); throws DecryptionError when it was not sealed so. */
export function open(key: KeyObject, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new DecryptionError('ciphertext too short');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const head = decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([head, decipher.final()]);
  } catch {
    throw new DecryptionError('authentication failed: the value was altered, or belongs to another tenant, attribute or key');
  }
}

/** What a value's AAD says: format version, tenant, attribute key and data key, NUL-separated. */
export const valueAad = (tenantId: string, attributeKey: string, keyId: string): Buffer =>
  Buffer.from(`enc:v1\0${tenantId}\0${attributeKey}\0${keyId}`, 'utf8');

export const isCiphertext = (value: string): boolean => value.startsWith(CIPHERTEXT_PREFIX);

/** `value` sealed under `dataKey` for the tenant's attribute `attributeKey` (`aad` is valueAad's, when cached). */
export function encryptValue(dataKey: DataKey, value: string, aad: Buffer): string {
  return `${CIPHERTEXT_PREFIX}${dataKey.id}:${seal(dataKey.key, Buffer.from(value, 'utf8'), aad).toString('base64')}`;
}

/** The data key id a ciphertext names; throws DecryptionError when the value is not one. */
export function ciphertextKeyId(value: string): string {
  if (!isCiphertext(value)) throw new DecryptionError('not a ciphertext');
  const end = value.indexOf(':', CIPHERTEXT_PREFIX.length);
  const id = end < 0 ? '' : value.slice(CIPHERTEXT_PREFIX.length, end);
  if (!DATA_KEY_ID.test(id)) throw new DecryptionError('malformed ciphertext: no data key id');
  return id;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The plaintext of a stored value; throws DecryptionError (malformed, altered, or not this tenant's/attribute's). */
export function decryptValue(dataKey: DataKey, tenantId: string, attributeKey: string, value: string): string {
  const keyId = ciphertextKeyId(value);
  if (keyId !== dataKey.id) throw new DecryptionError(`sealed under data key ${keyId}, not ${dataKey.id}`);
  const body = value.slice(CIPHERTEXT_PREFIX.length + keyId.length + 1);
  if (!BASE64.test(body) || body.length % 4 !== 0) throw new DecryptionError('malformed ciphertext: not base64');
  return open(dataKey.key, Buffer.from(body, 'base64'), valueAad(tenantId, attributeKey, keyId)).toString('utf8');
}

/** AAD of a wrapped data key: its tenant and id. */
const wrapAad = (tenantId: string, keyId: string) => Buffer.from(`signalhouse-data-key\0${tenantId}\0${keyId}`, 'utf8');

/** A data key's 32 bytes wrapped under a master key, as stored (base64). */
export function wrapDataKey(master: MasterKey, tenantId: string, keyId: string, raw: Buffer): string {
  return seal(master.key, raw, wrapAad(tenantId, keyId)).toString('base64');
}

export function unwrapDataKey(master: MasterKey, tenantId: string, keyId: string, wrapped: string): DataKey {
  const raw = open(master.key, Buffer.from(wrapped, 'base64'), wrapAad(tenantId, keyId));
  if (raw.length !== KEY_BYTES) throw new DecryptionError(`data key ${keyId} is ${raw.length} bytes, not ${KEY_BYTES}`);
  return { id: keyId, key: secretKey(raw) };
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

/** A master key's 32 bytes from its text (64 hex digits, or base64 / base64url of 32 bytes); undefined otherwise. */
export function parseMasterKeyText(text: string): Buffer | undefined {
  const t = text.trim();
  if (HEX_KEY.test(t)) return Buffer.from(t, 'hex');
  if (BASE64_KEY.test(t)) {
    const raw = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    return raw.length === KEY_BYTES ? raw : undefined;
  }
  return undefined;
}

/**
 * Blind indexes (`encryption.blind_index`): a deterministic HMAC-SHA256 of a value under a key derived from the
 * tenant's data key, stored beside the ciphertext as `bidx.<attribute>` = `bidx:v1:<22 base64url characters>`
 * (132 bits), so equal plaintexts of one tenant have equal indexes: equality filters and grouping work on them,
 * nothing else does. Derived from the tenant's key, they survive master key rotation and do not depend on the
 * attribute, so one value has one index in every attribute.
 */
export const BLIND_INDEX_PREFIX = 'bidx:v1:';
export const BLIND_INDEX_NAMESPACE = 'bidx.';
export const blindIndexAttribute = (key: string) => `${BLIND_INDEX_NAMESPACE}${key}`;

export function deriveBlindIndexKey(tenantKey: DataKey, tenantId: string): KeyObject {
  return secretKey(Buffer.from(hkdfSync('sha256', tenantKey.key.export(), Buffer.alloc(0), `signalhouse blind index v1\0${tenantId}`, KEY_BYTES)));
}

export function blindIndex(indexKey: KeyObject, value: string): string {
  return BLIND_INDEX_PREFIX + createHmac('sha256', indexKey).update(value, 'utf8').digest('base64url').slice(0, 22);
}
