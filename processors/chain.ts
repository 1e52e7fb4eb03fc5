/**
 * Processors and the chain that runs them. A processor is made once by its factory from validated options
 * (`createX(config)` → `{ name, process(batch) }`, costly setup in the factory) and then maps a batch to a
 * batch. The chain helper owns the cross-cutting work, like the Collector's processorhelper: it counts records
 * in, out and dropped per processor, times each one, and stops early when a batch becomes empty.
 *
 * A processor that removes a record says why (core/event.ts): `markDuplicate` (dedupe: accepted, stored
 * already), `dropEvent` (consent: accepted, dropped on purpose) or `refuseEvent` (validate: rejected, with the
 * reason). Replies and ingest counters are built from that, so the chain holds every processor to it: records
 * removed without a word are counted as dropped by that processor (code `filtered`), never left unaccounted. A
 * processor that throws (the encrypt processor when it cannot store a new data key) fails the batch, and the
 * chain releases it first, as the pipeline does a batch that fails to commit.
 */
import type { Signal } from '../core/config.ts';
import { addDrop, type Batch, type DroppedOutcome, rejectedCount } from '../core/event.ts';
import type { Processor, ProcessorChain, ProcessorRegistry, ProcessorStartContext } from '../core/components.ts';
import type { Telemetry } from '../core/telemetry.ts';

/** Builds a processor from its config key (`type` or `type/name`), reporting problems by config path. */
export function buildProcessor(registry: ProcessorRegistry, key: string, options: unknown, signal: Signal, problems: string[]): Processor | undefined {
  const type = key.split('/')[0];
  const factory = registry.get(type);
  if (!factory) {
    problems.push(`processors.${key}: unknown processor type "${type}" (known: ${[...registry.keys()].join(', ') || 'none'})`);
    return undefined;
  }
  if (!factory.signals.includes(signal)) {
    problems.push(`processors.${key}: processor type "${type}" does not support ${signal} pipelines`);
    return undefined;
  }
  const parsed = factory.configSchema.safeParse(options ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`processors.${[key, ...issue.path.map(String)].join('.')}: ${issue.message}`);
    return undefined;
  }
  return factory.create(parsed.data, key, signal);
}

/** Records a batch has been told of so far: refused, dropped or duplicate. */
function notedCount(batch: Batch): number {
  let n = rejectedCount(batch);
  for (const d of batch.drops ?? []) n += d.count;
  return n;
}

/**
 * Holds a processor to saying why it removed records: those it removed without a word are counted as dropped
 * by it and, when the receiver answers per event, named per event (the search runs only then).
 */
function accountFor(input: Batch, output: Batch, notedBefore: number, outcomesBefore: number, outcome: DroppedOutcome): void {
  const removed = input.events.length - output.events.length;
  const unnoted = removed - (notedCount(output) - notedBefore);
  if (unnoted > 0) addDrop((output.drops ??= []), outcome.code, outcome.reason, unnoted);
  const outcomes = output.outcomes;
  if (!outcomes || removed <= outcomes.size - outcomesBefore) return;
  const kept = new Set<object>(output.events);
  for (const e of input.events) if (!kept.has(e) && !outcomes.has(e)) outcomes.set(e, outcome);
}

export function createProcessorChain(pipeline: string, processors: readonly Processor[], telemetry: Telemetry): ProcessorChain {
  const counters = processors.map((p) => ({
    processor: p,
    in: telemetry.processorRecords.labels(pipeline, p.name, 'in'),
    out: telemetry.processorRecords.labels(pipeline, p.name, 'out'),
    dropped: telemetry.processorRecords.labels(pipeline, p.name, 'dropped'),
    refused: telemetry.processorRecords.labels(pipeline, p.name, 'refused'),
    duration: telemetry.processorDuration.labels(pipeline, p.name),
    filtered: { status: 'dropped', code: 'filtered', reason: `dropped by processor "${p.name}"` } as DroppedOutcome,
  }));
  return {
    names: processors.map((p) => p.name),
    async run(batch: Batch): Promise<Batch> {
      let current = batch;
      for (const c of counters) {
        const inCount = current.events.length;
        if (inCount === 0) break;
        const refusedBefore = rejectedCount(current);
        const notedBefore = notedCount(current);
        const outcomesBefore = current.outcomes?.size ?? 0;
        const input = current;
        const end = c.duration.startTimer();
        try {
          current = await c.processor.process(current);
        } catch (err) {
          // The batch will not be committed: what the processors before took from it (dedupe's pending ids) is
          // released, or the client's retry would be taken for a duplicate of a batch that never commits.
          for (const p of processors) p.release?.(current);
          throw err;
        } finally {
          end();
        }
        const outCount = current.events.length;
        const refused = rejectedCount(current) - refusedBefore;
        if (outCount < inCount) accountFor(input, current, notedBefore, outcomesBefore, c.filtered);
        c.in.inc(inCount);
        c.out.inc(outCount);
        if (refused > 0) c.refused.inc(refused);
        if (inCount - outCount - refused > 0) c.dropped.inc(inCount - outCount - refused);
      }
      return current;
    },
    release(batch: Batch): void {
      for (const p of processors) p.release?.(batch);
    },
    committed(batch: Batch): void {
      for (const p of processors) p.committed?.(batch);
    },
    async start(ctx: ProcessorStartContext): Promise<void> {
      for (const p of processors) await p.start?.(ctx);
    },
  };
}
