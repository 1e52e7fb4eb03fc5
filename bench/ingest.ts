/**
 * `npm run bench:ingest`: ingest throughput and latency on this machine, load generator included.
 *
 * Starts Signalhouse as a child process (embedded chDB, fresh data directory, the default processors on)
 * and, from this process, drives OTLP/HTTP protobuf and JSON requests of 100 and 500 log records with
 * autocannon: AI tool-call events (no URL or user agent), and web events as a browser tracker sends them (URL
 * with UTM parameters and sometimes an email, user agent, client address, referrer; payloads.ts). In the same
 * run it drives two bare Fastify servers on the same payloads (bare-server.ts): one that only parses them, and
 * one that parses and echoes them back; it prints the ratio to each. Then, for the latency targets,
 * single-event requests at a steady 1,000 req/s and 100-event requests at a steady 200 req/s from an open-loop
 * generator (open-loop.ts), and the same rates as autocannon sends them (in bursts at the top of each second).
 * OTLP/gRPC beside them (grpc-load.ts, a lean node:http2 client): protobuf 500 records a call with
 * BENCH_CONNECTIONS calls in flight, and single-record calls at a steady 1,000 calls/s, on the same payloads. At the end the server is stopped with
 * SIGTERM and the stored rows are counted: every acknowledged event must be there. Then protobuf 500/req again on a server without processors, then with rate limiting off / on locally / on through Redis (rate-limits.ts), web protobuf 500/req on a server with encryption at rest
 * on (`web-encrypted`: the client address, user agent and referrer of every event sealed as PII, against the
 * default server's web protobuf 500/req, which has it off), and last the large-body scenario on a
 * fresh server (large-body.ts): concurrent OTLP/JSON bodies near the receiver's body limit, peak and settled RSS.
 * Every request carries fresh event ids (dedupe is on), written into a template payload per request. Latency
 * percentiles are exact, from every 2xx response time.
 *
 * Load scenarios keep BENCH_CONNECTIONS requests in flight (default 64): a reply waits for the commit, so
 * throughput needs enough requests in flight to keep both the pipeline and the INSERT busy.
 *
 * Options (env): BENCH_DURATION seconds per scenario (default 10), BENCH_CONNECTIONS (default 64),
 * BENCH_SCENARIOS comma-separated subset of SCENARIO_NAMES below (default all; the bare servers run for the load
 * scenarios chosen), BENCH_ROLLUPS=0 (rollup views off), BENCH_EXPORTER (exporter options in YAML flow style,
 * e.g. `landing: { max_rows: 0 }`), BENCH_NODE_FLAGS (server node flags), BENCH_BARE=0 (no bare servers),
 * BENCH_SLI=0 (SLI observation off), BENCH_LARGE_MB (large bodies' size, default 15 MB, at most the body limit),
 * BENCH_LARGE_CONNECTIONS (default 12), BENCH_SETTLE seconds idle before the settled RSS (default 12),
 * BENCH_GRPC_CHANNELS (gRPC connections the calls share, default 4), BENCH_GRPC_CLIENT=grpc-js (the gRPC
 * scenarios from @grpc/grpc-js clients instead of the node:http2 one, for comparison), BENCH_PER_PERSON_KEYS=1
 * (`web-encrypted` with a data key per visitor, made and stored as each new visitor's first batch is sealed).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { otlpReceiverSchema } from '../receiver/otlp/config.ts';
import { openStore } from '../storage/store.ts';
import { CONNECTIONS, drive, driveSteady, DURATION, insertStats, KEY, peakRssMb, type Proc, quiet, ROOT, type Row, startProcess, table } from './harness.ts';
import { driveGrpc, grpcScenario } from './grpc-load.ts';
import { largeBodies } from './large-body.ts';
import { rateLimitScenario } from './rate-limits.ts';
import { aiPayload, largeWebPayloads, type Payload, webPayloads } from './payloads.ts';

const LOAD_NAMES = ['protobuf-100', 'protobuf-500', 'json-100', 'json-500', 'web-protobuf-100', 'web-protobuf-500', 'web-json-100', 'web-json-500'];
const GRPC_LOAD = 'grpc-protobuf-500';
const SCENARIO_NAMES = [
  ...LOAD_NAMES,
  GRPC_LOAD,
  'single',
  'grpc-single',
  'batch-100',
  'single-bursts',
  'batch-100-bursts',
  'no-processors',
  'web-encrypted',
  'rate-limits',
  'large-body',
];
const SCENARIOS = new Set((process.env.BENCH_SCENARIOS ?? SCENARIO_NAMES.join(',')).split(',').map((s) => s.trim()));
for (const s of SCENARIOS) if (!SCENARIO_NAMES.includes(s)) throw new Error(`unknown scenario ${s} (known: ${SCENARIO_NAMES.join(', ')})`);
const BARE = { echo: 'bare Fastify echo', parse: 'bare Fastify parse' } as const;

interface Load {
  label: string;
  templates: Buffer[];
  contentType: string;
  perRequest: number;
}

/** The saturation loads chosen; web events come as templates sent in turn (at least 16,000 events a cycle). */
function loads(): Load[] {
  const out: Load[] = [];
  for (const name of LOAD_NAMES.filter((n) => SCENARIOS.has(n))) {
    const web = name.startsWith('web-');
    const [enc, count] = name.replace('web-', '').split('-');
    const n = Number(count);
    const payloads = web ? webPayloads(n, Math.ceil(16_000 / n)) : [aiPayload(n)];
    out.push({
      label: `${web ? 'web ' : ''}${enc} ${n}/req`,
      templates: payloads.map((p) => (enc === 'protobuf' ? p.proto : p.json)),
      contentType: enc === 'protobuf' ? 'application/x-protobuf' : 'application/json',
      perRequest: n,
    });
  }
  return out;
}

