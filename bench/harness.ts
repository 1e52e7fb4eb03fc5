/**
 * What `bench:ingest`'s scenarios share: starting a server as a child process, driving it (autocannon for
 * saturation, the open-loop generator in a process of its own for steady rates), reading its CPU by thread kind and its memory from
 * /proc, and printing the results.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { freePort } from '../test/helpers/process.ts';
import { reserveRequests, uniqueBodies } from './payloads.ts';
import type { SteadyResult, SteadySpec } from './open-loop.ts';

export const ROOT = join(import.meta.dirname, '..');
export const DURATION = Number(process.env.BENCH_DURATION ?? 10);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
export const KEY = 'wk_bench_key_0001';

export interface Proc {
  child: ChildProcess;
  url: string;
  /** The gRPC listener's `host:port`. */
  grpcAddress: string;
  exited: Promise<unknown>;
}

export async function startProcess(args: string[], env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const grpcPort = await freePort();
  // BENCH_NODE_FLAGS: extra node flags for the servers, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, ['--enable-experimental-regexp-engine', ...flags, '--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), GRPC_PORT: String(grpcPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/ready`)).status === 200) return { child, url, grpcAddress: `127.0.0.1:${grpcPort}`, exited };
    } catch {
      // starting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${args.join(' ')} did not become ready`);
}

/** Peak resident set size of a process, from /proc (VmHWM). */
export function peakRssMb(pid: number): number {
  return statusMb(pid, 'VmHWM');
}

/** Resident set size of a process now, from /proc (VmRSS). */
export function rssMb(pid: number): number {
  return statusMb(pid, 'VmRSS');
}

function statusMb(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** CPU seconds used so far by each kind of thread of a process, from /proc/<pid>/task/<tid>/stat. */
export function threadCpu(pid: number): Map<string, number> {
  const byKind = new Map<string, number>();
  const tick = 100; // USER_HZ
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // thread ended
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / tick;
    // Threads named 'node' are V8's GC helpers and libuv's pool, which also runs each chDB call; ClickHouse names its own.
    const kind =
      tid === String(pid) ? 'js main' : name === 'node' || name.startsWith('libuv') ? 'node threads' : /^MergeMut/.test(name) ? 'chdb merges' : 'chdb threads';
    byKind.set(kind, (byKind.get(kind) ?? 0) + seconds);
  }
  return byKind;
}

export function cpuDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of after) d.set(k, v - (before.get(k) ?? 0));
  return d;
}

export interface Row {
  /** Requests answered 2xx. */
  ok: number;
  /** Steady scenarios: requests answered 2xx in the warm-up before the measured seconds (counted only as stored). */
  warmupOk?: number;
  scenario: string;
  target: string;
  eventsPerSec: number;
  reqPerSec: number;
  /** Exact percentiles of the 2xx response times (ms). */
  p50: number;
  p95: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** Events still in flight when the clock stops, or timed out: may be committed, but not counted as acknowledged. */
  inFlightMax: number;
  /** Server CPU per acknowledged event, µs, by kind of thread; and the load generator's. */
  cpu?: { total: number; byKind: Map<string, number>; loadGen: number };
}

/** Exact percentile of sorted milliseconds, to 0.1 ms. */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10;
}

/**
 * A steady `rate` of requests (OTLP/HTTP) or calls (OTLP/gRPC) for BENCH_DURATION seconds after the warm-up,
 * latency from each one's scheduled start, from a generator in a process of its own (steady-client.ts). The
 * server's CPU is read over the measured seconds only.
 */
export async function driveSteady(
  transport: SteadySpec['transport'],
  target: string,
  scenario: string,
  template: Buffer,
  perRequest: number,
  rate: number,
  pid: number,
): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'sh-steady-'));
  const templateFile = join(dir, 'template.bin');
  writeFileSync(templateFile, template);
  // Request numbers for the warm-up and the measured seconds, with room to spare.
  const firstRequest = reserveRequests(rate * (DURATION + 60));
  const spec: SteadySpec = { transport, target, templateFile, rate, seconds: DURATION, firstRequest };
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'steady-client.ts'), JSON.stringify(spec)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let cpuBefore = threadCpu(pid);
  let cpuAfter = cpuBefore;
  let last = '';
  for await (const line of createInterface({ input: child.stdout! })) {
    if (line === 'measuring') cpuBefore = threadCpu(pid);
    else {
      cpuAfter = threadCpu(pid);
      last = line;
    }
  }
  const code = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0 || last === '') throw new Error(`the steady load generator failed (exit ${code})`);
  const r = JSON.parse(last) as SteadyResult;
  const events = Math.max(1, r.ok * perRequest);
  const byKind = new Map([...cpuDelta(cpuBefore, cpuAfter)].map(([k, v]) => [k, (v * 1e6) / events]));
  return {
    ok: r.ok,
    warmupOk: r.warmupOk,
    scenario: `${scenario} (generator late by p99 ${r.sendLagP99.toFixed(1)} ms; ${r.maxInFlight} in flight at most)`,
    target: 'signalhouse',
    eventsPerSec: Math.round((r.ok * perRequest) / r.seconds),
    reqPerSec: Math.round(r.ok / r.seconds),
    p50: r.p50,
    p95: r.p95,
    p99: r.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    // Every reply is awaited: what was sent and acknowledged is counted exactly.
    inFlightMax: 0,
    cpu: { total: [...byKind.values()].reduce((a, b) => a + b, 0), byKind, loadGen: r.cpuMicros / events },
  };
}

