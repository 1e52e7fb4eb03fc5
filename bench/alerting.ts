/**
 * `npm run bench:alerting`: the alerting figures on this machine.
 *
 * 1. Breach to notification, for both paths: Signalhouse (a child process) with one SLO (voice first responses
 *    within 800 ms, burn rate 14.4× over 5 and 2 evaluation intervals), Prometheus scraping it and evaluating the
 *    generated rules every interval, the built-in evaluator every interval, one Alertmanager (group_wait 1 s)
 *    routing to a webhook receiver here. Healthy traffic, then every first response slow: the breach is the
 *    instant the slow share of the long window crosses the threshold (14.4% of it after the switch); the figure
 *    is the time from it to the alert's arrival at Alertmanager (polled on its API) and at the webhook, in
 *    evaluation intervals. Repeated BENCH_BREACHES times (default 3), recovering in between.
 * 2. `GET /metrics` at 200 tenants: each sends every SLI's events and spans, then the scrape's size and time.
 * 3. Ingest throughput with the SLI observation on and off: OTLP protobuf, 500 events a request (first
 *    responses, knowledge-base searches, tool calls) on two fresh servers, `alerting.sli_metrics` true / false,
 *    each after a 3 s warm-up. (`BENCH_SLI=0 npm run bench:ingest` runs all of bench:ingest with it off.)
 *
 * Options (env): BENCH_INTERVAL_S evaluation (and scrape) interval in seconds (default 5), BENCH_BREACHES,
 * BENCH_DURATION seconds per throughput run (default 10), BENCH_CONNECTIONS, BENCH_SMOKE=1 (a short run of
 * everything: 1 s intervals, one breach, 2 s of load).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logsProtobuf, tracesProtobuf } from '../test/helpers/otlp.ts';
import { eventually, startAlertmanager, startPrometheus, startWebhookReceiver } from '../test/helpers/prometheus.ts';
import { drive, KEY, percentile, type Proc, ROOT, startProcess } from './harness.ts';
import { REQ_MARKER } from './payloads.ts';

const SMOKE = process.env.BENCH_SMOKE === '1';
const INTERVAL_S = SMOKE ? 1 : Number(process.env.BENCH_INTERVAL_S ?? 5);
const BREACHES = SMOKE ? 1 : Number(process.env.BENCH_BREACHES ?? 3);
const LOAD_S = SMOKE ? 2 : Number(process.env.BENCH_DURATION ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'sh-bench-alerting-'));
const SLO = (window: string) => `{ name: voice-first-response, metric: voice.first_response_ms.p99, threshold: 800ms, window: ${window} }`;

async function server(name: string, yaml: string): Promise<Proc> {
  const config = join(dir, `${name}.yaml`);
  writeFileSync(config, yaml);
  return startProcess([join(ROOT, 'service', 'main.ts'), '--config', config], { SIGNALHOUSE_DATA_DIR: join(dir, `data-${name}`) });
}

async function stop(p: Proc): Promise<void> {
  p.child.kill('SIGTERM');
  await p.exited;
}

/** OTLP protobuf logs of `n` SLI events (first responses of `ms`, searches, tool calls), ids holding REQ_MARKER. */
function sliLogs(n: number, ms: number, seq = 0): Buffer {
  const records = Array.from({ length: n }, (_, i) => {
    const id: [string, string] = ['log.record.uid', `${REQ_MARKER}-${seq}-${i}`];
    if (i % 3 === 0)
      return { eventName: 'voice.first_response', attributes: [id, ['voice.turn_id', `t${i}`], ['voice.first_response_ms', String(ms + (i % 50))]] as const };
    if (i % 3 === 1)
      return { eventName: 'kb.search', attributes: [id, ['kb.results_count', String(i % 4)], ['kb.search_latency_ms', String(20 + (i % 200))]] as const };
    return { eventName: 'ai.tool_call_completed', attributes: [id, ['gen_ai.tool.name', 'lookup'], ['ai.tool.success', String(i % 11 !== 0)]] as const };
  });
  return logsProtobuf({ resource: [['service.name', 'bench']], records: records.map((r) => ({ ...r, timeUnixNano: BigInt(Date.now()) * 1_000_000n })) });
}

