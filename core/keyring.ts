/**
 * The data keys of encryption at rest (docs/privacy.md, "Encryption at rest"), kept unwrapped in memory: one per
 * tenant, made at start when missing, and with `per_person_keys` one per person (user id, else anonymous id),
 * made when the person's first event is encrypted. Keys are stored wrapped under the newest master key
 * (storage/data-keys.ts: `tenant_data_keys`); at start, keys wrapped under an older master key are re-wrapped
 * under the newest, so the older one can be retired once a start has done it. Erasing a person deletes their
 * keys (`shred`): what is left of their values anywhere (a copy, a backup of the events, a detached part) can no
 * longer be decrypted. Keys are never updated in place: a re-wrap writes a new version of the row.
 */
import { type KeyObject, randomBytes } from 'node:crypto';
import { ConfigError, type EncryptionConfig } from './config.ts';
import {
  BLIND_INDEX_NAMESPACE,
  ciphertextKeyId,
  type DataKey,
  deriveBlindIndexKey,
  DecryptionError,
  decryptValue,
  isCiphertext,
  KEY_BYTES,
  type MasterKey,
  unwrapDataKey,
  wrapDataKey,
} from './encryption.ts';

/** A data key as stored: wrapped, with the master key that wraps it. `personId` is '' for a tenant's key. */
export interface StoredDataKey {
  readonly tenantId: string;
  readonly keyId: string;
  readonly personId: string;
  readonly masterKeyId: string;
  readonly wrapped: string;
  /** When the key was made (a re-wrap keeps it): of several keys for one owner, the oldest encrypts. */
  readonly createdAtMs: number;
}

/** What the keyring needs of storage (storage/data-keys.ts), latest version of each key. */
export interface DataKeyStore {
  tenantKeys(): Promise<StoredDataKey[]>;
  personKeys(tenantId: string, personIds: readonly string[]): Promise<StoredDataKey[]>;
  byIds(tenantId: string, keyIds: readonly string[]): Promise<StoredDataKey[]>;
  /** At most `limit` keys wrapped by a master key other than `masterKeyId`. */
  notWrappedBy(masterKeyId: string, limit: number): Promise<StoredDataKey[]>;
  save(keys: readonly StoredDataKey[]): Promise<void>;
  /** Deletes the persons' keys, from disk too (the parts holding them are rewritten). */
  shred(tenantId: string, personIds: readonly string[]): Promise<void>;
}

/** Decrypts one stored value of a tenant: the plaintext, or a DecryptionError thrown saying why not. */
export type Decrypt = (attributeKey: string, value: string) => string;

export interface Encryption {
  readonly perPersonKeys: boolean;
  /** Whether any attribute gets a blind index (`encryption.blind_index`). */
  readonly blindIndexes: boolean;
  /**
   * Whether the tenant's attribute `key` is encrypted: a configured key, or its last dotted part (any letter
   * case), or a configured prefix (memoize per key on hot paths).
   */
  isEncrypted(tenantId: string, key: string): boolean;
  /** Whether the tenant's (encrypted) attribute `key` also gets a blind index (memoize per key on hot paths). */
  hasBlindIndex(tenantId: string, key: string): boolean;
  /** The tenant's blind index key (derived from its data key); undefined as for `tenantKey`. */
  blindIndexKey(tenantId: string): KeyObject | undefined;
  /** The tenant's data key: a map lookup. Undefined for a tenant not configured at start. */
  tenantKey(tenantId: string): DataKey | undefined;
  /** The person's data key if cached: a map lookup. */
  personKey(tenantId: string, personId: string): DataKey | undefined;
  /** Loads (or makes and stores) the persons' keys, so that `personKey` finds them. */
  loadPersonKeys(tenantId: string, personIds: readonly string[]): Promise<void>;
  /** A decryptor for the tenant's values in `values` (the keys they name loaded first). */
  decryptor(tenantId: string, values: Iterable<string>): Promise<Decrypt>;
  /** Deletes the persons' keys (stored and cached). */
  shred(tenantId: string, personIds: readonly string[]): Promise<void>;
}

/** Person keys (and keys by id) kept unwrapped; past this the cache starts over (they are reloaded on demand). */
const CACHE_LIMIT = 200_000;
const REWRAP_CHUNK = 1000;

const newKeyId = () => `dk_${randomBytes(9).toString('base64url')}`;
const cacheKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;

/**
 * The keyring, ready once its tenant keys are loaded or made (and older wraps re-wrapped); a key wrapped by a
 * master key that is not configured, or that the configured key fails to unwrap, is a ConfigError.
 */