async function stop(p: Proc): Promise<void> {
  p.child.kill('SIGTERM');
  await p.exited;
}

async function countStored(dataDir: string): Promise<number> {
  const store = await openStore({ dataDir });
  const rs = await store.client.query({ query: "SELECT count() AS n FROM signalhouse.otel_logs WHERE TenantId = 'bench'", format: 'JSONEachRow' });
  const n = Number((await rs.json<{ n: string }>())[0].n);
  await store.close();
  return n;
}

const latencyChosen = () => ['single', 'grpc-single', 'batch-100', 'single-bursts', 'batch-100-bursts'].some((n) => SCENARIOS.has(n));

const tenantsYaml = `tenants:\n  - id: bench\n    write_keys: [${KEY}]\n`;

/** Large OTLP/JSON bodies of web events on a fresh server: replies by kind, peak and settled RSS. */
async function largeBodyScenario(dir: string, configPath: string): Promise<string[]> {
  const limit = otlpReceiverSchema.parse({}).protocols.http!.max_request_body_size;
  const wanted = Number(process.env.BENCH_LARGE_MB ?? 15) * 1e6;
  const size = Math.min(wanted, limit);
  const connections = Number(process.env.BENCH_LARGE_CONNECTIONS ?? 12);
  const payloads = largeWebPayloads(size, 2);
  const events = payloads[0].events;
  const bytes = Math.max(...payloads.map((p) => p.json.length));
  const server = await startProcess([join(ROOT, 'service', 'main.ts'), '--config', configPath], { SIGNALHOUSE_DATA_DIR: join(dir, 'data-large') });
  const r = await largeBodies({
    url: server.url,
    pid: server.child.pid!,
    templates: payloads.map((p) => p.json),
    eventsPerBody: events,
    connections,
    seconds: DURATION,
    settleSeconds: Number(process.env.BENCH_SETTLE ?? 12),
  });
  await stop(server);
  const stored = await countStored(join(dir, 'data-large'));
  const other = [...r.other].map(([s, n]) => `${n}× ${s}`).join(', ') || 'none';
  return [
    `large bodies: ${connections} clients, OTLP/JSON web events, ${(bytes / 1e6).toFixed(1)} MB = ${events.toLocaleString('en-US')} events a body${size < wanted ? ` (the body limit, ${limit} bytes, is under ${wanted / 1e6} MB)` : ''}, ${r.seconds.toFixed(1)} s`,
    `  replies: ${r.ok} 2xx, ${r.shed} 503 (${r.retryAfter} with Retry-After), other non-2xx ${other}, errors ${r.errors}; ${r.eventsPerSec.toLocaleString('en-US')} events/s acknowledged`,
    `  RSS before ${r.rssBeforeMb} MB, peak (VmHWM) ${r.peakRssMb} MB, settled after ${r.settleSeconds} s idle ${r.settledRssMb} MB`,
    `  rows stored ${stored.toLocaleString('en-US')} for ${(r.ok * events).toLocaleString('en-US')} acknowledged ${stored >= r.ok * events ? '(every acknowledged event stored)' : '(LOST ROWS)'}`,
  ];
}

