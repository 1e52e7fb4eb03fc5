/**
 * `npm run bench:tracker`: how soon the web tracker's first event is on the wire. Runs a service in this
 * process (embedded store, defaults) and Debian's Chromium on a site of another origin; BENCH_RUNS (default 20)
 * fresh browser contexts each load a page with `<script src=…/sdk/signalhouse.js>` and call `init` (which captures
 * the pageview), and the page's Resource Timing says when the batch request started and when its reply (sent
 * after the commit) ended. Prints, as p50 / p95 / max over the runs:
 * - `init` itself (the synchronous call);
 * - `init` → the first batch request started (the pageview on the wire);
 * - that request's start → its reply (network, ingest, commit).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../core/config.ts';
import { createService } from '../service/service.ts';
import { startBrowserSite } from '../test/helpers/browser.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const KEY = 'wk_bench_tracker';
const dir = mkdtempSync(join(tmpdir(), 'sh-bench-tracker-'));
const config = parseConfig(
  {
    exporters: { clickhouse: { data_dir: dir } },
    service: { http: { host: '127.0.0.1', port: 0 }, log_level: 'warn' },
    tenants: [{ id: 'bench', write_keys: [KEY] }],
  },
  {},
  'bench',
);
const service = await createService(config, pino({ level: 'warn' }));
const url = await service.listen();
const site = await startBrowserSite({
  '/': {
    type: 'text/html',
    body: `<!doctype html><title>bench</title><script src="${url}/sdk/signalhouse.js"></script>
<script>
  performance.mark('init');
  signalhouse.init(${JSON.stringify(KEY)}, { host: ${JSON.stringify(url)} });
  performance.measure('init call', 'init');
</script><main><h1>Bench</h1></main>`,
  },
});

interface Run {
  initCall: number;
  toWire: number;
  toReply: number;
}
const runs: Run[] = [];
const chromium = site.browser.version();
try {
  for (let i = 0; i < RUNS; i++) {
    const context = await site.browser.newContext();
    const page = await context.newPage();
    await page.goto(site.origin);
    // As text: tsx would wrap a function's inner functions in a helper the page does not have.
    const run: Run = await page.evaluate(`(async () => {
      const batch = () => performance.getEntriesByType('resource').find((e) => e.name.endsWith('/sh/v1/batch'));
      while (!batch() || batch().responseEnd === 0) await new Promise((r) => setTimeout(r, 10));
      const init = performance.getEntriesByName('init')[0].startTime;
      const b = batch();
      return { initCall: performance.getEntriesByName('init call')[0].duration, toWire: b.startTime - init, toReply: b.responseEnd - b.startTime };
    })()`);
    runs.push(run);
    await context.close();
  }
} finally {
  await site.close();
  await service.close();
  rmSync(dir, { recursive: true, force: true });
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `p50 ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`;
};
console.log(`tracker, ${RUNS} page loads in Chromium ${chromium}`);
console.log(`  init call:                          ${stats(runs.map((r) => r.initCall))}`);
console.log(`  init → first event on the wire:     ${stats(runs.map((r) => r.toWire))}`);
console.log(`  request start → reply (committed):  ${stats(runs.map((r) => r.toReply))}`);
