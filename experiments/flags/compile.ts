/**
 * A definition compiled for evaluation: each property filter becomes a function of the person's properties,
 * with its regex, date, number and version parsed once here. A filter that cannot be compiled (an invalid or
 * catastrophic regex, a date or version that does not parse) is refused with its path, so a stored flag always
 * evaluates. Matching follows PostHog's (posthog-node's local evaluation): `exact` compares strings without case
 * (a list is "in"), `true`/`false` compare as truth values, numeric comparisons fall back to strings, relative
 * dates (`-7d`, `2w`, `1m`, `1y`, `12h`) count back from now. A property the person does not have matches only
 * `is_not_set` (PostHog's server answers so too; posthog-node's local evaluation asks the server then).
 */
import semver from 'semver';
import { SignalhouseError } from '../../core/errors.ts';
import { type Condition, type FlagDefinition, LIMITS, type PropertyFilter } from './model.ts';

export type Properties = Readonly<Record<string, unknown>>;
export type Matcher = (props: Properties) => boolean;

export interface CompiledCondition {
  readonly matchers: readonly Matcher[];
  /** Of those matching, as a fraction of 1. */
  readonly rollout: number;
  readonly variant: string | undefined;
}

export interface CompiledFlag {
  readonly definition: FlagDefinition;
  readonly conditions: readonly CompiledCondition[];
}

/** A filter that cannot be compiled: its path inside the flag and why. */
export class FilterError extends SignalhouseError {
  constructor(path: string, message: string) {
    super('BAD_REQUEST', `${path}: ${message}`);
  }
}

export function compileFlag(definition: FlagDefinition): CompiledFlag {
  const groups: Condition[] = definition.conditions.length > 0 ? definition.conditions : [{ properties: [] }];
  const conditions = groups.map((c, i) => ({
    matchers: c.properties.map((p, j) => compileFilter(p, `conditions.${i}.properties.${j}`)),
    rollout: (c.rolloutPercentage ?? definition.rolloutPercentage) / 100,
    variant: c.variant,
  }));
  return { definition, conditions };
}

const lower = (v: unknown) => String(v).replace(/[A-Z]/g, (c) => c.toLowerCase());
const isTruthValue = (v: unknown) => typeof v === 'boolean' || (typeof v === 'string' && (lower(v) === 'true' || lower(v) === 'false'));
const truth = (v: unknown) => v === true || (typeof v === 'string' && lower(v) === 'true');
/** A property value as text: objects and arrays as JSON (one nested too deep to write out matches no text). */
const text = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (v === null || typeof v !== 'object') return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return '';
  }
};