/** The saturation and latency scenarios on a server with the default processors; then its stored rows are counted. */
async function defaultServer(dir: string, configPath: string, chosen: readonly Load[], small: Record<1 | 100 | 500, Payload>, rows: Row[]) {
  let accepted = 0;
  let slack = 0;
  const server = await startProcess([join(ROOT, 'service', 'main.ts'), '--config', configPath], { SIGNALHOUSE_DATA_DIR: join(dir, 'data') });
  for (const l of chosen) {
    const row = await drive('signalhouse', server.url, l.label, l.templates, l.contentType, l.perRequest, {}, server.child.pid);
    accepted += row.ok * l.perRequest;
    slack += row.inFlightMax;
    rows.push(row);
  }
  // OTLP/gRPC on the same payload as protobuf 500/req, to compare with it.
  if (SCENARIOS.has(GRPC_LOAD)) {
    const row = await driveGrpc(server.grpcAddress, 'protobuf 500/call', small[500].proto, 500, server.child.pid!);
    accepted += row.ok * 500;
    rows.push(row);
  }
  const loaded = chosen.length > 0 || SCENARIOS.has(GRPC_LOAD);
  // Latency at a steady rate is measured on a quiet server, not while the saturation scenarios' merges still run
  // (they left single-event p99 at ~200 ms in the first seconds): wait until its CPU falls below 10% of a core.
  if (loaded && latencyChosen()) console.log(`waited ${await quiet(server.child.pid!)} s for the server to go quiet before the latency scenarios`);
  // The latency targets at a steady rate: single events at 1,000 req/s, and 100-event requests at 200 req/s
  // (20k events/s, twice the 10k events/s SLA), from the open-loop generator.
  const latencyLoads = [
    ['single', 1, 1000, 'protobuf 1/req at 1k req/s'],
    ['batch-100', 100, 200, 'protobuf 100/req at 200 req/s'],
  ] as const;
  for (const [name, n, rate, label] of latencyLoads) {
    if (!SCENARIOS.has(name)) continue;
    const row = await driveSteady('http', server.url, `${label}, steady`, small[n].proto, n, rate, server.child.pid!);
    rows.push(row);
    accepted += (row.ok + (row.warmupOk ?? 0)) * n;
  }
  if (SCENARIOS.has('grpc-single')) {
    const row = await driveSteady(
      'grpc',
      server.grpcAddress,
      grpcScenario('protobuf 1/call at 1k calls/s, steady'),
      small[1].proto,
      1,
      1000,
      server.child.pid!,
    );
    rows.push(row);
    accepted += row.ok + (row.warmupOk ?? 0);
  }
  // The same rates as autocannon sends them: each connection's share of a second back to back at the top of
  // the second, i.e. bursts of 100 (32) concurrent requests. Kept to compare with earlier figures.
  for (const [name, n, rate, label] of latencyLoads) {
    if (!SCENARIOS.has(`${name}-bursts`)) continue;
    const connections = n === 1 ? Number(process.env.BENCH_SINGLE_CONNECTIONS ?? 100) : 32;
    const row = await drive(
      'signalhouse',
      server.url,
      `${label}, autocannon bursts`,
      small[n].proto,
      'application/x-protobuf',
      n,
      { overallRate: rate, connections },
      server.child.pid,
    );
    rows.push(row);
    accepted += row.ok * n;
    slack += row.inFlightMax;
  }
  const rss = peakRssMb(server.child.pid!);
  const inserts = await insertStats(server.url);
  await stop(server);
  const stored = await countStored(join(dir, 'data'));
  return { accepted, slack, stored, rss, inserts };
}

