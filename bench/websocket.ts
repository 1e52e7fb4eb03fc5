/**
 * `npm run bench:websocket`: WebSocket ingest throughput and ack latency on this machine, load generator included.
 *
 * Starts Signalhouse as a child process (embedded chDB, fresh data directory, the default processors on) and,
 * from this process, streams voice-session events (`voice.turn_started`, `voice.first_response`,
 * `voice.asr_partial` with session, turn and user ids) to `/api/v1/analytics/ws` with the `ws` client:
 *
 * - `batch-100`: BENCH_WS_CONNECTIONS connections (default 8), each keeping BENCH_WS_WINDOW messages (default
 *   16) of 100 events in flight, the next one sent as each ack arrives: events/s acknowledged, ack latency.
 * - `single`: the same with one event a message.
 * - `single-steady`: one event a message at a steady BENCH_WS_RATE messages/s (default 1,000) over the
 *   connections, open loop: latency from each message's scheduled send, so a slow server cannot hide queueing.
 *
 * Ack latency is from sending a message to reading its ack (committed to ClickHouse), exact percentiles over
 * every ack. At the end the server is stopped with SIGTERM and the stored rows are counted: every acknowledged
 * event must be there. Every event carries a fresh id (dedupe is on).
 *
 * Options (env): BENCH_DURATION seconds per scenario (default 10), BENCH_WS_SCENARIOS (comma-separated subset
 * of the names above, default all), BENCH_WS_CONNECTIONS, BENCH_WS_WINDOW, BENCH_WS_RATE.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { openStore } from '../storage/store.ts';
import { wsUrl } from '../test/helpers/websocket.ts';
import { cpuDelta, DURATION, KEY, peakRssMb, percentile, type Row, ROOT, startProcess, table, threadCpu } from './harness.ts';

const SCENARIO_NAMES = ['batch-100', 'single', 'single-steady'];
const SCENARIOS = new Set((process.env.BENCH_WS_SCENARIOS ?? SCENARIO_NAMES.join(',')).split(',').map((s) => s.trim()));
for (const s of SCENARIOS) if (!SCENARIO_NAMES.includes(s)) throw new Error(`unknown scenario ${s} (known: ${SCENARIO_NAMES.join(', ')})`);
const CONNECTIONS = Number(process.env.BENCH_WS_CONNECTIONS ?? 8);
const WINDOW = Number(process.env.BENCH_WS_WINDOW ?? 16);
const RATE = Number(process.env.BENCH_WS_RATE ?? 1000);
const MARK = '@@';

/** A message of `n` voice events as JSON text, with MARK where its id goes (and in each event id). */
function template(n: number): string {
  const at = new Date().toISOString();
  const kinds = [
    (i: number) => ({ event_name: 'voice.turn_started', attributes: { 'voice.turn_id': `t-${i}` } }),
    (i: number) => ({ event_name: 'voice.first_response', attributes: { 'voice.turn_id': `t-${i}`, 'voice.first_response_ms': 300 + (i % 400) } }),
    (i: number) => ({ event_name: 'voice.asr_partial', attributes: { 'voice.asr_partial_latency_ms': 40 + (i % 60), 'voice.session_id': `s-${i % 7}` } }),
  ];
  const events = Array.from({ length: n }, (_, i) => ({
    event_id: `${MARK}-${i}`,
    occurred_at: at,
    session_id: `s-${i % 7}`,
    user_id: `u-${i % 13}`,
    ...kinds[i % kinds.length](i),
  }));
  return JSON.stringify({ type: 'batch', id: MARK, events });
}

interface Client {
  socket: WebSocket;
  /** Send time of each message in flight, by id. */
  sentAt: Map<string, number>;
}

async function connect(url: string, onAnswer: (c: Client, ack: { type: string; id: string; accepted?: number }, ms: number) => void): Promise<Client> {
  const socket = new WebSocket(wsUrl(url), { headers: { authorization: `Bearer ${KEY}` } });
  const client: Client = { socket, sentAt: new Map() };
  socket.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type !== 'ack' && m.type !== 'error') return;
    const t = client.sentAt.get(m.id);
    client.sentAt.delete(m.id);
    if (t !== undefined) onAnswer(client, m, performance.now() - t);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('message', () => resolve()); // `ready`
    socket.once('error', reject);
    socket.once('close', (code, reason) => reject(new Error(`connection closed: ${code} ${reason}`)));
  });
  return client;
}

let sequence = 0;
function send(c: Client, text: string, due = performance.now()): void {
  const id = `m${++sequence}`;
  c.sentAt.set(id, due);
  c.socket.send(text.replaceAll(MARK, id));
}

interface Tally {
  /** Messages acknowledged, and those of them acknowledged before the clock stopped. */
  acked: number;
  inWindow: number;
  errors: number;
  latencies: number[];
}

