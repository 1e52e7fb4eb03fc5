/**
 * Before any test file runs: the dashboard is built from its current source, so the tests that load it in a
 * browser never see a stale build.
 */
import { buildDashboard } from '../dashboard/build.ts';

export default async function setup(): Promise<void> {
  await buildDashboard();
}
