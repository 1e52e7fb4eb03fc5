import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { addRejection, type Batch, type EventOutcome, type LogEvent } from '../core/event.ts';
import { createTelemetry } from '../core/telemetry.ts';
import type { Processor, ProcessorFactory } from '../core/components.ts';
import { testLogEvent } from '../test/helpers/events.ts';
import { buildProcessor, createProcessorChain } from './chain.ts';
import { createDedupe, dedupeFactory } from './dedupe.ts';

const event = (eventName: string): LogEvent => testLogEvent({ timeUnixNano: 1n, eventName });
const logBatch = (...names: string[]): Batch => ({ tenantId: 't', signal: 'logs', events: names.map(event), rejections: [] });

/** Drops events whose name starts with a prefix (like consent: on purpose, not reported). */
const dropFactory: ProcessorFactory = {
  type: 'drop',
  signals: ['logs'],
  configSchema: z.strictObject({ prefix: z.string() }),
  create: (cfg: { prefix: string }, name): Processor => ({
    name,
    process: (b) => ({ ...b, events: (b.events as LogEvent[]).filter((e) => !e.eventName.startsWith(cfg.prefix)) }) as Batch,
  }),
};

/** Refuses events named "bad" and reports them (like validation). */
const refuse: Processor = {
  name: 'refuse',
  async process(b) {
    const kept = (b.events as LogEvent[]).filter((e) => e.eventName !== 'bad');
    addRejection(b.rejections, 'invalid_field', 'event "bad" is not allowed', b.events.length - kept.length);
    return { ...b, events: kept } as Batch;
  },
};

describe('processor chain', () => {
  it('runs processors in order and counts in, out, dropped and refused per processor', async () => {
    const telemetry = createTelemetry();
    const problems: string[] = [];
    const drop = buildProcessor(new Map([['drop', dropFactory]]), 'drop/debug', { prefix: 'debug.' }, 'logs', problems)!;
    expect(problems).toEqual([]);
    const chain = createProcessorChain('logs', [drop, refuse], telemetry);
    const out = await chain.run(logBatch('a', 'debug.x', 'bad', 'b', 'debug.y'));
    expect(out.events.map((e) => (e as LogEvent).eventName)).toEqual(['a', 'b']);
    expect(out.rejections).toEqual([{ code: 'invalid_field', reason: 'event "bad" is not allowed', count: 1 }]);
    const values = (await telemetry.processorRecords.get()).values.map((v) => [v.labels.processor, v.labels.outcome, v.value]);
    expect(values).toEqual(
      expect.arrayContaining([
        ['drop/debug', 'in', 5],
        ['drop/debug', 'out', 3],
        ['drop/debug', 'dropped', 2],
        ['refuse', 'in', 3],
        ['refuse', 'out', 2],
        ['refuse', 'refused', 1],
      ]),
    );
    expect(values.find(([p, o]) => p === 'refuse' && o === 'dropped')).toBeUndefined();
  });

  it('counts records a processor removed without saying why as dropped by it, per event when asked', async () => {
    const drop = buildProcessor(new Map([['drop', dropFactory]]), 'drop/debug', { prefix: 'debug.' }, 'logs', [])!;
    const chain = createProcessorChain('logs', [drop, refuse], createTelemetry());
    const outcomes = new Map<object, EventOutcome>();
    const batch = { ...logBatch('a', 'debug.x', 'bad', 'b'), outcomes };
    const out = await chain.run(batch);
    expect(out.drops).toEqual([{ code: 'filtered', reason: 'dropped by processor "drop/debug"', count: 1 }]);
    // "refuse" counted its refusal but named no event: the event still gets an outcome, so no reply calls it stored.
    const filtered = (by: string) => ({ status: 'dropped', code: 'filtered', reason: `dropped by processor "${by}"` });
    expect(batch.events.map((e) => outcomes.get(e))).toEqual([undefined, filtered('drop/debug'), filtered('refuse'), undefined]);
  });

  it('stops when a batch becomes empty', async () => {
    let called = false;
    const never: Processor = {
      name: 'never',
      process: (b) => {
        called = true;
        return b;
      },
    };
    const chain = createProcessorChain(
      'logs',
      [buildProcessor(new Map([['drop', dropFactory]]), 'drop', { prefix: '' }, 'logs', [])!, never],
      createTelemetry(),
    );
    expect((await chain.run(logBatch('x', 'y'))).events).toEqual([]);
    expect(called).toBe(false);
  });

  it('reports unknown types, unsupported signals and bad options by config path', () => {
    const registry = new Map([['drop', dropFactory]]);
    const problems: string[] = [];
    expect(buildProcessor(registry, 'redact/pii', {}, 'logs', problems)).toBeUndefined();
    expect(buildProcessor(registry, 'drop', { prefix: 'x' }, 'traces', problems)).toBeUndefined();
    expect(buildProcessor(registry, 'drop/a', { prefix: 1, extra: true }, 'logs', problems)).toBeUndefined();
    expect(problems).toEqual([
      'processors.redact/pii: unknown processor type "redact" (known: drop)',
      'processors.drop: processor type "drop" does not support traces pipelines',
      'processors.drop/a.prefix: Invalid input: expected string, received number',
      'processors.drop/a: Unrecognized key: "extra"',
    ]);
  });
});

describe('a processor that throws', () => {
  it('releases what the processors before it took from the batch, so the retry is stored, not taken for a duplicate', async () => {
    let fail = true;
    const flaky: Processor = {
      name: 'flaky',
      async process(b) {
        if (fail) throw new Error('storage went away');
        return b;
      },
    };
    const dedupe = createDedupe(dedupeFactory.configSchema.parse({}));
    const chain = createProcessorChain('logs', [dedupe, flaky], createTelemetry());
    const send = () => {
      const b = logBatch('a', 'b');
      for (const [i, e] of (b.events as LogEvent[]).entries()) e.eventId = `id-${i}`;
      return chain.run(b);
    };
    await expect(send()).rejects.toThrow('storage went away');
    fail = false;
    const retry = await send();
    expect(retry.events.map((e) => (e as LogEvent).eventId)).toEqual(['id-0', 'id-1']);
    expect(retry.dependsOn ?? []).toEqual([]);
  });
});
