/**
 * Alerting as the service assembles it: the SLI observer the pipelines report committed batches to, and the
 * rule file. Made from the validated `alerting` section (config.ts).
 */
import type { Registry } from 'prom-client';
import type { Batch } from '../core/event.ts';
import type { AlertingConfig } from './config.ts';
import { prometheusRulesYaml } from './rules.ts';
import { createSliObserver, type SliObserver } from './sli.ts';

export interface Alerting {
  readonly config: AlertingConfig;
  /** Undefined when `alerting.sli_metrics` is off. */
  readonly observer: SliObserver | undefined;
  /** The Prometheus rule file (YAML). */
  readonly rules: string;
  /** For the pipelines: a committed batch's stored events. */
  readonly onCommitted: ((batch: Batch) => void) | undefined;
  stop(): Promise<void>;
}

export function createAlerting(config: AlertingConfig, deps: { registry: Registry }): Alerting {
  const pinned = [...new Set(config.slos.flatMap((s) => s.tenants ?? []))];
  const observer = config.sliMetrics ? createSliObserver(config, deps.registry, pinned) : undefined;
  return {
    config,
    observer,
    rules: prometheusRulesYaml(config),
    onCommitted: observer && ((batch) => observer.observe(batch)),
    async stop() {
      observer?.stop();
    },
  };
}
