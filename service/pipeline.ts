/**
 * Pipeline assembly from config, as in the Collector: `service.pipelines` names, per signal, the receivers that
 * feed it, the processors it runs in order, and the exporters it writes to. Receivers ask for "their" pipeline
 * by (receiver, signal) and hand batches to it; the batch comes back with the refusals the reply must name.
 */
import type { Exporter, Pipeline, Pipelines, Processor, ProcessorRegistry } from '../core/components.ts';
import type { Batch } from '../core/event.ts';
import { buildProcessor, createProcessorChain } from '../processors/chain.ts';
import { ConfigError, type SignalhouseConfig, type Signal } from '../core/config.ts';
import { SignalhouseError } from '../core/errors.ts';
import type { Telemetry } from '../core/telemetry.ts';

export function buildPipelines(
  config: SignalhouseConfig,
  exporters: ReadonlyMap<string, Exporter>,
  registry: ProcessorRegistry,
  telemetry: Telemetry,
  /**
   * Sees every batch's stored events once every exporter has committed them (the SLI metrics: after dedupe, retries
   * never count; the live stream: as stored); must not throw.
   */
  onCommitted?: (batch: Batch) => void,
): Pipelines {
  const problems: string[] = [];
  const byReceiver = new Map<string, Pipeline>();
  const all: Pipeline[] = [];
  for (const [id, spec] of Object.entries(config.service.pipelines)) {
    const signal = id.split('/')[0] as Signal;
    const processors: Processor[] = [];
    for (const key of spec.processors) {
      const p = buildProcessor(registry, key, config.processors[key], signal, problems);
      if (p) processors.push(p);
    }
    const targets = spec.exporters.map((name) => exporters.get(name)).filter((e): e is Exporter => e !== undefined);
    const chain = createProcessorChain(id, processors, telemetry);
    const pipeline: Pipeline = {
      id,
      signal,
      chain,
      async consume(batch) {
        const out = await chain.run(batch);
        if (out.events.length > 0) {
          try {
            if (targets.length === 1) await targets[0].export(out);
            else await Promise.all(targets.map((e) => e.export(out)));
          } catch (err) {
            chain.release(out);
            throw err;
          }
        }
        // Also when no events are left: state taken for them (dedupe's pending ids) must settle.
        chain.committed(out);
        if (onCommitted && out.events.length > 0) onCommitted(out);
        if (out.dependsOn && out.dependsOn.length > 0) {
          try {
            await Promise.all(out.dependsOn);
          } catch (err) {
            throw new SignalhouseError('STORAGE_UNAVAILABLE', 'a copy of some of these events was in flight and failed to commit; retry', {
              cause: err,
              retryAfterSeconds: 1,
            });
          }
        }
        return out;
      },
    };
    all.push(pipeline);
    spec.receivers.forEach((r, i) => {
      const key = `${r}\u0000${signal}`;
      const existing = byReceiver.get(key);
      if (existing) {
        problems.push(`service.pipelines.${id}.receivers.${i}: receiver "${r}" already feeds ${signal} pipeline "${existing.id}"`);
      }
      byReceiver.set(key, pipeline);
    });
  }
  if (problems.length > 0) throw new ConfigError('pipelines', problems);
  return {
    all,
    find: (receiver, signal) => byReceiver.get(`${receiver}\u0000${signal}`),
    async start(ctx) {
      for (const p of all) await p.chain.start(ctx);
    },
  };
}
