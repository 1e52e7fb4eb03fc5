/**
 * From the `receivers` config section to receivers: each key (`type` or `type/name`) is validated by its type's
 * factory, every problem reported with its path at once (ConfigError, as the config loader does), and the
 * receivers that pipelines name are made. Every configured receiver is validated, named or not.
 */
import type { Receiver, ReceiverFactory, ReceiverRegistry, ReceiverSettings } from '../../core/components.ts';
import { ConfigError, type SignalhouseConfig } from '../../core/config.ts';

export interface ConfiguredReceiver {
  readonly name: string;
  readonly factory: ReceiverFactory;
  /** The options parsed by the factory's schema (defaults applied). */
  readonly config: unknown;
}

/** Validates every configured receiver's options; throws ConfigError listing every problem by path. */
export function parseReceivers(registry: ReceiverRegistry, receivers: Readonly<Record<string, unknown>>): ConfiguredReceiver[] {
  const problems: string[] = [];
  const configured: ConfiguredReceiver[] = [];
  for (const [name, options] of Object.entries(receivers)) {
    const type = name.split('/')[0];
    const factory = registry.get(type);
    if (!factory) {
      problems.push(`receivers.${name}: unknown receiver type "${type}" (known: ${[...registry.keys()].join(', ') || 'none'})`);
      continue;
    }
    const parsed = factory.configSchema.safeParse(options ?? {});
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`receivers.${[name, ...issue.path.map(String)].join('.')}: ${issue.message}`);
      continue;
    }
    configured.push({ name, factory, config: parsed.data });
  }
  if (problems.length > 0) throw new ConfigError('receivers', problems);
  return configured;
}

/**
 * The receivers of `config` that its pipelines name, made by their factories, in config order. A receiver's
 * routes are fixed by its type, so two receivers of one type cannot both serve (ConfigError).
 */
export function createReceivers(registry: ReceiverRegistry, config: SignalhouseConfig, shared: Omit<ReceiverSettings, 'name'>): Receiver[] {
  const named = new Set(Object.values(config.service.pipelines).flatMap((p) => p.receivers));
  const problems: string[] = [];
  const byType = new Map<string, string>();
  const receivers: Receiver[] = [];
  for (const { name, factory, config: options } of parseReceivers(registry, config.receivers)) {
    if (!named.has(name)) continue;
    const other = byType.get(factory.type);
    if (other !== undefined) {
      problems.push(`receivers.${name}: receiver "${other}" already serves the routes of type "${factory.type}" (one receiver per type)`);
      continue;
    }
    byType.set(factory.type, name);
    receivers.push(factory.create(options, { ...shared, name }));
  }
  if (problems.length > 0) throw new ConfigError('receivers', problems);
  return receivers;
}
