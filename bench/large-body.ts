/**
 * The large-body scenario of `bench:ingest`: `connections` clients each send large OTLP/JSON bodies of web
 * events back to back for the scenario's duration, then the server's peak RSS (VmHWM) and, after it has been
 * idle a while, its settled RSS. A 503 (the server shedding load beyond its in-flight budget) is counted apart
 * and is not an error: the client waits as its Retry-After says (at most 1 s here) and sends again, as an OTLP
 * exporter does.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { KEY, peakRssMb, rssMb } from './harness.ts';
import { uniqueBodies } from './payloads.ts';

export interface LargeBodyResult {
  ok: number;
  /** Replies 503 (load shed), with how many named a Retry-After. */
  shed: number;
  retryAfter: number;
  /** Other non-2xx replies, by status. */
  other: Map<number, number>;
  errors: number;
  seconds: number;
  /** Events in 2xx replies per second. */
  eventsPerSec: number;
  rssBeforeMb: number;
  peakRssMb: number;
  settledRssMb: number;
  settleSeconds: number;
}

export async function largeBodies(opts: {
  url: string;
  pid: number;
  templates: readonly Buffer[];
  eventsPerBody: number;
  connections: number;
  seconds: number;
  settleSeconds: number;
}): Promise<LargeBodyResult> {
  const target = new URL(`${opts.url}/v1/logs`);
  const pool = new Pool(target.origin, { connections: opts.connections, pipelining: 1 });
  const nextBody = uniqueBodies(opts.templates);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${KEY}` };
  const r = { ok: 0, shed: 0, retryAfter: 0, other: new Map<number, number>(), errors: 0 };
  const rssBeforeMb = rssMb(opts.pid);
  const started = performance.now();
  const until = started + opts.seconds * 1000;

  async function client(): Promise<void> {
    while (performance.now() < until) {
      try {
        const res = await pool.request({ path: target.pathname, method: 'POST', headers, body: nextBody() });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) r.ok++;
        else if (res.statusCode === 503) {
          r.shed++;
          const after = Number(res.headers['retry-after']);
          if (Number.isFinite(after)) r.retryAfter++;
          await sleep(Math.min(1000, Number.isFinite(after) ? after * 1000 : 100));
        } else r.other.set(res.statusCode, (r.other.get(res.statusCode) ?? 0) + 1);
      } catch {
        r.errors++;
        await sleep(100);
      }
    }
  }

  await Promise.all(Array.from({ length: opts.connections }, client));
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  const peak = peakRssMb(opts.pid);
  await sleep(opts.settleSeconds * 1000);
  return {
    ...r,
    seconds,
    eventsPerSec: Math.round((r.ok * opts.eventsPerBody) / seconds),
    rssBeforeMb,
    peakRssMb: peak,
    settledRssMb: rssMb(opts.pid),
    settleSeconds: opts.settleSeconds,
  };
}
