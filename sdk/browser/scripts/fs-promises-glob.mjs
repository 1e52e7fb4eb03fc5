/**
 * `node:fs/promises` plus the `glob` of Node.js 22 for plain file paths, which is what .size-limit.json names
 * (size-limit adds a `<path>/**` sibling to each pattern to expand directories; a file has none to expand).
 * A pattern with wildcards is refused rather than matched wrongly.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

export * from 'node:fs/promises';

export async function* glob(patterns, { cwd = process.cwd() } = {}) {
  for (const pattern of patterns) {
    if (pattern.endsWith('/**')) continue;
    if (/[*?[\]{}]/.test(pattern)) throw new Error(`size-limit on Node.js 20: name files without wildcards (${pattern})`);
    const path = resolve(cwd, pattern);
    const s = await stat(path).catch(() => undefined);
    if (s?.isFile()) yield { name: basename(path), parentPath: dirname(path), isFile: () => true };
  }
}