/**
 * Nested quantifiers (`(a+)+`, `(.*)*`, `(a|aa)+`-like groups followed by a quantifier) backtrack exponentially
 * in JavaScript's engine: a flag's regex runs on every request, so they are refused.
 */
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]|\((?:[^()\\]|\\.)*\|(?:[^()\\]|\\.)*\)\s*[+*{]/;
/**
 * Whether V8's linear-time regex engine is on (`--enable-experimental-regexp-engine`, which `npm start`, the
 * Docker image and the tests pass): flag regexes then run in time linear in the input, whatever the pattern.
 * Without it they backtrack, and only the refusals below bound them.
 */
const LINEAR_FLAG = 'l';
export const LINEAR_REGEX = (() => {
  try {
    new RegExp('a', LINEAR_FLAG);
    return true;
  } catch {
    return false;
  }
})();
/** Back-references defeat every backtracking bound. */
const BACKREFERENCE = /\\[1-9]|\\k</;

function compileRegex(pattern: unknown, path: string): RegExp {
  if (typeof pattern !== 'string') throw new FilterError(path, 'a regex is a string');
  if (pattern.length > LIMITS.regexLength) throw new FilterError(path, `a regex is at most ${LIMITS.regexLength} characters`);
  if (NESTED_QUANTIFIER.test(pattern) || BACKREFERENCE.test(pattern)) {
    throw new FilterError(path, 'this regex could take exponential time (nested quantifiers or back-references): rewrite it without them');
  }
  try {
    new RegExp(pattern);
  } catch (err) {
    throw new FilterError(path, `invalid regex: ${(err as Error).message}`);
  }
  if (!LINEAR_REGEX) return new RegExp(pattern);
  try {
    return new RegExp(pattern, LINEAR_FLAG);
  } catch {
    throw new FilterError(path, 'this regex cannot run in linear time (lookarounds and back-references cannot): rewrite it without them');
  }
}

const RELATIVE_DATE = /^-?([0-9]+)([hdwmy])$/;

/** An absolute date, or a relative one evaluated against now (PostHog's `-7d`). */
function compileDate(value: unknown, path: string): () => number {
  if (typeof value !== 'string' && typeof value !== 'number')
    throw new FilterError(path, 'a date is an ISO 8601 string, epoch milliseconds or a relative date like -7d');
  const rel = typeof value === 'string' ? RELATIVE_DATE.exec(value) : null;
  if (rel) {
    const n = Number(rel[1]);
    if (n >= 10_000) throw new FilterError(path, 'a relative date counts back less than 10000 units');
    const unit = rel[2];
    // Recomputed at most once a second: a relative bound moves by the clock, not per evaluation.
    let at = 0;
    let bound = 0;
    return () => {
      const now = Date.now();
      if (now - at < 1000) return bound;
      at = now;
      const d = new Date(now);
      if (unit === 'h') d.setUTCHours(d.getUTCHours() - n);
      else if (unit === 'd') d.setUTCDate(d.getUTCDate() - n);
      else if (unit === 'w') d.setUTCDate(d.getUTCDate() - 7 * n);
      else if (unit === 'm') monthsBack(d, n);
      else yearsBack(d, n);
      bound = d.getTime();
      return bound;
    };
  }
  const ms = new Date(value).getTime();
  if (Number.isNaN(ms)) throw new FilterError(path, `${JSON.stringify(value)} is not a date`);
  return () => ms;
}

/**
 * `n` calendar months back as PostHog's SDKs count them (so a relative date means the same here and in
 * posthog-node's local evaluation): the day is clamped to the last day of every month passed through (31 May - 2m
 * is 30 March, April having 30 days), where plain `setUTCMonth` would overflow into the next month.
 */
export function monthsBack(d: Date, n: number): void {
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth();
  let day = d.getUTCDate();
  for (let step = 1; step <= n && day > 28; step++) day = Math.min(day, new Date(Date.UTC(year, month - step + 1, 0)).getUTCDate());
  d.setUTCFullYear(year, month - n, day);
}

/** `n` years back; 29 February becomes 28 February (PostHog's rule). */
export function yearsBack(d: Date, n: number): void {
  const month = d.getUTCMonth();
  const day = n > 0 && month === 1 && d.getUTCDate() === 29 ? 28 : d.getUTCDate();
  d.setUTCFullYear(d.getUTCFullYear() - n, month, day);
}

const SEMVER = /^\s*[vV]?\d{1,9}(\.\d{1,9}){0,2}([-+][0-9A-Za-z.+-]*)?\s*$/;
/** A version as PostHog compares them: major.minor.patch, missing parts 0, pre-release and build ignored. */
function version(value: unknown): semver.SemVer | null {
  const s = text(value);
  if (!SEMVER.test(s)) return null;
  return semver.coerce(s);
}

const SEMVER_TESTS: Record<string, (c: number) => boolean> = {
  semver_eq: (c) => c === 0,
  semver_neq: (c) => c !== 0,
  semver_gt: (c) => c > 0,
  semver_gte: (c) => c >= 0,
  semver_lt: (c) => c < 0,
  semver_lte: (c) => c <= 0,
};
const NUMBER_TESTS: Record<string, (a: number | string, b: number | string) => boolean> = {
  gt: (a, b) => a > b,
  gte: (a, b) => a >= b,
  lt: (a, b) => a < b,
  lte: (a, b) => a <= b,
};
/** Operators that a null property value can match (PostHog's list); the others answer false for null. */
const NULL_OK = new Set(['exact', 'is_not', 'icontains', 'not_icontains', 'regex', 'not_regex']);

export function compileFilter(filter: PropertyFilter, path: string): Matcher {
  const { key, operator, value } = filter;
  if (operator === 'is_set') return (p) => Object.hasOwn(p, key);
  if (operator === 'is_not_set') return (p) => !Object.hasOwn(p, key);
  if (value === undefined) throw new FilterError(`${path}.value`, `operator ${operator} needs a value`);
  if (Array.isArray(value) && operator !== 'exact' && operator !== 'is_not')
    throw new FilterError(`${path}.value`, `a list of values is for exact and is_not only`);
  const test = compileTest(operator, value, `${path}.value`);
  const nullOk = NULL_OK.has(operator);
  return (p) => {
    if (!Object.hasOwn(p, key)) return false;
    const actual = p[key];
    if (actual === undefined) return false;
    if (actual === null && !nullOk) return false;
    return test(actual);
  };
}

function compileTest(operator: PropertyFilter['operator'], value: NonNullable<PropertyFilter['value']>, path: string): (actual: unknown) => boolean {
  switch (operator) {
    case 'exact':
    case 'is_not': {
      let eq: (actual: unknown) => boolean;
      if (!Array.isArray(value) && isTruthValue(value)) {
        const want = truth(value);
        eq = (a) => truth(a) === want;
      } else {
        const wanted = new Set((Array.isArray(value) ? value : [value]).map((v) => lower(text(v))));
        eq = (a) => wanted.has(lower(text(a)));
      }
      return operator === 'exact' ? eq : (a) => !eq(a);
    }
    case 'icontains':
    case 'not_icontains': {
      const needle = lower(text(value));
      return operator === 'icontains' ? (a) => lower(text(a)).includes(needle) : (a) => !lower(text(a)).includes(needle);
    }
    case 'regex':
    case 'not_regex': {
      const re = compileRegex(value, path);
      return operator === 'regex' ? (a) => re.test(text(a)) : (a) => !re.test(text(a));
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const n = typeof value === 'number' ? value : Number.parseFloat(String(value));
      if (!Number.isFinite(n)) throw new FilterError(path, `${operator} compares with a number`);
      const cmp = NUMBER_TESTS[operator];
      const asText = String(value);
      return (a) => {
        const x = typeof a === 'number' ? a : Number.parseFloat(text(a));
        return Number.isFinite(x) ? cmp(x, n) : cmp(text(a), asText);
      };
    }
    case 'is_date_before':
    case 'is_date_after': {
      const bound = compileDate(value, path);
      const before = operator === 'is_date_before';
      return (a) => {
        if (typeof a !== 'string' && typeof a !== 'number') return false;
        const t = typeof a === 'number' ? a : Date.parse(a);
        if (Number.isNaN(t)) return false;
        return before ? t < bound() : t > bound();
      };
    }
    default: {
      const want = version(value);
      if (!want) throw new FilterError(path, `${JSON.stringify(value)} is not a version (major[.minor[.patch]])`);
      const ok = SEMVER_TESTS[operator];
      return (a) => {
        const v = version(a);
        return v !== null && ok(semver.compare(v, want));
      };
    }
  }
}
