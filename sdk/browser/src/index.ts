/**
 * The tracker as an ES module: `import { signalhouse } from '@signalhouse/browser'`. Optional modules are
 * imported dynamically, so a bundler splits them off and a page downloads one only when it is enabled.
 */
import { createTracker } from './tracker.ts';
import type { InstallModule, ModuleName, Signalhouse } from './types.ts';

export type { Ids, ModuleHost, Properties, Signalhouse, TrackerOptions } from './types.ts';
export { INGEST_PATH } from './transport.ts';

const loadModule = (name: ModuleName): Promise<InstallModule> =>
  (name === 'autocapture' ? import('./modules/autocapture.ts') : name === 'vitals' ? import('./modules/vitals.ts') : import('./modules/errors.ts')).then(
    (m) => m.install,
  );

/** A tracker of its own (most pages need only the shared `signalhouse`). */
export function createSignalhouse(): Signalhouse {
  const { replay: _, ...tracker } = createTracker(loadModule);
  return tracker;
}

export const signalhouse: Signalhouse = createSignalhouse();
export default signalhouse;
