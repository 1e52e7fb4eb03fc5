/**
 * validate: refuses events that break their schema or lie too far from the receive time, naming the event and
 * the field. Known events use `semconv/events.ts`; custom schemas come from JSON Schema files named in the
 * config (`{ "<event name>": <JSON Schema of its attributes>, … }`, compiled once with Ajv). Unknown events are
 * allowed or refused by `unknown_events`. Records without an event name (plain OTLP logs, spans) get only the
 * clock check.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { durationMs } from '../../core/units.ts';
import { type Batch, type LogEvent, refuseEvent, type SpanRecord } from '../../core/event.ts';
import { EVENT_SCHEMAS } from '../../semconv/events.ts';
import type { Processor, ProcessorFactory } from '../../core/components.ts';

const configSchema = z.strictObject({
  unknown_events: z.enum(['allow', 'reject']).default('allow'),
  /** Paths of JSON files mapping event names to JSON Schemas of their attributes. */
  schemas: z.array(z.string()).default([]),
  /** Largest distance of an event's time from the receive time, either way. */
  clock_skew_tolerance: durationMs.default(24 * 3_600_000),
});
export type ValidateConfig = z.infer<typeof configSchema>;

type Check = (attributes: Record<string, string>) => string | undefined;

/**
 * A known event's check: the zod schema is the source of truth, but zod's parse copies the object, so the hot path
 * asks an Ajv validator compiled from the same schema's JSON Schema (no copy, no garbage) and only a refused event
 * goes through zod, for its message.
 */
function zodCheck(schema: z.ZodType, ajv: Ajv): Check {
  const fast = ajv.compile(z.toJSONSchema(schema, { target: 'draft-07' }) as object);
  return (attributes) => {
    if (fast(attributes)) return undefined;
    const r = schema.safeParse(attributes);
    if (r.success) return undefined;
    const issue = r.error.issues[0];
    const field = issue.path.map(String).join('.');
    return issue.code === 'invalid_type' && issue.input === undefined ? `attribute "${field}" is required` : `attribute "${field}" ${issue.message}`;
  };
}

function ajvCheck(validate: ValidateFunction): Check {
  return (attributes) => {
    if (validate(attributes)) return undefined;
    const e = validate.errors![0];
    const field = e.keyword === 'required' ? String(e.params.missingProperty) : e.instancePath.replace(/^\//, '').replace(/~1/g, '/').replace(/~0/g, '~');
    return e.keyword === 'required' ? `attribute "${field}" is required` : `attribute "${field}" ${e.message}`;
  };
}

function loadCustomSchemas(paths: readonly string[]): Map<string, Check> {
  const ajv = new Ajv({ allErrors: false, strict: false });
  const checks = new Map<string, Check>();
  for (const path of paths) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`validate: cannot read schema file ${path}: ${(err as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`validate: ${path} must map event names to JSON Schemas`);
    for (const [event, schema] of Object.entries(doc)) {
      try {
        checks.set(event, ajvCheck(ajv.compile(schema as object)));
      } catch (err) {
        throw new Error(`validate: ${path}: schema of "${event}" is invalid: ${(err as Error).message}`);
      }
    }
  }
  return checks;
}

/** How a refusal names the record; built only for refusals. */
function labelOf(e: LogEvent | SpanRecord, signal: Batch['signal']): string {
  return 'eventName' in e && e.eventName ? `event "${e.eventName}"` : signal === 'logs' ? 'log record' : `span "${(e as SpanRecord).name}"`;
}

export function createValidate(config: ValidateConfig, name = 'validate', now: () => number = Date.now): Processor {
  const ajv = new Ajv({ allErrors: false, strict: false });
  const checks = new Map<string, Check>(Object.entries(EVENT_SCHEMAS).map(([event, schema]) => [event, zodCheck(schema, ajv)]));
  for (const [event, check] of loadCustomSchemas(config.schemas)) checks.set(event, check);
  const tolerance = BigInt(Math.round(config.clock_skew_tolerance)) * 1_000_000n;
  const rejectUnknown = config.unknown_events === 'reject';

  return {
    name,
    process(batch: Batch): Batch {
      const nowNs = BigInt(now()) * 1_000_000n;
      const kept: Array<LogEvent | SpanRecord> = [];
      for (const e of batch.events as Array<LogEvent | SpanRecord>) {
        const time = 'timeUnixNano' in e ? e.timeUnixNano : e.startTimeUnixNano;
        let reason: string | undefined;
        let code = 'invalid_field';
        if (time > nowNs + tolerance || time < nowNs - tolerance) {
          reason = `${labelOf(e, batch.signal)}: time is more than ${config.clock_skew_tolerance / 3_600_000} h from the receive time`;
          code = 'clock_skew';
        } else if ('eventName' in e && e.eventName) {
          const check = checks.get(e.eventName);
          if (check) {
            const problem = check(e.attributes);
            if (problem) reason = `${labelOf(e, batch.signal)}: ${problem}`;
          } else if (rejectUnknown) {
            reason = `${labelOf(e, batch.signal)}: unknown event`;
            code = 'unknown_event';
          }
        }
        if (reason === undefined) kept.push(e);
        else refuseEvent(batch, e, code, reason);
      }
      return kept.length === batch.events.length ? batch : ({ ...batch, events: kept } as Batch);
    },
  };
}

export const validateFactory: ProcessorFactory<typeof configSchema> = {
  type: 'validate',
  signals: ['logs', 'traces'],
  configSchema,
  create: (config, name) => createValidate(config, name),
};
