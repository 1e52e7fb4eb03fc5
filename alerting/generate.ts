/**
 * `npm run alerts:rules`: writes the Prometheus rule file of the SLOs in signalhouse.yaml (`--config <path>`, else
 * SIGNALHOUSE_CONFIG, else ./signalhouse.yaml) to prometheus/signalhouse.rules.yml (`--out <path>`, `--out -` for
 * stdout). The same file a running service serves at `GET /api/v1/alerts/rules`. A test fails while the
 * committed file differs from what this writes for the default signalhouse.yaml.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../core/config.ts';
import { parseAlertingConfig } from './config.ts';
import { prometheusRulesYaml } from './rules.ts';

export const RULES_FILE = fileURLToPath(new URL('../prometheus/signalhouse.rules.yml', import.meta.url));
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../signalhouse.yaml', import.meta.url));

/** The rule file for the config at `path`; environment references are read from `env`. */
export function rulesFileText(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const config = loadConfig(path, env);
  return prometheusRulesYaml(
    parseAlertingConfig(
      config.alerting,
      config.tenants.map((t) => t.id),
    ),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' }, out: { type: 'string', short: 'o' } }, strict: true });
  try {
    const text = rulesFileText(values.config ?? process.env.SIGNALHOUSE_CONFIG ?? DEFAULT_CONFIG_FILE);
    if (values.out === '-') process.stdout.write(text);
    else {
      writeFileSync(values.out ?? RULES_FILE, text);
      console.log(`wrote ${values.out ?? RULES_FILE}`);
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
