/**
 * The master keys of `encryption` (core/config.ts), read from their environment variables or files when the
 * service starts. Every problem is a ConfigError naming the config path, never the key.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type EncryptionConfig } from './config.ts';
import { type MasterKey, parseMasterKeyText, secretKey } from './encryption.ts';

/** The id of the key `master_key_env` / `master_key_file` configure. */
export const DEFAULT_MASTER_KEY_ID = 'default';

const FORMAT = 'expected 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)';

/** The configured master keys, newest (the one that wraps) first. */
export function resolveMasterKeys(enc: EncryptionConfig, env: NodeJS.ProcessEnv = process.env): MasterKey[] {
  const sources =
    enc.master_keys?.map((k, i) => ({ ...k, path: `encryption.master_keys.${i}` })) ??
    (enc.master_key_env !== undefined
      ? [{ id: DEFAULT_MASTER_KEY_ID, env: enc.master_key_env, file: undefined, path: 'encryption.master_key_env' }]
      : [{ id: DEFAULT_MASTER_KEY_ID, env: undefined, file: enc.master_key_file, path: 'encryption.master_key_file' }]);
  const problems: string[] = [];
  const keys: MasterKey[] = [];
  for (const s of sources) {
    let text: string | undefined;
    if (s.env !== undefined) {
      text = env[s.env];
      if (text === undefined || text === '') {
        problems.push(`${s.path}: environment variable ${s.env} is not set (master key "${s.id}")`);
        continue;
      }
    } else {
      try {
        text = readFileSync(s.file!, 'utf8');
      } catch (err) {
        problems.push(`${s.path}: cannot read master key file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        continue;
      }
    }
    const raw = parseMasterKeyText(text);
    if (!raw) problems.push(`${s.path}: master key "${s.id}" is not a key: ${FORMAT}`);
    else keys.push({ id: s.id, key: secretKey(raw) });
  }
  if (problems.length > 0) throw new ConfigError('encryption', problems);
  return keys;
}