/**
 * Web events, protobuf 500/req, on a fresh server with encryption at rest on: three attributes of every event
 * (client address, user agent, referrer) sealed as PII, under the tenant's key or, with BENCH_PER_PERSON_KEYS=1,
 * each visitor's own.
 */
async function encryptedServer(dir: string): Promise<Row> {
  const config = join(dir, 'encrypted.yaml');
  const perPerson = process.env.BENCH_PER_PERSON_KEYS === '1';
  writeFileSync(
    config,
    `${tenantsYaml}exporters: { clickhouse: {} }\nencryption:\n  master_key_env: BENCH_MASTER_KEY\n  pii_attributes: [client.address, user_agent.original, page.referrer]\n  per_person_keys: ${perPerson}\n`,
  );
  const server = await startProcess([join(ROOT, 'service', 'main.ts'), '--config', config], {
    SIGNALHOUSE_DATA_DIR: join(dir, 'data-encrypted'),
    BENCH_MASTER_KEY: randomBytes(32).toString('base64'),
  });
  const templates = webPayloads(500, Math.ceil(16_000 / 500)).map((p) => p.proto);
  const target = `signalhouse, encryption on${perPerson ? ' (per-person keys)' : ''}`;
  const row = await drive(target, server.url, 'web protobuf 500/req', templates, 'application/x-protobuf', 500, {}, server.child.pid);
  await stop(server);
  return row;
}