async function post(url: string, path: string, key: string, body: Buffer): Promise<void> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    body: new Uint8Array(body),
    headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${key}` },
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
}

async function breachToNotification(): Promise<string[]> {
  const webhook = await startWebhookReceiver();
  const am = await startAlertmanager(webhook.url);
  const iv = `${INTERVAL_S}s`;
  const svc = await server(
    'breach',
    `tenants: [{ id: bench, write_keys: [${KEY}] }]\nalerting:\n  evaluation_interval: ${iv}\n  alertmanager: { url: ${JSON.stringify(am.url)} }\n` +
      `  burn_rates: [{ long: ${5 * INTERVAL_S}s, short: ${2 * INTERVAL_S}s, factor: 14.4, severity: page }]\n  slos: [${SLO('1h')}]\n`,
  );
  const rules = await (await fetch(`${svc.url}/api/v1/alerts/rules`)).text();
  const prom = await startPrometheus({ target: new URL(svc.url).host, rules, alertmanager: new URL(am.url).host, intervalS: INTERVAL_S });
  let slow = false;
  let driving = true;
  let seq = 0;
  const traffic = (async () => {
    while (driving) {
      await post(svc.url, '/v1/logs', KEY, sliLogs(30, slow ? 2000 : 100, ++seq));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const lines: string[] = [];
  const results: Record<string, { am: number[]; hook: number[] }> = { prometheus: { am: [], hook: [] }, signalhouse: { am: [], hook: [] } };
  try {
    for (let b = 0; b < BREACHES; b++) {
      // Healthy for a whole long window, so both windows start clean.
      await new Promise((r) => setTimeout(r, 6 * INTERVAL_S * 1000));
      const switchedAt = Date.now();
      slow = true;
      const breachAt = switchedAt + 0.144 * 5 * INTERVAL_S * 1000;
      const seen = webhook.received.length;
      for (const evaluator of ['prometheus', 'signalhouse'] as const) {
        const inAm = await eventually(
          `${evaluator} alert in Alertmanager`,
          async () => {
            const alerts = (await (await fetch(`${am.url}/api/v2/alerts?active=true`)).json()) as Array<{ labels: Record<string, string> }>;
            return alerts.some((a) => a.labels.evaluator === evaluator) ? Date.now() : undefined;
          },
          30 * INTERVAL_S * 1000,
        );
        const hook = await eventually(
          `${evaluator} alert at the webhook`,
          () => webhook.received.slice(seen).find((a) => a.status === 'firing' && a.labels.evaluator === evaluator)?.receivedAtMs,
          30 * INTERVAL_S * 1000,
        );
        results[evaluator].am.push((inAm - breachAt) / 1000 / INTERVAL_S);
        results[evaluator].hook.push((hook - breachAt) / 1000 / INTERVAL_S);
      }
      slow = false;
      await eventually(
        'both resolved',
        () => (webhook.received.slice(seen).filter((a) => a.status === 'resolved').length >= 2 ? true : undefined),
        60 * INTERVAL_S * 1000,
      );
    }
  } finally {
    driving = false;
    await traffic;
    await prom.stop();
    await stop(svc);
    await am.stop();
    await webhook.close();
  }
  const fmt = (xs: number[]) => `${xs.map((x) => x.toFixed(2)).join(', ')} (max ${Math.max(...xs).toFixed(2)})`;
  lines.push(`breach → notification, ${BREACHES} breach(es), evaluation interval ${INTERVAL_S} s, in evaluation intervals (Alertmanager polled every 100 ms):`);
  // The poll order (Prometheus first) can only delay the built-in path's Alertmanager figure, not advance it.
  for (const [evaluator, r] of Object.entries(results)) lines.push(`  ${evaluator}: in Alertmanager ${fmt(r.am)}; at the webhook ${fmt(r.hook)}`);
  return lines;
}

async function scrapeAt200Tenants(): Promise<string[]> {
  const tenants = Array.from({ length: 200 }, (_, i) => ({ id: `t${i}`, key: `wk_bench_tenant_${String(i).padStart(4, '0')}` }));
  const svc = await server(
    'scrape',
    `tenants:\n${tenants.map((t) => `  - { id: ${t.id}, write_keys: [${t.key}] }`).join('\n')}\nalerting: { slos: [${SLO('30d')}] }\n`,
  );
  try {
    for (const [n, t] of tenants.entries()) {
      await post(svc.url, '/v1/logs', t.key, sliLogs(SMOKE ? 30 : 300, 100 + (n % 900)));
      const spans = ['execute_tool', 'retrieval', 'http'].map((op, i) => ({
        traceId: (n + 1).toString(16).padStart(32, '0'),
        spanId: String(i + 1).padStart(16, '0'),
        name: op,
        attributes: [['gen_ai.operation.name', op]] as Array<[string, string]>,
      }));
      await post(svc.url, '/v1/traces', t.key, tracesProtobuf({ spans }));
    }
    const times: number[] = [];
    let bytes = 0;
    let lines = 0;
    for (let i = 0; i < (SMOKE ? 5 : 50); i++) {
      const t0 = performance.now();
      const text = await (await fetch(`${svc.url}/metrics`)).text();
      times.push(performance.now() - t0);
      bytes = Buffer.byteLength(text);
      lines = text.split('\n').filter((l) => l.startsWith('signalhouse_sli_')).length;
    }
    times.sort((a, b) => a - b);
    return [
      `GET /metrics at 200 tenants: ${(bytes / 1024).toFixed(0)} KiB, ${lines.toLocaleString('en-US')} SLI samples; ${times.length} scrapes p50 ${percentile(times, 0.5)} ms, max ${percentile(times, 1)} ms`,
    ];
  } finally {
    await stop(svc);
  }
}

async function throughputOnOff(): Promise<string[]> {
  const lines: string[] = [];
  const body = sliLogs(500, 300);
  const rates: Record<string, number> = {};
  for (const [name, sli] of [
    ['on', true],
    ['off', false],
  ] as const) {
    const svc = await server(`ingest-${name}`, `tenants: [{ id: bench, write_keys: [${KEY}] }]\nalerting: { sli_metrics: ${sli}, slos: [${SLO('30d')}] }\n`);
    // A warm-up first (the first INSERTs and merges of a fresh store), not counted.
    await drive('signalhouse', svc.url, 'warm-up', body, 'application/x-protobuf', 500, { duration: SMOKE ? 1 : 3 });
    const row = await drive('signalhouse', svc.url, `SLI observation ${name}`, body, 'application/x-protobuf', 500, { duration: LOAD_S }, svc.child.pid);
    await stop(svc);
    rates[name] = row.eventsPerSec;
    lines.push(
      `  SLI observation ${name}: ${row.eventsPerSec.toLocaleString('en-US')} events/s, p99 ${row.p99} ms, ${row.non2xx} non-2xx, ${row.errors} errors`,
    );
  }
  return [
    `ingest throughput, OTLP protobuf 500 SLI events a request, ${LOAD_S} s each:`,
    ...lines,
    `  on / off: ${((100 * rates.on) / rates.off).toFixed(1)}%`,
  ];
}

async function main(): Promise<void> {
  const out = [...(await breachToNotification()), ...(await scrapeAt200Tenants()), ...(await throughputOnOff())];
  console.log(`\n${out.join('\n')}${SMOKE ? '\n(smoke run: the figures are not measurements)' : ''}`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