/** Closed loop: each connection keeps WINDOW messages in flight for DURATION seconds. */
async function closedLoop(url: string, perMessage: number): Promise<{ tally: Tally; seconds: number }> {
  const text = template(perMessage);
  const tally: Tally = { acked: 0, inWindow: 0, errors: 0, latencies: [] };
  let running = true;
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, () =>
      connect(url, (c, m, ms) => {
        if (m.type === 'ack' && m.accepted === perMessage) {
          tally.acked++;
          if (running) tally.inWindow++;
          tally.latencies.push(ms);
        } else tally.errors++;
        if (running) send(c, text);
      }),
    ),
  );
  const start = performance.now();
  for (const c of clients) for (let i = 0; i < WINDOW; i++) send(c, text);
  await sleep(DURATION * 1000);
  running = false;
  const seconds = (performance.now() - start) / 1000;
  // What is still in flight is answered (and committed) too: wait for it, so that the store count is exact.
  while (clients.some((c) => c.sentAt.size > 0)) await sleep(10);
  for (const c of clients) c.socket.close();
  return { tally, seconds };
}

/** Open loop: RATE single-event messages a second, round robin over the connections, latency from schedule. */
async function steady(url: string): Promise<{ tally: Tally; seconds: number }> {
  const text = template(1);
  const tally: Tally = { acked: 0, inWindow: 0, errors: 0, latencies: [] };
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, () =>
      connect(url, (_c, m, ms) => {
        if (m.type === 'ack' && m.accepted === 1) {
          tally.acked++;
          tally.inWindow++;
          tally.latencies.push(ms);
        } else tally.errors++;
      }),
    ),
  );
  const interval = 1000 / RATE;
  const total = Math.round(RATE * DURATION);
  const start = performance.now() + 20;
  for (let i = 0; i < total; ) {
    for (const now = performance.now(); i < total && start + i * interval <= now; i++) send(clients[i % clients.length], text, start + i * interval);
    if (i < total) await sleep(Math.max(0, start + i * interval - performance.now()));
  }
  while (clients.some((c) => c.sentAt.size > 0)) await sleep(10);
  const seconds = (performance.now() - start) / 1000;
  for (const c of clients) c.socket.close();
  return { tally, seconds };
}

function row(scenario: string, perMessage: number, r: { tally: Tally; seconds: number }, cpuUs: number): Row {
  const sorted = r.tally.latencies.sort((a, b) => a - b);
  return {
    ok: r.tally.acked,
    scenario: `${scenario} (CPU ${cpuUs.toFixed(1)} µs/event)`,
    target: 'signalhouse websocket',
    eventsPerSec: Math.round((r.tally.inWindow * perMessage) / r.seconds),
    reqPerSec: Math.round(r.tally.inWindow / r.seconds),
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    non2xx: r.tally.errors,
    errors: 0,
    inFlightMax: 0,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sh-bench-ws-'));
  const configPath = join(dir, 'signalhouse.yaml');
  writeFileSync(configPath, `tenants:\n  - id: bench\n    write_keys: [${KEY}]\n`);
  const dataDir = join(dir, 'data');
  console.log(`${DURATION}s per scenario, ${CONNECTIONS} connections, window ${WINDOW} messages, machine: ${cpus().length} cores\n`);
  const server = await startProcess([join(ROOT, 'service', 'main.ts'), '--config', configPath], { SIGNALHOUSE_DATA_DIR: dataDir });
  const pid = server.child.pid!;
  const rows: Row[] = [];
  let acknowledged = 0;
  const measure = async (name: string, label: string, perMessage: number, run: () => Promise<{ tally: Tally; seconds: number }>) => {
    if (!SCENARIOS.has(name)) return;
    const before = threadCpu(pid);
    const r = await run();
    const cpu = [...cpuDelta(before, threadCpu(pid)).values()].reduce((a, b) => a + b, 0);
    acknowledged += r.tally.acked * perMessage;
    rows.push(row(label, perMessage, r, (cpu * 1e6) / Math.max(1, r.tally.acked * perMessage)));
  };
  await measure('batch-100', '100 events/message', 100, () => closedLoop(server.url, 100));
  await measure('single', '1 event/message', 1, () => closedLoop(server.url, 1));
  await measure('single-steady', `1 event/message at ${RATE.toLocaleString('en-US')} messages/s, steady`, 1, () => steady(server.url));
  const rss = peakRssMb(pid);
  server.child.kill('SIGTERM');
  await server.exited;

  const store = await openStore({ dataDir });
  const rs = await store.client.query({ query: "SELECT count() AS n FROM signalhouse.otel_logs WHERE TenantId = 'bench'", format: 'JSONEachRow' });
  const stored = Number((await rs.json<{ n: string }>())[0].n);
  await store.close();
  rmSync(dir, { recursive: true, force: true });

  console.log(table(rows).replace('| req/s |', '| messages/s |').replace('| non-2xx |', '| error answers |'));
  console.log('\nlatency: from sending a message to reading its ack (its events committed)');
  console.log(`signalhouse peak RSS: ${rss} MB`);
  const ok = stored === acknowledged;
  console.log(
    `events acknowledged: ${acknowledged.toLocaleString('en-US')}; rows stored: ${stored.toLocaleString('en-US')} ${ok ? '(every acknowledged event stored)' : '(LOST OR EXTRA ROWS)'}`,
  );
  if (!ok) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
