/**
 * `npm run size:dashboard` (run by CI): the dashboard's whole JavaScript, as built in dashboard/dist, must stay
 * within its budget of 100 KB gzip. Prints gzip and brotli sizes; exits 1 above the budget or without a build.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { DASHBOARD_DIST } from './build.ts';

const BUDGET_BYTES = 100 * 1024;
const assets = join(DASHBOARD_DIST, 'assets');
if (!existsSync(assets)) {
  process.stderr.write('no dashboard build: run `npm run build:dashboard` first\n');
  process.exit(1);
}
let gzip = 0;
let brotli = 0;
for (const file of readdirSync(assets).filter((f) => f.endsWith('.js'))) {
  const data = readFileSync(join(assets, file));
  gzip += gzipSync(data, { level: 9 }).length;
  brotli += brotliCompressSync(data).length;
}
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
process.stdout.write(`dashboard JavaScript: ${kb(gzip)} gzip, ${kb(brotli)} brotli (budget ${kb(BUDGET_BYTES)} gzip)\n`);
if (gzip > BUDGET_BYTES) {
  process.stderr.write(`dashboard JavaScript is over its budget by ${kb(gzip - BUDGET_BYTES)}\n`);
  process.exit(1);
}
