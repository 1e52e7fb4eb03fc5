/**
 * The snippet a page pastes to load the tracker asynchronously: it defines a stub `signalhouse` whose methods
 * queue their calls (with the time of each), then adds the script, which takes the stub over and runs the
 * queued calls in order. docs/tracker.md shows it.
 */
export function snippet(scriptUrl: string): string {
  return `!function(w,d,n){var s=w[n]=w[n]||{q:[]};"init track identify page alias reset consent flush".split(" ").forEach(function(m){s[m]=s[m]||function(){s.q.push([m,arguments,Date.now()])}});var e=d.createElement("script");e.async=!0;e.src=${JSON.stringify(scriptUrl)};d.head.appendChild(e)}(window,document,"signalhouse");`;
}