export async function drive(
  target: string,
  url: string,
  scenario: string,
  templates: Buffer | readonly Buffer[],
  contentType: string,
  perRequest: number,
  extra: Partial<autocannon.Options> = {},
  pid?: number,
): Promise<Row> {
  const nextBody = uniqueBodies(templates);
  const cpuBefore = pid ? threadCpu(pid) : undefined;
  const genBefore = process.cpuUsage();
  const instance = autocannon({
    url: `${url}/v1/logs`,
    method: 'POST',
    headers: { 'content-type': contentType, authorization: `Bearer ${KEY}` },
    requests: [{ setupRequest: (req) => ({ ...req, body: nextBody() }) }],
    connections: CONNECTIONS,
    duration: DURATION,
    ...extra,
  });
  const times: number[] = [];
  // autocannon returns its event-emitting instance, typed only as the promise it also is.
  (instance as unknown as autocannon.Instance).on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) times.push(ms);
  });
  const result = await instance;
  times.sort((a, b) => a - b);
  const pct = (q: number) => percentile(times, q);
  const ok = result['2xx'];
  const seconds = result.duration;
  const gen = process.cpuUsage(genBefore);
  let cpu: Row['cpu'];
  if (pid && cpuBefore && ok > 0) {
    const events = ok * perRequest;
    const byKind = new Map([...cpuDelta(cpuBefore, threadCpu(pid))].map(([k, v]) => [k, (v * 1e6) / events]));
    cpu = { total: [...byKind.values()].reduce((a, b) => a + b, 0), byKind, loadGen: (gen.user + gen.system) / events };
  }
  return {
    ok,
    scenario,
    target,
    eventsPerSec: Math.round((ok * perRequest) / seconds),
    reqPerSec: Math.round(ok / seconds),
    p50: pct(0.5),
    p95: pct(0.95),
    p99: pct(0.99),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    // Requests that timed out may still have been committed after the client gave up on them.
    inFlightMax: ((extra.connections ?? CONNECTIONS) + result.errors + result.timeouts) * perRequest,
    cpu,
  };
}

/** Group commits, INSERTs and landing moves so far (counts, mean size and latency), from the server's own /metrics. */
export async function insertStats(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string, labels = '') => Number(new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const groups = value('signalhouse_exporter_batch_rows_count', '{table="otel_logs"}');
  const groupRows = value('signalhouse_exporter_batch_rows_sum', '{table="otel_logs"}');
  const commits = (table: string) => {
    const n = value('signalhouse_exporter_commit_duration_seconds_count', `{table="${table}"}`);
    return `${fmt(n)} into ${table} (${n ? Math.round((value('signalhouse_exporter_commit_duration_seconds_sum', `{table="${table}"}`) * 1000) / n) : 0} ms each)`;
  };
  const moves = value('signalhouse_exporter_landing_move_duration_seconds_count');
  const moved = value('signalhouse_exporter_landing_moved_rows_total');
  const moveMs = moves ? Math.round((value('signalhouse_exporter_landing_move_duration_seconds_sum') * 1000) / moves) : 0;
  const lag = (q: string) => (value(`signalhouse_nodejs_eventloop_lag_${q}_seconds`) * 1000).toFixed(1);
  return `event loop lag p50 ${lag('p50')} / p99 ${lag('p99')} ms; ${fmt(groups)} group commits of ${fmt(groupRows / groups)} rows on average; INSERTs: ${commits('landing')}, ${commits('otel_logs')}; ${fmt(moves)} landing moves of ${fmt(moves ? moved / moves : 0)} rows (${moveMs} ms each)`;
}

export function table(rows: Row[]): string {
  const head = '| scenario | target | events/s | req/s | p50 ms | p95 ms | p99 ms | non-2xx | errors |';
  const sep = '|---|---|---:|---:|---:|---:|---:|---:|---:|';
  return [
    head,
    sep,
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.target} | ${r.eventsPerSec.toLocaleString('en-US')} | ${r.reqPerSec.toLocaleString('en-US')} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.non2xx} | ${r.errors} |`,
    ),
  ].join('\n');
}

/** Waits (at most 120 s) until a process uses under 10% of a core over a second; returns the seconds waited. */
export async function quiet(pid: number): Promise<number> {
  const started = performance.now();
  const total = () => [...threadCpu(pid).values()].reduce((a, b) => a + b, 0);
  for (let before = total(); performance.now() - started < 120_000; ) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = total();
    if (now - before < 0.1) break;
    before = now;
  }
  return Math.round((performance.now() - started) / 1000);
}
