/**
 * `npm start`'s entry point with an invalid config: every problem by its path on stderr and exit code 2, also
 * for the exporters' options, which their factories validate at start.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'sh-config-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reports bad exporter options by path and exits 2', async () => {
  const config = join(dir, 'bad-exporter.yaml');
  writeFileSync(
    config,
    `exporters:\n  clickhouse:\n    data_dir: ${JSON.stringify(join(dir, 'data'))}\n    batch: { max_rows: 0 }\n    retry: { max_interval: soon }\n`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'service', 'main.ts'), '--config', config], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'exit');
  expect(stderr).toContain('invalid configuration');
  expect(stderr).toContain('  - exporters.clickhouse.batch.max_rows: Too small');
  expect(stderr).toContain('  - exporters.clickhouse.retry.max_interval: invalid duration "soon"');
  expect(code).toBe(2);
});
