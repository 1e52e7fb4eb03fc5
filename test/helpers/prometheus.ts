/**
 * Real Prometheus and Alertmanager (Debian's `prometheus` and `prometheus-alertmanager`) for tests and benchmarks,
 * each on 127.0.0.1 with a free port and a temporary directory, plus a webhook receiver for Alertmanager's
 * notifications and a reader of the Prometheus text format.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './process.ts';

/** Samples of a `/metrics` text: `name{label="value",…}` (labels sorted) → value. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}

/** One sample's key as parseExposition writes it. */
export const sampleKey = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',')}}`;

export interface RunningProcess {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

async function startDaemon(
  command: string,
  args: (port: number, dir: string) => string[],
  files: Record<string, string>,
  ready: string,
): Promise<RunningProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `sh-${command}-`));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const child = spawn(command, args(port, dir), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} exited:\n${out}`);
    try {
      if ((await fetch(`${url}${ready}`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${command} not ready after 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Alertmanager routing every alert, each in a group of its own, to `webhookUrl` within about a second, resolved
 * ones included. Clustering is off (no gossip port).
 */
export function startAlertmanager(webhookUrl: string): Promise<RunningProcess> {
  const config = {
    route: { receiver: 'test', group_by: ['...'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
    receivers: [{ name: 'test', webhook_configs: [{ url: webhookUrl, send_resolved: true }] }],
  };
  return startDaemon(
    'prometheus-alertmanager',
    (port, dir) => [
      '--config.file=alertmanager.yml',
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { 'alertmanager.yml': stringify(config) },
    '/-/ready',
  );
}

/**
 * Prometheus scraping `target` (host:port) every `intervalS` seconds, evaluating `rules` (a rule file's text)
 * every `intervalS` seconds and sending alerts to `alertmanager` (host:port), resent every second.
 */
export function startPrometheus(opts: { target: string; rules: string; alertmanager: string; intervalS: number }): Promise<RunningProcess> {
  const config = {
    global: { scrape_interval: `${opts.intervalS}s`, evaluation_interval: `${opts.intervalS}s` },
    rule_files: ['signalhouse.rules.yml'],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [opts.alertmanager] }] }] },
    scrape_configs: [{ job_name: 'signalhouse', static_configs: [{ targets: [opts.target] }] }],
  };
  return startDaemon(
    'prometheus',
    (port, dir) => [
      '--config.file=prometheus.yml',
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--rules.alert.resend-delay=1s',
      '--log.level=warn',
    ],
    { 'prometheus.yml': stringify(config), 'signalhouse.rules.yml': opts.rules },
    '/-/ready',
  );
}

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

export interface WebhookReceiver {
  readonly url: string;
  /** The status it answers (default 200); an answer other than 2xx records nothing. */
  status: number;
  /** Every alert of every notification so far, with when it arrived (ms). */
  readonly received: Array<WebhookAlert & { receivedAtMs: number }>;
  close(): Promise<void>;
}

/** An HTTP server taking Alertmanager's (and the built-in evaluator's) webhook notifications. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: WebhookReceiver['received'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const receivedAtMs = Date.now();
      if (receiver.status < 300) for (const a of (JSON.parse(body) as { alerts: WebhookAlert[] }).alerts) received.push({ ...a, receivedAtMs });
      res.writeHead(receiver.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${port}/alerts`,
    status: 200,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return receiver;
}

/** Waits (polling every 100 ms, at most `timeoutMs`) until `find` returns something, and returns it. */
export async function eventually<T>(what: string, find: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
