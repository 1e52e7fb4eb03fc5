/**
 * Before any test file runs: the web tracker and the dashboard are built from their current sources, so the tests
 * that load them in a browser never see a stale build (the tracker's JavaScript only: its type declarations are
 * checked by `npm run typecheck`).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildDashboard } from '../dashboard/build.ts';

export default async function setup(): Promise<void> {
  execFileSync(process.execPath, [fileURLToPath(new URL('../sdk/browser/build.mjs', import.meta.url)), '--js-only'], { stdio: 'inherit' });
  await buildDashboard();
}
