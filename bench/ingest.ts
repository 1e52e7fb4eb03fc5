/**
 * `npm run bench:ingest`: ingest throughput and latency on this machine, load generator included.
 *
 * Starts Signalhouse as a child process (embedded chDB, fresh data directory, the default processors on)
 * and, from this process, drives OTLP/HTTP protobuf and JSON requests of 100 and 500 log records with
 * autocannon. In the same run it drives a bare Fastify server that parses the same payloads and echoes them
 * back (no pipeline, no storage) and prints the ratio. Then, for the latency targets, single-event requests at a
 * steady 1,000 req/s and 100-event requests at a steady 200 req/s from an open-loop generator (open-loop.ts), and
 * the same rates as autocannon sends them (in bursts at the top of each second). At the end the server is stopped with
 * SIGTERM and the stored rows are counted: every acknowledged event must be there. Last, protobuf 500/req again
 * on a server without processors. Every request carries fresh event ids (dedupe is on), written into a
 * template payload per request. Latency percentiles are exact, from every 2xx response time.
 *
 * Load scenarios keep BENCH_CONNECTIONS requests in flight (default 64): a reply waits for the commit, so
 * throughput needs enough requests in flight to keep both the pipeline and the INSERT busy.
 *
 * Options (env): BENCH_DURATION seconds per scenario (default 10), BENCH_CONNECTIONS (default 64),
 * BENCH_SCENARIOS comma-separated subset of
 * `protobuf-100,protobuf-500,json-100,json-500,single,batch-100,single-bursts,batch-100-bursts,no-processors` (default all; the bare server
 * runs for the load scenarios chosen), BENCH_ROLLUPS=0 (rollup views off), BENCH_EXPORTER (exporter options in YAML flow
 * style, e.g. `landing: { max_rows: 0 }`), BENCH_NODE_FLAGS (server node flags).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { openStore } from '../storage/store.ts';
import { freePort } from '../test/helpers/process.ts';
import { openLoop } from './open-loop.ts';

const ROOT = join(import.meta.dirname, '..');
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const KEY = 'wk_bench_key_0001';
const ALL_SCENARIOS = ['protobuf-100', 'protobuf-500', 'json-100', 'json-500', 'single', 'batch-100', 'single-bursts', 'batch-100-bursts', 'no-processors'];
const SCENARIOS = new Set((process.env.BENCH_SCENARIOS ?? ALL_SCENARIOS.join(',')).split(',').map((s) => s.trim()));
const LOADS = ([[100, 'protobuf'], [500, 'protobuf'], [100, 'json'], [500, 'json']] as const).filter(([n, enc]) => SCENARIOS.has(`${enc}-${n}`));

/** Placeholder in every event id; same length as the request counter written over it. */
const REQ_MARKER = 'R000000000';

let requestCounter = 0;

/** A body factory: each call returns the template with a fresh request number in every event id. */
function uniqueBodies(template: Buffer): () => Buffer {
  const marker = Buffer.from(REQ_MARKER);
  const offsets: number[] = [];
  for (let i = template.indexOf(marker); i >= 0; i = template.indexOf(marker, i + 1)) offsets.push(i);
  return () => {
    const body = Buffer.from(template);
    const stamp = Buffer.from(`R${String(++requestCounter).padStart(9, '0')}`);
    for (const o of offsets) stamp.copy(body, o);
    return body;
  };
}

