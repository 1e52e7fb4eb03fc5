/**
 * The script served at `/sdk/signalhouse.js`: defines `window.signalhouse`. The snippet's stub (an object whose
 * methods queue their calls in `q`, with the time of each) is taken over in place: queued calls run in order, at
 * their own times, and references to the stub keep working. Module files are loaded from where this script came
 * from (`signalhouse.<module>.js`) and hand their code back through `signalhouse._m`. `<script
 * data-write-key="…">` initialises without a snippet.
 */
import { createTracker } from './tracker.ts';
import type { InstallModule } from './types.ts';

type Stub = Record<string, unknown> & { q?: Array<[string, ArrayLike<unknown>, number?]> };

const w = window as unknown as { signalhouse?: Stub };
const script = document.currentScript as HTMLScriptElement | null;
const src = script?.src ?? '';
const sdk = src.lastIndexOf('/sdk/');
const resolvers: Record<string, (install: InstallModule) => void> = {};
const tracker = createTracker(
  (name) =>
    new Promise((resolve, reject) => {
      resolvers[name] = resolve;
      const s = document.createElement('script');
      s.src = `${src.slice(0, src.lastIndexOf('/') + 1)}signalhouse.${name}.js`;
      s.async = true;
      s.onerror = reject;
      document.head.appendChild(s);
    }),
  sdk > 0 ? src.slice(0, sdk) : '',
);
const stub: Stub = w.signalhouse ?? {};
// A second copy of the script on the page leaves the first one in charge.
if (!stub._m) {
  const queued = stub.q ?? [];
  delete stub.q;
  w.signalhouse = Object.assign(stub, tracker, { _m: resolvers });
  const writeKey = script?.dataset.writeKey;
  if (writeKey) tracker.init(writeKey);
  for (const [method, args, at] of queued) tracker.replay(method, args, at);
}