export async function createEncryption(
  config: EncryptionConfig,
  masterKeys: readonly MasterKey[],
  store: DataKeyStore,
  tenantIds: readonly string[],
): Promise<Encryption> {
  const primary = masterKeys[0];
  const masters = new Map(masterKeys.map((k) => [k.id, k]));
  const tenantKeys = new Map<string, DataKey>();
  // Tenant → person → key: a lookup per event builds no string.
  let personCache = new Map<string, Map<string, DataKey>>();
  let personCount = 0;
  let byId = new Map<string, { key: DataKey; personId: string }>();
  const pending = new Map<string, Promise<void>>();
  // Shreds so far, and when each person's keys were shredded: a load that began before a shred of its person
  // must not put the shredded key back in the cache (new values would be sealed under a key that is gone).
  let shreds = 0;
  let shredAt = new Map<string, number>();
  const shredSince = (tenantId: string, personId: string, epoch: number) => (shredAt.get(cacheKey(tenantId, personId)) ?? 0) > epoch;

  const unwrap = (k: StoredDataKey): DataKey => {
    const master = masters.get(k.masterKeyId);
    if (!master)
      throw new DecryptionError(`data key ${k.keyId} of tenant "${k.tenantId}" is wrapped by master key "${k.masterKeyId}", which is not configured`);
    try {
      return unwrapDataKey(master, k.tenantId, k.keyId, k.wrapped);
    } catch {
      throw new DecryptionError(`master key "${k.masterKeyId}" does not unwrap data key ${k.keyId} of tenant "${k.tenantId}": is it the right key?`);
    }
  };
  const make = (tenantId: string, personId: string): { stored: StoredDataKey; key: DataKey } => {
    const raw = randomBytes(KEY_BYTES);
    const keyId = newKeyId();
    const stored = { tenantId, keyId, personId, masterKeyId: primary.id, wrapped: wrapDataKey(primary, tenantId, keyId, raw), createdAtMs: Date.now() };
    return { stored, key: unwrapDataKey(primary, tenantId, keyId, stored.wrapped) };
  };
  const remember = (k: StoredDataKey, key: DataKey) => {
    if (byId.size >= CACHE_LIMIT) byId = new Map();
    byId.set(cacheKey(k.tenantId, k.keyId), { key, personId: k.personId });
  };

  // Re-wrap what an older master key wraps, then load (or make) every tenant's key.
  const problems: string[] = [];
  for (let round = 0; round < 1_000_000; round++) {
    const older = await store.notWrappedBy(primary.id, REWRAP_CHUNK);
    const rewrapped: StoredDataKey[] = [];
    for (const k of older) {
      try {
        const raw = unwrap(k).key.export();
        rewrapped.push({ ...k, masterKeyId: primary.id, wrapped: wrapDataKey(primary, k.tenantId, k.keyId, raw) });
      } catch (err) {
        problems.push(`encryption: ${(err as Error).message}`);
      }
    }
    if (problems.length > 0) break;
    if (rewrapped.length > 0) await store.save(rewrapped);
    if (older.length < REWRAP_CHUNK) break;
  }
  if (problems.length === 0) {
    for (const k of await store.tenantKeys()) {
      if (tenantKeys.has(k.tenantId)) continue; // the oldest one (listed first) encrypts
      try {
        const key = unwrap(k);
        tenantKeys.set(k.tenantId, key);
        remember(k, key);
      } catch (err) {
        problems.push(`encryption: ${(err as Error).message}`);
      }
    }
  }
  if (problems.length > 0) throw new ConfigError('encryption', problems.slice(0, 10));
  const made = tenantIds.filter((t) => !tenantKeys.has(t)).map((t) => ({ t, ...make(t, '') }));
  if (made.length > 0) await store.save(made.map((m) => m.stored));
  for (const m of made) {
    tenantKeys.set(m.t, m.key);
    remember(m.stored, m.key);
  }

  const indexKeys = new Map([...tenantKeys].map(([t, k]) => [t, deriveBlindIndexKey(k, t)]));
  const globalPatterns = [...(config.traits ? ['traits.*'] : []), ...config.pii_attributes];
  // As redact's blocked_keys: the key or its last dotted part, in any letter case; or a prefix (`traits.*`).
  const matcher = (patterns: readonly string[]) => {
    const exact = new Set(patterns.filter((p) => !p.endsWith('*')).map((p) => p.toLowerCase()));
    const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
    return (key: string) => {
      if (key.startsWith(BLIND_INDEX_NAMESPACE)) return false;
      if (prefixes.some((p) => key.startsWith(p))) return true;
      const lower = key.toLowerCase();
      return exact.has(lower) || exact.has(lower.slice(lower.lastIndexOf('.') + 1));
    };
  };
  const matchers = new Map<string, { encrypted: (key: string) => boolean; indexed: (key: string) => boolean }>();
  const matcherOf = (tenantId: string) => {
    let m = matchers.get(tenantId);
    if (!m) {
      const encrypted = matcher([...globalPatterns, ...(config.tenants[tenantId]?.pii_attributes ?? [])]);
      const index = matcher(config.blind_index);
      m = { encrypted, indexed: config.blind_index.length > 0 ? (key) => encrypted(key) && index(key) : () => false };
      matchers.set(tenantId, m);
    }
    return m;
  };

  async function loadPersons(tenantId: string, personIds: readonly string[]): Promise<void> {
    const epoch = shreds;
    const found = await store.personKeys(tenantId, personIds);
    const fresh: Array<{ stored: StoredDataKey; key: DataKey }> = [];
    const have = new Set<string>();
    for (const k of found) {
      if (have.has(k.personId)) continue; // the oldest one encrypts; every one decrypts
      have.add(k.personId);
      fresh.push({ stored: k, key: unwrap(k) });
    }
    const made = personIds.filter((p) => !have.has(p)).map((p) => make(tenantId, p));
    // Stored before any value is sealed under them: an acknowledged value always has its key.
    if (made.length > 0) await store.save(made.map((m) => m.stored));
    if (shreds !== epoch && personIds.some((p) => shredSince(tenantId, p, epoch))) throw new Error('a person key was shredded while it was loaded');
    if (personCount + fresh.length + made.length > CACHE_LIMIT) {
      personCache = new Map();
      personCount = 0;
    }
    let persons = personCache.get(tenantId);
    if (!persons) personCache.set(tenantId, (persons = new Map()));
    for (const { stored, key } of [...fresh, ...made]) {
      if (!persons.has(stored.personId)) personCount++;
      persons.set(stored.personId, key);
      remember(stored, key);
    }
  }

  return {
    perPersonKeys: config.per_person_keys,
    blindIndexes: config.blind_index.length > 0,
    isEncrypted: (tenantId, key) => matcherOf(tenantId).encrypted(key),
    hasBlindIndex: (tenantId, key) => matcherOf(tenantId).indexed(key),
    blindIndexKey: (tenantId) => indexKeys.get(tenantId),
    tenantKey: (tenantId) => tenantKeys.get(tenantId),
    personKey: (tenantId, personId) => personCache.get(tenantId)?.get(personId),
    async loadPersonKeys(tenantId, personIds) {
      // One load per person at a time: a second batch for the same new person waits for the first's key.
      const waits: Array<Promise<void>> = [];
      const mine: string[] = [];
      for (const p of personIds) {
        const w = pending.get(cacheKey(tenantId, p));
        if (w) waits.push(w);
        else if (!personCache.get(tenantId)?.has(p)) mine.push(p);
      }
      if (mine.length > 0) {
        const work = loadPersons(tenantId, mine);
        for (const p of mine) pending.set(cacheKey(tenantId, p), work);
        waits.push(
          work.finally(() => {
            for (const p of mine) pending.delete(cacheKey(tenantId, p));
          }),
        );
      }
      await Promise.all(waits);
    },
    async decryptor(tenantId, values) {
      const missing = new Set<string>();
      // Keys loaded for this decryptor stay with it, whatever the cache does meanwhile.
      const loaded = new Map<string, DataKey>();
      for (const v of values) {
        if (!isCiphertext(v)) continue;
        try {
          const id = ciphertextKeyId(v);
          if (!byId.has(cacheKey(tenantId, id))) missing.add(id);
        } catch {
          // malformed: reported by the decryptor
        }
      }
      if (missing.size > 0) {
        const epoch = shreds;
        for (const k of await store.byIds(tenantId, [...missing])) {
          if (k.personId !== '' && shredSince(tenantId, k.personId, epoch)) continue;
          try {
            const key = unwrap(k);
            loaded.set(k.keyId, key);
            remember(k, key);
          } catch {
            // reported per value by the decryptor
          }
        }
      }
      return (attributeKey, value) => {
        const id = ciphertextKeyId(value);
        const key = loaded.get(id) ?? byId.get(cacheKey(tenantId, id))?.key;
        if (!key) throw new DecryptionError(`tenant "${tenantId}" has no data key ${id}: it was shredded by an erasure, or the value is not this tenant's`);
        return decryptValue(key, tenantId, attributeKey, value);
      };
    },
    async shred(tenantId, personIds) {
      if (personIds.length === 0) return;
      await store.shred(tenantId, personIds);
      // Marked once the keys are gone from the store: every load that began before then is caught at its end.
      shreds++;
      if (shredAt.size > CACHE_LIMIT) shredAt = new Map();
      for (const p of personIds) shredAt.set(cacheKey(tenantId, p), shreds);
      const persons = new Set(personIds);
      const cached = personCache.get(tenantId);
      for (const p of personIds) if (cached?.delete(p)) personCount--;
      const prefix = cacheKey(tenantId, '');
      for (const [k, v] of byId) if (k.startsWith(prefix) && v.personId !== '' && persons.has(v.personId)) byId.delete(k);
    },
  };
}