/** `n` realistic product events (AI tool calls) serialized by the official OTel serializers. */
function payload(n: number): { proto: Buffer; json: Buffer } {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'bench-app', 'service.version': '1.4.2', 'deployment.environment': 'prod' }),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('signalhouse.bench', '1.0.0');
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    logger.emit({
      eventName: 'ai.tool_call_completed',
      timestamp: now + i,
      severityText: 'INFO',
      body: 'tool call completed',
      attributes: {
        // REQ_MARKER is overwritten with a request counter for every request, so every event id is unique.
        'log.record.uid': `${REQ_MARKER}-${String(i).padStart(4, '0')}`,
        'gen_ai.tool.name': ['lookup_order', 'search_kb', 'book_slot'][i % 3],
        'ai.tool.category': 'navigation',
        'ai.tool.duration_ms': 80 + (i % 200),
        'ai.tool.success': i % 11 !== 0,
        'gen_ai.conversation.id': `conv-${i % 97}`,
        'session.id': `sess-${i % 211}`,
        'user.id': `user-${i % 1009}`,
        'site.id': 'site-main',
      },
    });
  }
  const records = exporter.getFinishedLogRecords();
  return { proto: Buffer.from(ProtobufLogsSerializer.serializeRequest(records)!), json: Buffer.from(JsonLogsSerializer.serializeRequest(records)!) };
}

interface Proc {
  child: ChildProcess;
  url: string;
  exited: Promise<unknown>;
}

async function startProcess(args: string[], env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  // BENCH_NODE_FLAGS: extra node flags for the servers, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/ready`)).status === 200) return { child, url, exited };
    } catch {
      // starting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${args.join(' ')} did not become ready`);
}

/** Peak resident set size of a process, from /proc (VmHWM). */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** CPU seconds used so far by each kind of thread of a process, from /proc/<pid>/task/<tid>/stat. */
function threadCpu(pid: number): Map<string, number> {
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
    const kind = tid === String(pid) ? 'js main' : name === 'node' || name.startsWith('libuv') ? 'node threads' : /^MergeMut/.test(name) ? 'chdb merges' : 'chdb threads';
    byKind.set(kind, (byKind.get(kind) ?? 0) + seconds);
  }
  return byKind;
}

function cpuDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of after) d.set(k, v - (before.get(k) ?? 0));
  return d;
}

interface Row {
  /** Requests answered 2xx. */
  ok: number;
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
  /** Events still in flight when the clock stops: committed, but not counted as acknowledged. */
  inFlightMax: number;
  /** Server CPU per acknowledged event, µs, by kind of thread; and the load generator's. */
  cpu?: { total: number; byKind: Map<string, number>; loadGen: number };
}

/** Exact percentile of sorted milliseconds, to 0.1 ms. */
function percentile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10;
}

