/**
 * The package as users install it: `npm run build` bundles the helpers with semconv's plain data into one ESM
 * file that imports only the OpenTelemetry APIs (no zod, no server code) and writes the declarations its
 * `exports` name; the built file works through the OpenTelemetry SDK.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPipeline } from '../../../test/helpers/otel-memory.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  exports: { '.': { types: string; import: string } };
  peerDependencies: Record<string, string>;
  dependencies?: Record<string, string>;
};
const built = (path: string) => `${root}${path.replace(/^\.\//, '')}`;

beforeAll(() => {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
});
afterAll(() => {
  rmSync(`${root}dist`, { recursive: true, force: true });
});

describe('@signalhouse/node as built', () => {
  it('imports only the OpenTelemetry APIs (its peer dependencies) and node:crypto', () => {
    const code = readFileSync(built(pkg.exports['.'].import), 'utf8');
    const imports = new Set([...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]));
    expect(imports).toEqual(new Set(['node:crypto', ...Object.keys(pkg.peerDependencies)]));
    expect(pkg.dependencies).toBeUndefined();
    expect(code).not.toMatch(/\bimport\(|\brequire\(/);
  });

  it('has the declarations its exports name', () => {
    expect(existsSync(built(pkg.exports['.'].types))).toBe(true);
    expect(readFileSync(built(pkg.exports['.'].types), 'utf8')).toContain('createSignalhouse');
  });

  it('emits through the OpenTelemetry SDK', async () => {
    const mem = memoryPipeline();
    const sdk = (await import(built(pkg.exports['.'].import))) as typeof import('./index.ts');
    const sh = sdk.createSignalhouse({ logger: mem.loggerProvider.getLogger('built') });
    sh.trackKBSearch({ resultsCount: 3, latencyMs: 12 });
    sh.trackKBSearch({ resultsCount: Number.NaN, latencyMs: 12 });
    expect(mem.records().map((r) => [r.eventName, r.attributes['kb.results_count']])).toEqual([['kb.search', 3]]);
    expect(sh.stats()).toEqual({ emitted: 1, droppedRecords: 1, droppedAttributes: 0 });
  });
});