/** The results table, the ratios to both bare servers, and CPU per event by thread kind. */
function report(rows: Row[]): void {
  console.log(table(rows));
  for (const [mode, target] of Object.entries(BARE)) {
    const lines = rows
      .filter((x) => x.target === 'signalhouse' && !x.scenario.includes(' at '))
      .flatMap((r) => {
        const b = rows.find((x) => x.target === target && x.scenario === r.scenario);
        return b ? [`  ${r.scenario}: ${((100 * r.eventsPerSec) / b.eventsPerSec).toFixed(0)}%`] : [];
      });
    if (lines.length)
      console.log(`\nsignalhouse / ${target} of the same payload (events/s)${mode === 'parse' ? ': parse only, reply {}' : ''}:\n${lines.join('\n')}`);
  }
  const encrypted = rows.find((r) => r.target.startsWith('signalhouse, encryption on'));
  const clear = rows.find((r) => r.target === 'signalhouse' && r.scenario === 'web protobuf 500/req');
  if (encrypted)
    console.log(
      `\nweb protobuf 500/req, encryption on: ${encrypted.eventsPerSec.toLocaleString('en-US')} events/s${clear ? `, ${((100 * encrypted.eventsPerSec) / clear.eventsPerSec).toFixed(0)}% of encryption off (${clear.eventsPerSec.toLocaleString('en-US')} events/s)` : ''}`,
    );
  const grpc = rows.find((r) => r.scenario.startsWith('OTLP/gRPC protobuf 500/call'));
  const http = rows.find((r) => r.target === 'signalhouse' && r.scenario === 'protobuf 500/req');
  if (grpc && http) console.log(`\nOTLP/gRPC / OTLP/HTTP, protobuf 500 records (events/s): ${((100 * grpc.eventsPerSec) / http.eventsPerSec).toFixed(0)}%`);
  console.log('\nCPU per acknowledged event (µs), by thread kind; load generator = this process:');
  for (const r of rows.filter((x) => x.cpu)) {
    const parts = [...r.cpu!.byKind].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`);
    console.log(`  ${r.target}, ${r.scenario}: ${r.cpu!.total.toFixed(1)} µs = ${parts.join(', ')}; load generator ${r.cpu!.loadGen.toFixed(1)}`);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sh-bench-'));
  const configPath = join(dir, 'signalhouse.yaml');
  // BENCH_ROLLUPS=0 turns the rollup's materialized views off, to show what they cost.
  // BENCH_EXPORTER adds exporter options, in YAML flow style, e.g. `landing: { max_rows: 0 }`.
  const exporter = [process.env.BENCH_ROLLUPS === '0' ? 'rollups: false' : '', process.env.BENCH_EXPORTER ?? ''].filter(Boolean).join(', ');
  // BENCH_SLI=0 turns the SLI metrics' observation off (alerting.sli_metrics), to show what it costs.
  const alerting = process.env.BENCH_SLI === '0' ? 'alerting: { sli_metrics: false }\n' : '';
  writeFileSync(configPath, `${tenantsYaml}exporters: { clickhouse: { ${exporter} } }\n${alerting}`);
  const chosen = loads();
  const small = { 100: aiPayload(100), 500: aiPayload(500), 1: aiPayload(1) };
  const web = webPayloads(500, 1)[0];
  console.log(
    `payload sizes: AI events 100 = ${small[100].proto.length} B protobuf / ${small[100].json.length} B JSON, 500 = ${small[500].proto.length} B / ${small[500].json.length} B; web events 500 = ${web.proto.length} B / ${web.json.length} B`,
  );
  console.log(`${DURATION}s per scenario, ${CONNECTIONS} connections, machine: ${cpus().length} cores\n`);

  const rows: Row[] = [];
  if (process.env.BENCH_BARE !== '0') {
    for (const mode of ['parse', 'echo'] as const) {
      if (chosen.length === 0) break;
      const bare = await startProcess([join(ROOT, 'bench', 'bare-server.ts')], { BARE_REPLY: mode });
      for (const l of chosen) rows.push(await drive(BARE[mode], bare.url, l.label, l.templates, l.contentType, l.perRequest));
      await stop(bare);
    }
  }

  const measured = chosen.length > 0 || SCENARIOS.has(GRPC_LOAD) || latencyChosen() ? await defaultServer(dir, configPath, chosen, small, rows) : undefined;
  const { accepted, slack, stored, rss, inserts } = measured ?? { accepted: 0, slack: 0, stored: 0, rss: 0, inserts: '' };

  // The same protobuf 500/req load with no processors, on a fresh store: what the whole chain costs.
  if (SCENARIOS.has('no-processors')) {
    const plainConfig = join(dir, 'no-processors.yaml');
    writeFileSync(
      plainConfig,
      `${tenantsYaml}receivers: { otlp: {} }\nexporters: { clickhouse: {} }\nservice:\n  pipelines:\n    logs: { receivers: [otlp], processors: [], exporters: [clickhouse] }\n`,
    );
    const plain = await startProcess([join(ROOT, 'service', 'main.ts'), '--config', plainConfig], { SIGNALHOUSE_DATA_DIR: join(dir, 'data-plain') });
    rows.push(await drive('signalhouse, no processors', plain.url, 'protobuf 500/req', small[500].proto, 'application/x-protobuf', 500, {}, plain.child.pid));
    await stop(plain);
  }
  if (SCENARIOS.has('web-encrypted')) rows.push(await encryptedServer(dir));
  // Protobuf 500/req with rate limiting off, on (local) and on (Redis), limits far above the load.
  if (SCENARIOS.has('rate-limits')) rows.push(...(await rateLimitScenario(dir, small[500].proto)));
  const large = SCENARIOS.has('large-body') ? await largeBodyScenario(dir, configPath) : [];
  rmSync(dir, { recursive: true, force: true });

  if (rows.length) report(rows);
  // Requests still in flight when a scenario's clock stops are committed too, but autocannon does not count
  // their replies: stored may exceed acknowledged by at most connections × records per request per scenario.
  const ok = stored >= accepted && stored <= accepted + slack;
  if (measured) {
    console.log(`\nsignalhouse peak RSS: ${rss} MB; ${inserts}`);
    console.log(
      `events acknowledged: ${accepted.toLocaleString('en-US')}; rows stored: ${stored.toLocaleString('en-US')} ${ok ? '(every acknowledged event stored)' : '(LOST OR EXTRA ROWS)'}`,
    );
  }
  if (large.length) console.log(`\n${large.join('\n')}`);
  if (!ok || large.some((l) => l.includes('LOST'))) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
