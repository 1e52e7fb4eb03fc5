/**
 * The `flags` section of signalhouse.yaml: flags declared per tenant, `flags: { <tenant id>: [<flag>, …] }`, each
 * in the admin API's shape. The core config loader keeps the section as given; this module validates it when
 * the service starts, against the configured tenants, and reports every problem by its path at once
 * (ConfigError). Declared flags are read-only through the API.
 */
import { z } from 'zod';
import { ConfigError } from '../../core/config.ts';
import { SignalhouseError } from '../../core/errors.ts';
import { checkFlag } from './check.ts';
import type { ConfigFlag } from './store.ts';

const section = z.record(z.string(), z.array(z.unknown()).max(10_000)).optional();

export function parseFlagsConfig(raw: unknown, tenantIds: readonly string[]): ConfigFlag[] {
  const problems: string[] = [];
  const parsed = section.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(
      'flags',
      parsed.error.issues.map((i) => `flags${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`),
    );
  const out: ConfigFlag[] = [];
  for (const [tenantId, flags] of Object.entries(parsed.data ?? {})) {
    if (!tenantIds.includes(tenantId)) {
      problems.push(`flags.${tenantId}: no tenant "${tenantId}" is configured`);
      continue;
    }
    const seen = new Set<string>();
    flags.forEach((input, i) => {
      try {
        const { definition } = checkFlag(input, `flags.${tenantId}.${i}`);
        if (seen.has(definition.key)) problems.push(`flags.${tenantId}.${i}.key: duplicate flag key "${definition.key}"`);
        seen.add(definition.key);
        out.push({ tenantId, definition });
      } catch (err) {
        if (!(err instanceof SignalhouseError)) throw err;
        // Compile errors name their path inside the flag; zod's already carry the prefix.
        problems.push(err.message.startsWith('flags.') ? err.message : `flags.${tenantId}.${i}.${err.message}`);
      }
    });
  }
  if (problems.length > 0) throw new ConfigError('flags', problems);
  return out;
}
