/**
 * Input checks. A helper never throws into its caller for bad input: a value that breaks its rule is dropped
 * (the record goes out without it), a record missing a required attribute is not emitted at all (the server
 * would refuse it), and both are counted in `stats()` and reported through OpenTelemetry's `diag`, once per
 * distinct problem at WARN and at DEBUG after that, so a hot loop of bad calls does not flood the log. Messages
 * name the event, the attribute and the rule, never the value (it may be huge, or personal data).
 */
import { diag } from '@opentelemetry/api';
import type { AttributeKind, AttributeSpec } from '../../../semconv/event-attributes.ts';

export const SDK_NAME = '@signalhouse/node';
const log = diag.createComponentLogger({ namespace: SDK_NAME });

/** An attribute value the helpers pass on: a scalar, or an array of one scalar type. */
export type AttributeValue = string | number | boolean | readonly string[] | readonly number[] | readonly boolean[];
export type Attributes = Record<string, AttributeValue>;

export interface Limits {
  /** Longest string value, in characters (the server's `max_attribute_value_length`). */
  readonly maxValueLength: number;
  /** Longest id (session, user, anonymous and event ids; the server's `max_id_length`). */
  readonly maxIdLength: number;
  /** Most attributes on one record (the OpenTelemetry SDK's default `attributeCountLimit`). */
  readonly maxAttributes: number;
}
export const DEFAULT_LIMITS: Limits = { maxValueLength: 65_536, maxIdLength: 256, maxAttributes: 128 };
/** Longest attribute key (the server's `max_attribute_key_length`). */
const MAX_KEY_LENGTH = 256;

export interface SignalhouseStats {
  /** Log records and spans handed to the OpenTelemetry API. */
  emitted: number;
  /** Calls that emitted nothing: a required attribute was missing or invalid, or the input was not an object. */
  droppedRecords: number;
  /** Values left out of an emitted record (each counted once). */
  droppedAttributes: number;
}

/** Counts and diagnostics of one helpers instance. */
export class Problems {
  readonly stats: SignalhouseStats = { emitted: 0, droppedRecords: 0, droppedAttributes: 0 };
  /** Problems already reported at WARN; bounded, since custom attribute keys are the caller's. */
  private readonly seen = new Set<string>();

  attribute(event: string, key: string, reason: string): void {
    this.stats.droppedAttributes++;
    this.report(`${event}: attribute "${clip(key)}" dropped: ${reason}`);
  }

  record(event: string, reason: string): void {
    this.stats.droppedRecords++;
    this.report(`${clip(event)}: not emitted: ${reason}`);
  }

  private report(message: string): void {
    if (this.seen.has(message) || this.seen.size >= 256) {
      log.debug(message);
      return;
    }
    this.seen.add(message);
    log.warn(message);
  }
}

const clip = (s: string) => (s.length > 64 ? `${s.slice(0, 64)}…` : s);

/**
 * OTel's OTLP encoders send a whole number as a 64-bit integer, exact only up to 2^53 and garbled past 2^63
 * (1e300 is whole), so numbers are kept within ±2^53; nothing real is measured in more milliseconds than that.
 */
const isNumberInRange = (v: number) => Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER;

/** Why a value breaks its attribute's rule, or undefined when it keeps it. */
export function valueProblem(spec: AttributeSpec, value: unknown, maxLength: number): string | undefined {
  switch (spec.kind satisfies AttributeKind) {
    case 'text':
    case 'string':
      if (typeof value !== 'string') return `must be a string, got ${typeName(value)}`;
      if (spec.kind === 'text' && value.length === 0) return 'must not be empty';
      return value.length > maxLength ? `longer than ${maxLength} characters` : undefined;
    case 'number':
    case 'integer':
      if (typeof value !== 'number') return `must be a number${spec.unit === 'ms' ? ' of milliseconds' : ''}, got ${typeName(value)}`;
      if (!isNumberInRange(value)) return `must be finite and within ±2^53, got ${value}`;
      if (spec.kind === 'integer' && !Number.isSafeInteger(value)) return 'must be an integer';
      return spec.unit !== undefined && value < 0 ? `must not be negative (${spec.unit})` : undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `must be a boolean, got ${typeName(value)}`;
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : typeof value;
}

const isScalar = (v: unknown, maxLength: number) =>
  typeof v === 'boolean' || (typeof v === 'number' && isNumberInRange(v)) || (typeof v === 'string' && v.length <= maxLength);

/** Why a custom attribute value cannot go out, or undefined. */
function customValueProblem(value: unknown, maxLength: number): string | undefined {
  if (!Array.isArray(value)) return isScalar(value, maxLength) ? undefined : 'must be a string, a number within ±2^53, a boolean or an array of one of them';
  const type = typeof value[0];
  for (const item of value) {
    if (typeof item !== type || !isScalar(item, maxLength)) return 'an array must hold strings, numbers within ±2^53 or booleans, all of one type';
  }
  // The server stores an array as its JSON text, which the value length limit counts.
  return JSON.stringify(value).length > maxLength ? `longer than ${maxLength} characters as JSON` : undefined;
}

const NO_KEYS: ReadonlySet<string> = new Set();

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * Copies the caller's own attributes into `out` after the helper's: keys the helper sets itself (`reserved`)
 * and `__proto__` (no OpenTelemetry SDK can carry it: assigning it to an attribute map sets the map's prototype)
 * are dropped, as are values outside the attribute types and anything past `maxAttributes`. Keys in `skip` were
 * read already (`track`'s known attributes).
 */
export function addCustomAttributes(
  out: Record<string, unknown>,
  count: number,
  custom: unknown,
  reserved: ReadonlySet<string>,
  event: string,
  limits: Limits,
  problems: Problems,
  skip: ReadonlySet<string> = NO_KEYS,
): number {
  if (custom === undefined) return count;
  if (!isPlainObject(custom)) {
    problems.attribute(event, 'attributes', 'must be a plain object');
    return count;
  }
  for (const key of Object.keys(custom)) {
    if (skip.has(key)) continue;
    const value = custom[key];
    let problem: string | undefined;
    if (key === '__proto__') problem = 'the key __proto__ cannot be carried by an attribute map';
    else if (key.length === 0 || key.length > MAX_KEY_LENGTH) problem = `keys must have 1 to ${MAX_KEY_LENGTH} characters`;
    else if (reserved.has(key)) problem = 'set by the helper itself (use its typed field)';
    else problem = customValueProblem(value, limits.maxValueLength);
    if (problem === undefined && count >= limits.maxAttributes) problem = `more than ${limits.maxAttributes} attributes`;
    if (problem !== undefined) {
      problems.attribute(event, key, problem);
      continue;
    }
    // Arrays are copied: the SDK may export the record after the caller has changed its array.
    out[key] = Array.isArray(value) ? value.slice() : value;
    count++;
  }
  return count;
}
