/**
 * fast-check arbitraries and checks shared by the receivers' property tests: hostile keys and text (prototype
 * member names, control characters, astral code points, percent signs, JSON-looking text), byte-level
 * mutations of valid bodies, and the HTTP call the properties make. Every property runs with a fixed seed and a
 * time limit, so CI is deterministic and bounded.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { EVENT_SCHEMAS } from '../../semconv/events.ts';
import { TENANTS } from './service.ts';

/**
 * A property's outcome: fails on a counterexample (or an error), not on the runs the time budget skipped. Past the
 * budget fast-check skips every further value until its skip allowance runs out and then reports "too many
 * pre-condition failures", which would fail a property that passed every run it made on a slow machine.
 */
function reportProperty<Ts>(details: fc.RunDetails<Ts>): void {
  const skippedOnlyForTime = details.failed && details.counterexample === null && details.errorInstance === null && details.numRuns > 0;
  if (skippedOnlyForTime) return;
  const message = fc.defaultReportMessage(details);
  if (message !== undefined) throw new Error(message);
}

/**
 * fc.assert options: a fixed seed, a run count and a time budget: past `seconds`, no further run starts. A run
 * already going is never cut short (interrupting one would abandon its requests mid-flight, and a property that
 * counts what it sent would then count a request that never finished).
 */
export const propertyOptions = (numRuns: number, seconds = 6) => ({ seed: 42, numRuns, skipAllAfterTimeLimit: seconds * 1000, reporter: reportProperty });

export const PROTOTYPE_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupSetter__',
  'prototype',
  'then',
  'length',
];
const HOSTILE_TEXT = [
  '',
  ' ',
  '__proto__',
  'constructor',
  '%',
  '%E0%A4%A',
  '%00',
  '\u0000',
  '\uFEFF',
  '\u2028',
  '"',
  '\\',
  '\\u0000',
  '{"a":[1]}',
  '[[[[]]]]',
  '1e999',
  '-0',
  'NaN',
  'null',
  'true',
  '𝕏🏳️‍🌈',
  '<script>',
  "'; DROP TABLE x; --",
  '${env:HOME}',
  '{name:String}',
];

/** Short text of any kind: ASCII with control characters, any code point, or a known troublemaker. */
export const text = (maxLength = 32): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary-ascii', maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_TEXT) },
  );

/** An attribute / property key: prototype member names often, anything else otherwise, minus `reserved` ones. */
export const keyOf = (reserved: (key: string) => boolean): fc.Arbitrary<string> =>
  fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...PROTOTYPE_KEYS) }, { weight: 3, arbitrary: text(24) }).filter((k) => !reserved(k));

/** An event name that no schema knows (validation would otherwise refuse random attributes). */
export const eventName = text(40).filter((n) => !(n in EVENT_SCHEMAS));

/** `levels` arrays nested around a number, as JSON text (too deep for JSON.stringify at 100,000). */
export const nestedJson = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;

/** Byte-level mutations of a valid body: flipped bytes, truncation, inserted or duplicated runs. */
export function mutatedBytes(valid: Buffer): fc.Arbitrary<Buffer> {
  const n = valid.length;
  return fc.oneof(
    fc.array(fc.tuple(fc.nat({ max: Math.max(0, n - 1) }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((flips) => {
      const out = Buffer.from(valid);
      for (const [at, byte] of flips) if (at < n) out[at] = byte;
      return out;
    }),
    fc.nat({ max: n }).map((at) => valid.subarray(0, at)),
    fc
      .tuple(fc.nat({ max: n }), fc.uint8Array({ minLength: 1, maxLength: 12 }))
      .map(([at, bytes]) => Buffer.concat([valid.subarray(0, at), bytes, valid.subarray(at)])),
    fc.tuple(fc.nat({ max: n }), fc.nat({ max: n })).map(([a, b]) => Buffer.concat([valid.subarray(0, Math.max(a, b)), valid.subarray(Math.min(a, b))])),
  );
}

/** A body the receivers should refuse or accept, never fail on: random bytes, random JSON, deep or odd JSON. */
export const randomBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc.string({ unit: 'binary', maxLength: 256 }).map((s) => Buffer.from(s)),
  fc
    .constantFrom(
      nestedJson(100_000),
      `{"a":${nestedJson(50_000)}}`,
      '{"__proto__":{"x":1}}',
      '{"constructor":{"prototype":{}}}',
      '1e999',
      '"\\ud800"',
      '{"a":1,"a":2}',
      '',
    )
    .map((s) => Buffer.from(s)),
);

/** Content-Encoding as sent: none, a real compression of the body, a lie about it, or an unknown coding. */
export const encodedBody = (body: Buffer): fc.Arbitrary<{ body: Buffer; encoding?: string }> =>
  fc.constantFrom<{ body: Buffer; encoding?: string }>(
    { body },
    { body },
    { body: gzipSync(body), encoding: 'gzip' },
    { body: deflateSync(body), encoding: 'deflate' },
    { body, encoding: 'gzip' },
    { body, encoding: 'x-foo' },
    { body: gzipSync(gzipSync(body)), encoding: 'gzip, gzip' },
  );

export interface Reply {
  status: number;
  bytes: Buffer;
  text: string;
}

export async function send(url: string, body: Buffer | string, headers: Record<string, string>): Promise<Reply> {
  const res = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, bytes, text: bytes.toString() };
}

/** A hostile request gets a client error or success, never a server error. */
export const CLIENT_STATUSES = [200, 202, 400, 401, 403, 404, 413, 415];

/** Sorted [key, value] pairs: compares attribute maps whatever their prototype or key order. */
export const entriesOf = (m: Readonly<Record<string, string>> | ReadonlyMap<string, string>) =>
  [...(m instanceof Map ? m.entries() : Object.entries(m))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

export const FUZZ_KEY = 'wk_fuzz_test_key';

/**
 * The service the property tests run: every receiver, validation as the only processor (it alters nothing, so
 * what is stored must equal what was sent), no landing slots, and a tenant of its own for mutated bodies.
 */
export const PROPERTY_SERVICE = {
  receivers: { otlp: {}, segment: {}, posthog: {}, envelope: {}, tracker: {} },
  processors: { validate: {} },
  service: {
    pipelines: {
      logs: { receivers: ['otlp', 'segment', 'posthog', 'envelope', 'tracker'], processors: ['validate'], exporters: ['clickhouse'] },
      traces: { receivers: ['otlp'], processors: ['validate'], exporters: ['clickhouse'] },
    },
  },
  exporters: { clickhouse: { landing: { max_rows: 0 }, rollups: false } },
  tenants: [...TENANTS, { id: 'fuzz', write_keys: [FUZZ_KEY] }],
};
