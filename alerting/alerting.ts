/**
 * Alerting as the service assembles it: the SLI observer the pipelines report committed batches to, the built-in
 * evaluator, the rule file and the routes. Made from the validated `alerting` section (config.ts).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Batch } from '../core/event.ts';
import type { Store } from '../storage/store.ts';
import type { AlertingConfig } from './config.ts';
import { createEvaluator, type Evaluator } from './evaluator.ts';
import { prometheusRulesYaml } from './rules.ts';
import { createSliObserver, type SliObserver } from './sli.ts';

export interface Alerting {
  readonly config: AlertingConfig;
  /** Undefined when `alerting.sli_metrics` is off. */
  readonly observer: SliObserver | undefined;
  readonly evaluator: Evaluator;
  /** The Prometheus rule file (YAML). */
  readonly rules: string;
  /** The SLI metrics in the Prometheus text format ('' when they are off), for `/metrics` after the registry's. */
  metricsText(): string;
  /** For the pipelines: a committed batch's stored events. */
  readonly onCommitted: ((batch: Batch) => void) | undefined;
  /** Starts the evaluator (when enabled and SLOs exist). */
  start(): void;
  stop(): Promise<void>;
}

export function createAlerting(config: AlertingConfig, deps: { store: Store; settle(): Promise<void>; registry: Registry; logger?: Logger }): Alerting {
  const pinned = [...new Set(config.slos.flatMap((s) => s.tenants ?? []))];
  const observer = config.sliMetrics ? createSliObserver(config, pinned) : undefined;
  const evaluator = createEvaluator({ config, store: deps.store, settle: deps.settle, registry: deps.registry, logger: deps.logger });
  return {
    config,
    observer,
    evaluator,
    rules: prometheusRulesYaml(config),
    metricsText: () => observer?.series.exposition() ?? '',
    onCommitted: observer && ((batch) => observer.observe(batch)),
    start: () => evaluator.start(),
    async stop() {
      observer?.stop();
      await evaluator.stop();
    },
  };
}
