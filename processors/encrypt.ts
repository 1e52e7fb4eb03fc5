/**
 * encrypt: seals traits and the attributes configured as PII (`encryption` in signalhouse.yaml) with AES-256-GCM
 * under the tenant's data key, or the person's with `per_person_keys` (core/encryption.ts, core/keyring.ts), so
 * they are stored as `enc:v1:<key id>:<base64>` and only authorised reads see them in clear (docs/privacy.md,
 * "Encryption at rest"). With `blind_index`, it also writes `bidx.<key>`, an HMAC of the plaintext (equal values,
 * equal indexes), and drops what a sender put under `bidx.*`. Without `encryption` configured it passes batches
 * through untouched.
 *
 * Last in the chain, after dedupe: dedupe hashes the content of events without an id, and a ciphertext differs at
 * every retry (a fresh IV), so encrypting first would let retries through; and after redact, which must scan the
 * plaintext. On the hot path: one map lookup for the tenant's key per batch, a memoized decision per attribute
 * key, and per person (with person keys) one map lookup per event; a batch naming persons without a cached key
 * loads (or makes and stores) theirs in one round trip before it is sealed.
 */
import { z } from 'zod';
import type { Processor, ProcessorFactory } from '../core/components.ts';
import { BLIND_INDEX_NAMESPACE, blindIndex, blindIndexAttribute, type DataKey, encryptValue, valueAad } from '../core/encryption.ts';
import { SignalhouseError } from '../core/errors.ts';
import type { Attributes, Batch, Identity } from '../core/event.ts';
import type { Encryption } from '../core/keyring.ts';
import { memo } from './memo.ts';

/** What to encrypt and with which keys is the service's `encryption` section: the processor has no options. */
const configSchema = z.strictObject({});
export type EncryptConfig = z.infer<typeof configSchema>;

type Sealable = Identity & { attributes: Attributes };
const personOf = (e: Sealable) => (e.userId !== '' ? e.userId : e.anonymousId);

export function createEncrypt(_config: EncryptConfig, name = 'encrypt'): Processor {
  let enc: Encryption | undefined;
  /** Per tenant: whether an attribute key is encrypted, and the AAD of each under the tenant's key (memoized). */
  const rules = new Map<string, { isPii: (key: string) => boolean; tenantAad: (key: string) => Buffer; indexed: ((key: string) => boolean) | undefined }>();
  const ruleOf = (tenantId: string, tenantKey: DataKey) => {
    let rule = rules.get(tenantId);
    if (!rule) {
      const e = enc!;
      rule = {
        isPii: memo(10_000, (key: string) => e.isEncrypted(tenantId, key)),
        tenantAad: memo(10_000, (key: string) => valueAad(tenantId, key, tenantKey.id)),
        indexed: e.blindIndexes ? memo(10_000, (key: string) => e.hasBlindIndex(tenantId, key)) : undefined,
      };
      rules.set(tenantId, rule);
    }
    return rule;
  };

  const holdsPii = (attrs: Attributes, isPii: (k: string) => boolean) => {
    for (const k in attrs) if (isPii(k)) return true;
    return false;
  };

  /** Loads person keys; storage trouble fails the batch retryably (503, nothing stored, nothing sealed in clear). */
  async function loadKeys(e: Encryption, tenantId: string, persons: string[]): Promise<void> {
    try {
      await e.loadPersonKeys(tenantId, persons);
    } catch (err) {
      if (err instanceof SignalhouseError) throw err;
      throw new SignalhouseError('STORAGE_UNAVAILABLE', 'data keys could not be loaded or stored; retry', { cause: err, retryAfterSeconds: 1 });
    }
  }

  /** The person's key, loaded again if a full cache dropped it since the batch's load. */
  async function personKey(e: Encryption, tenantId: string, person: string): Promise<DataKey> {
    let key = e.personKey(tenantId, person);
    if (!key) {
      await loadKeys(e, tenantId, [person]);
      key = e.personKey(tenantId, person);
    }
    if (!key) throw new SignalhouseError('INTERNAL', 'a person key could not be loaded');
    return key;
  }

  return {
    name,
    async start(ctx) {
      enc = ctx.encryption;
    },
    async process(batch: Batch): Promise<Batch> {
      if (!enc) return batch;
      const tenantId = batch.tenantId;
      const tenantKey = enc.tenantKey(tenantId);
      // Never stored in clear: a tenant without a key (not configured at start) cannot be written.
      if (!tenantKey) throw new SignalhouseError('INTERNAL', `tenant "${tenantId}" has no data key`);
      const { isPii, tenantAad, indexed } = ruleOf(tenantId, tenantKey);
      const indexKey = indexed && enc.blindIndexKey(tenantId);
      const events = batch.events as readonly Sealable[];
      if (enc.perPersonKeys) {
        let missing: Set<string> | undefined;
        for (const e of events) {
          const person = personOf(e);
          if (person !== '' && !enc.personKey(tenantId, person) && holdsPii(e.attributes, isPii)) (missing ??= new Set()).add(person);
        }
        if (missing) await loadKeys(enc, tenantId, [...missing]);
      }
      for (const e of events) {
        const attrs = e.attributes;
        let key: DataKey | undefined;
        // Blind indexes are written after the loop (keys added while `for…in` runs may or may not be visited).
        let indexes: string[] | undefined;
        for (const k in attrs) {
          if (indexKey && k.startsWith(BLIND_INDEX_NAMESPACE)) {
            delete attrs[k]; // reserved: only this processor writes blind indexes
            continue;
          }
          if (!isPii(k)) continue;
          if (indexKey && indexed!(k)) (indexes ??= []).push(blindIndexAttribute(k), blindIndex(indexKey, attrs[k]));
          if (!key) {
            const person = enc.perPersonKeys ? personOf(e) : '';
            key = person === '' ? tenantKey : (enc.personKey(tenantId, person) ?? (await personKey(enc, tenantId, person)));
          }
          attrs[k] = encryptValue(key, attrs[k], key === tenantKey ? tenantAad(k) : valueAad(tenantId, k, key.id));
        }
        if (indexes) for (let i = 0; i < indexes.length; i += 2) attrs[indexes[i]] = indexes[i + 1];
      }
      return batch;
    },
  };
}

export const encryptFactory: ProcessorFactory<typeof configSchema> = {
  type: 'encrypt',
  signals: ['logs', 'traces'],
  configSchema,
  create: createEncrypt,
};