/** A steady `rate` of requests from the open-loop generator (latency from each request's scheduled start). */
async function driveSteady(url: string, scenario: string, template: Buffer, perRequest: number, rate: number, pid: number): Promise<Row> {
  const nextBody = uniqueBodies(template);
  const cpuBefore = threadCpu(pid);
  const genBefore = process.cpuUsage();
  const r = await openLoop({ url: `${url}/v1/logs`, headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${KEY}` }, body: nextBody, rate, seconds: DURATION });
  const gen = process.cpuUsage(genBefore);
  const events = Math.max(1, r.ok * perRequest);
  const byKind = new Map([...cpuDelta(cpuBefore, threadCpu(pid))].map(([k, v]) => [k, (v * 1e6) / events]));
  return {
    ok: r.ok,
    scenario: `${scenario} (generator late by p99 ${r.sendLagP99.toFixed(1)} ms; ${r.maxInFlight} in flight at most)`,
    target: 'signalhouse',
    eventsPerSec: Math.round((r.ok * perRequest) / r.seconds),
    reqPerSec: Math.round(r.ok / r.seconds),
    p50: percentile(r.latencies, 0.5),
    p95: percentile(r.latencies, 0.95),
    p99: percentile(r.latencies, 0.99),
    non2xx: r.non2xx,
    errors: r.errors,
    // Every reply is awaited: what was sent and acknowledged is counted exactly.
    inFlightMax: 0,
    cpu: { total: [...byKind.values()].reduce((a, b) => a + b, 0), byKind, loadGen: (gen.user + gen.system) / events },
  };
}

async function drive(target: string, url: string, scenario: string, template: Buffer, contentType: string, perRequest: number, extra: Partial<autocannon.Options> = {}, pid?: number): Promise<Row> {
  const nextBody = uniqueBodies(template);
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
    inFlightMax: (extra.connections ?? CONNECTIONS) * perRequest,
    cpu,
  };
}

/** Group commits, INSERTs and landing moves so far (counts, mean size and latency), from the server's own /metrics. */
async function insertStats(url: string): Promise<string> {
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

function table(rows: Row[]): string {
  const head = '| scenario | target | events/s | req/s | p50 ms | p95 ms | p99 ms | non-2xx | errors |';
  const sep = '|---|---|---:|---:|---:|---:|---:|---:|---:|';
  return [head, sep, ...rows.map((r) => `| ${r.scenario} | ${r.target} | ${r.eventsPerSec.toLocaleString('en-US')} | ${r.reqPerSec.toLocaleString('en-US')} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.non2xx} | ${r.errors} |`)].join('\n');
}

const latencyLoadsChosen = () => ['single', 'batch-100', 'single-bursts', 'batch-100-bursts'].some((n) => SCENARIOS.has(n));

/** Waits (at most 120 s) until a process uses under 10% of a core over a second; returns the seconds waited. */
async function quiet(pid: number): Promise<number> {
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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sh-bench-'));
  const configPath = join(dir, 'signalhouse.yaml');
  // BENCH_ROLLUPS=0 turns the rollup's materialized views off, to show what they cost.
  // BENCH_EXPORTER adds exporter options, in YAML flow style, e.g. `landing: { max_rows: 0 }`.
  const exporter = [process.env.BENCH_ROLLUPS === '0' ? 'rollups: false' : '', process.env.BENCH_EXPORTER ?? ''].filter(Boolean).join(', ');
  writeFileSync(configPath, `tenants:\n  - id: bench\n    write_keys: [${KEY}]\nexporters: { clickhouse: { ${exporter} } }\n`);
  const payloads = { 100: payload(100), 500: payload(500), 1: payload(1) };
  console.log(`payload sizes: 100 records = ${payloads[100].proto.length} B protobuf / ${payloads[100].json.length} B JSON; 500 records = ${payloads[500].proto.length} B / ${payloads[500].json.length} B`);
  console.log(`${DURATION}s per scenario, ${CONNECTIONS} connections, machine: ${(await import('node:os')).cpus().length} cores\n`);

  const rows: Row[] = [];
  const bare = await startProcess([join(ROOT, 'bench', 'bare-server.ts')], {});
  for (const [n, enc] of LOADS) {
    const p = payloads[n];
    rows.push(await drive('bare Fastify echo', bare.url, `${enc} ${n}/req`, enc === 'protobuf' ? p.proto : p.json, enc === 'protobuf' ? 'application/x-protobuf' : 'application/json', n));
  }
  bare.child.kill('SIGTERM');
  await bare.exited;

  const server = await startProcess([join(ROOT, 'service', 'main.ts'), '--config', configPath], { SIGNALHOUSE_DATA_DIR: join(dir, 'data') });
  let accepted = 0;
  let slack = 0;
  for (const [n, enc] of LOADS) {
    const p = payloads[n];
    const row = await drive('signalhouse', server.url, `${enc} ${n}/req`, enc === 'protobuf' ? p.proto : p.json, enc === 'protobuf' ? 'application/x-protobuf' : 'application/json', n, {}, server.child.pid);
    accepted += row.ok * n;
    slack += row.inFlightMax;
    rows.push(row);
  }
  // Latency at a steady rate is measured on a quiet server, not while the saturation scenarios' merges still run
  // (they left single-event p99 at ~200 ms in the first seconds): wait until its CPU falls below 10% of a core.
  if (LOADS.length > 0 && latencyLoadsChosen()) console.log(`waited ${await quiet(server.child.pid!)} s for the server to go quiet before the latency scenarios`);
  // The latency targets at a steady rate: single events at 1,000 req/s, and 100-event requests at 200 req/s
  // (20k events/s, twice the seed's 10k events/s SLA), from the open-loop generator.
  const latencyLoads = [
    ['single', 1, 1000, 'protobuf 1/req at 1k req/s'],
    ['batch-100', 100, 200, 'protobuf 100/req at 200 req/s'],
  ] as const;
  for (const [name, n, rate, label] of latencyLoads) {
    if (!SCENARIOS.has(name)) continue;
    const row = await driveSteady(server.url, `${label}, steady`, payloads[n].proto, n, rate, server.child.pid!);
    rows.push(row);
    accepted += row.ok * n;
  }
  // The same rates as autocannon sends them: each connection's share of a second back to back at the top of
  // the second, i.e. bursts of 100 (32) concurrent requests. Kept to compare with earlier figures.
  for (const [name, n, rate, label] of latencyLoads) {
    if (!SCENARIOS.has(`${name}-bursts`)) continue;
    const connections = n === 1 ? Number(process.env.BENCH_SINGLE_CONNECTIONS ?? 100) : 32;
    const row = await drive('signalhouse', server.url, `${label}, autocannon bursts`, payloads[n].proto, 'application/x-protobuf', n, { overallRate: rate, connections }, server.child.pid);
    rows.push(row);
    accepted += row.ok * n;
    slack += row.inFlightMax;
  }
  const rss = peakRssMb(server.child.pid!);
  const inserts = await insertStats(server.url);
  server.child.kill('SIGTERM');
  await server.exited;

  const store = await openStore({ dataDir: join(dir, 'data') });
  const rs = await store.client.query({ query: "SELECT count() AS n FROM signalhouse.otel_logs WHERE TenantId = 'bench'", format: 'JSONEachRow' });
  const stored = Number((await rs.json<{ n: string }>())[0].n);
  await store.close();

  // The same protobuf 500/req load with no processors, on a fresh store: what the whole chain costs.
  const bareConfig = join(dir, 'no-processors.yaml');
  writeFileSync(bareConfig, `tenants:\n  - id: bench\n    write_keys: [${KEY}]\nreceivers: { otlp: {} }\nexporters: { clickhouse: {} }\nservice:\n  pipelines:\n    logs: { receivers: [otlp], processors: [], exporters: [clickhouse] }\n`);
  if (SCENARIOS.has('no-processors')) {
    const plain = await startProcess([join(ROOT, 'service', 'main.ts'), '--config', bareConfig], { SIGNALHOUSE_DATA_DIR: join(dir, 'data-plain') });
    rows.push(await drive('signalhouse, no processors', plain.url, 'protobuf 500/req', payloads[500].proto, 'application/x-protobuf', 500, {}, plain.child.pid));
    plain.child.kill('SIGTERM');
    await plain.exited;
  }
  rmSync(dir, { recursive: true, force: true });

  console.log(table(rows));
  console.log('\nsignalhouse / bare Fastify echo of the same payload (events/s):');
  for (const r of rows.filter((x) => x.target === 'signalhouse' && !x.scenario.includes(' at '))) {
    const b = rows.find((x) => x.target === 'bare Fastify echo' && x.scenario === r.scenario);
    if (!b) continue;
    console.log(`  ${r.scenario}: ${((100 * r.eventsPerSec) / b.eventsPerSec).toFixed(0)}%`);
  }
  console.log('\nCPU per acknowledged event (µs), by thread kind; load generator = this process:');
  for (const r of rows.filter((x) => x.cpu)) {
    const parts = [...r.cpu!.byKind].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`);
    console.log(`  ${r.target}, ${r.scenario}: ${r.cpu!.total.toFixed(1)} µs = ${parts.join(', ')}; load generator ${r.cpu!.loadGen.toFixed(1)}`);
  }
  console.log(`\nsignalhouse peak RSS: ${rss} MB; ${inserts}`);
  // Requests still in flight when a scenario's clock stops are committed too, but autocannon does not count
  // their replies: stored may exceed acknowledged by at most connections × records per request per scenario.
  const ok = stored >= accepted && stored <= accepted + slack;
  console.log(`events acknowledged: ${accepted.toLocaleString('en-US')}; rows stored: ${stored.toLocaleString('en-US')} ${ok ? '(every acknowledged event stored)' : '(LOST OR EXTRA ROWS)'}`);
  if (!ok) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
