/**
 * Decryption for authorised reads (docs/privacy.md, "Encryption at rest"): the export of a person and the people
 * API called with an admin token see traits and PII attributes in clear; every other read sees them as stored
 * (`enc:v1:...`). A value that cannot be decrypted (its key shredded by an erasure, another tenant's value, an
 * altered ciphertext) is left as stored and named, with why, in the row's `decryption_errors`; the read goes on.
 */
import { DecryptionError, isCiphertext } from '../core/encryption.ts';
import type { Decrypt, Encryption } from '../core/keyring.ts';

/** Attribute key → why its value was not decrypted. */
export type DecryptionErrors = Record<string, string>;

/** The plaintext of `value` (the attribute `attributeKey`'s), or undefined with the reason put in `errors`. */
function attempt(decrypt: Decrypt, attributeKey: string, value: string, errors: DecryptionErrors): string | undefined {
  try {
    return decrypt(attributeKey, value);
  } catch (err) {
    if (!(err instanceof DecryptionError)) throw err;
    errors[attributeKey] = err.message;
    return undefined;
  }
}

/**
 * Decrypts every ciphertext among the maps' values in place; returns, per map, what could not be decrypted
 * (undefined when everything could).
 */
export async function decryptMaps(
  enc: Encryption,
  tenantId: string,
  maps: ReadonlyArray<Record<string, string>>,
): Promise<Array<DecryptionErrors | undefined>> {
  const decrypt = await enc.decryptor(
    tenantId,
    maps.flatMap((m) => Object.values(m)),
  );
  return maps.map((m) => {
    let errors: DecryptionErrors | undefined;
    for (const key of Object.keys(m)) {
      if (!isCiphertext(m[key])) continue;
      const plain = attempt(decrypt, key, m[key], (errors ??= {}));
      if (plain !== undefined) m[key] = plain;
    }
    return errors && Object.keys(errors).length > 0 ? errors : undefined;
  });
}

/** The attribute key a trait is stored under (`identity_traits` strips the prefix). */
export const traitAttribute = (key: string) => `traits.${key}`;

/** Traits (`{key, value}`, key without its `traits.` prefix) decrypted in place; a failure sets `decryption_error`. */
export async function decryptTraits<T extends { key: string; value: string; decryption_error?: string }>(
  enc: Encryption,
  tenantId: string,
  traits: T[],
): Promise<void> {
  const decrypt = await enc.decryptor(
    tenantId,
    traits.map((t) => t.value),
  );
  for (const t of traits) {
    if (!isCiphertext(t.value)) continue;
    const errors: DecryptionErrors = {};
    const plain = attempt(decrypt, traitAttribute(t.key), t.value, errors);
    if (plain !== undefined) t.value = plain;
    else t.decryption_error = errors[traitAttribute(t.key)];
  }
}

/**
 * One line of a person's export (JSONEachRow text, its `type` first) with its traits and attributes in clear;
 * lines without a ciphertext are passed through unparsed.
 */
export async function decryptExportLine(enc: Encryption, tenantId: string, line: string): Promise<string> {
  if (!line.includes('enc:v1:')) return line;
  const row = JSON.parse(line) as Record<string, unknown>;
  if (row.type === 'trait' && typeof row.Key === 'string' && typeof row.Value === 'string') {
    const trait = { key: row.Key, value: row.Value } as { key: string; value: string; decryption_error?: string };
    await decryptTraits(enc, tenantId, [trait]);
    row.Value = trait.value;
    if (trait.decryption_error !== undefined) row.decryption_errors = { [traitAttribute(row.Key)]: trait.decryption_error };
    return JSON.stringify(row);
  }
  const column = row.type === 'event' ? 'LogAttributes' : row.type === 'span' ? 'SpanAttributes' : undefined;
  const attrs = column ? row[column] : undefined;
  if (!attrs || typeof attrs !== 'object') return line;
  const [errors] = await decryptMaps(enc, tenantId, [attrs as Record<string, string>]);
  if (errors) row.decryption_errors = errors;
  return JSON.stringify(row);
}
