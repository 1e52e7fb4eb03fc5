/**
 * Builds the web tracker before any test file runs, so that the browser tests load the scripts of the sources
 * as they are now, never a stale dist/ (the JavaScript only: the type declarations are checked by `npm run
 * typecheck`).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL('../sdk/browser/build.mjs', import.meta.url)), '--js-only'], { stdio: 'inherit' });
}
