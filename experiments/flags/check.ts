/**
 * A flag document checked before it is stored or loaded: its depth first (zod recurses, so a document nested
 * thousands deep is refused here), then the strict schema (every problem with its path), then compiled
 * (regexes, dates and versions; a filter that does not compile is a 400 naming its path too).
 */
import type { z } from 'zod';
import { SignalhouseError } from '../../core/errors.ts';
import { type CompiledFlag, compileFlag } from './compile.ts';
import { definitionOf, type FlagDefinition, flagInputSchema } from './model.ts';

/** A definition checked: every problem with its path (400), then compiled (regexes, dates, versions; 400 too). */
export function checkFlag(input: unknown, pathPrefix = ''): { definition: FlagDefinition; compiled: CompiledFlag } {
  const deep = pathTooDeep(input, MAX_DEPTH);
  if (deep) throw new SignalhouseError('BAD_REQUEST', `${[pathPrefix, ...deep].filter(Boolean).join('.')}: nested more than ${MAX_DEPTH} levels`);
  const r = flagInputSchema.safeParse(input);
  if (!r.success) throw new SignalhouseError('BAD_REQUEST', formatIssues(r.error, pathPrefix));
  const definition = definitionOf(r.data);
  return { definition, compiled: compileFlag(definition) };
}

/** A flag's document is at most this deep (payloads have their own, lower limit); checked before zod, which recurses. */
const MAX_DEPTH = 32;

/** The path to the first value nested deeper than `max`, found without recursion; undefined when none is. */
export function pathTooDeep(value: unknown, max: number): string[] | undefined {
  const stack: Array<{ v: unknown; path: string[] }> = [{ v: value, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (path.length >= max) return path;
    for (const [k, child] of Object.entries(v)) stack.push({ v: child, path: [...path, k] });
  }
  return undefined;
}

export function formatIssues(error: z.ZodError, prefix = ''): string {
  return error.issues.map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(body)'}: ${i.message}`).join('; ');
}
