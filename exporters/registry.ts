/**
 * Exporter types available to `signalhouse.yaml`, keyed by type. Each exporter module exports its factory; add
 * it here to make it configurable. `resolveExporters` validates the `exporters` section with them at start.
 */
import type { z } from 'zod';
import type { ExporterFactory, ExporterRegistry } from '../core/components.ts';
import { clickhouseExporterFactory } from './clickhouse/exporter.ts';
import type { ExporterHost } from './host.ts';

const factories = [clickhouseExporterFactory] as ExporterFactory<z.ZodType, ExporterHost>[];

export const EXPORTER_FACTORIES: ExporterRegistry<ExporterHost> = new Map(factories.map((f) => [f.type, f]));

/** One configured exporter: its config key, its factory and its validated (frozen) options. */
export interface ExporterSpec<C extends ExporterHost = ExporterHost> {
  readonly key: string;
  readonly factory: ExporterFactory<z.ZodType, C>;
  readonly config: unknown;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Validates each entry of the `exporters` section (keyed `type` or `type/name`) with its factory's schema.
 * Every problem is pushed to `problems` with its config path; entries with problems are left out.
 */
export function resolveExporters<C extends ExporterHost>(
  registry: ExporterRegistry<C>,
  section: Readonly<Record<string, unknown>>,
  problems: string[],
): ExporterSpec<C>[] {
  const specs: ExporterSpec<C>[] = [];
  for (const [key, options] of Object.entries(section)) {
    const type = key.split('/')[0];
    const factory = registry.get(type);
    if (!factory) {
      problems.push(`exporters.${key}: unknown exporter type "${type}" (known: ${[...registry.keys()].join(', ') || 'none'})`);
      continue;
    }
    const parsed = factory.configSchema.safeParse(options ?? {});
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`exporters.${[key, ...issue.path.map(String)].join('.')}: ${issue.message}`);
      continue;
    }
    specs.push({ key, factory, config: deepFreeze(parsed.data) });
  }
  return specs;
}
