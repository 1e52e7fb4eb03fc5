/**
 * Limits shared through Redis: a real `redis-server` on a random loopback port and two Signalhouse processes
 * (one store directory each) pointing at it. A bounded load loop against both admits one tenant's rate × time +
 * burst in all, not in each; once Redis is killed, both keep serving on their local buckets (every answer 202 or
 * 429, never a 5xx nor a stall) and count the fallback in /metrics.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, type ServerProcess, startServerProcess } from './helpers/process.ts';

const RATE = 5;
const KEY = 'wk_acme_shared_key';
const root = mkdtempSync(join(tmpdir(), 'sh-rate-redis-'));
let redis: ChildProcess;
let servers: ServerProcess[] = [];

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server not ready:\n${out}`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`redis-server exited:\n${out}`)));
  });
  return child;
}

beforeAll(async () => {
  const port = await freePort();
  redis = await startRedis(port);
  const configPath = join(root, 'signalhouse.yaml');
  writeFileSync(
    configPath,
    [
      'rate_limits:',
      `  redis: { url: "redis://127.0.0.1:${port}", timeout: 1s }`,
      'tenants:',
      `  - { id: acme, write_keys: [${KEY}], read_tokens: [rt_acme_shared_token], rate_limits: { requests_per_second: ${RATE} } }`,
    ].join('\n'),
  );
  servers = await Promise.all(['a', 'b'].map((name) => startServerProcess({ dataDir: join(root, name), configPath })));
}, 120_000);

afterAll(async () => {
  for (const s of servers) s.child.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.exited));
  redis?.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/** A bounded loop: `workers` clients per server, each sending one event at a time for `seconds`. */
async function load(seconds: number, workers = 3) {
  const statuses: number[][] = servers.map(() => []);
  const started = Date.now();
  let i = 0;
  const worker = async (s: number) => {
    while (Date.now() - started < seconds * 1000) {
      const res = await fetch(`${servers[s].url}/api/v1/analytics/events`, {
        method: 'POST',
        body: JSON.stringify({ event_name: 'shared.event', event_id: `shared-${s}-${i++}` }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      });
      if (res.status === 429) {
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(res.headers.get('x-ratelimit-limit')).toBe(String(RATE));
      }
      await res.arrayBuffer();
      statuses[s].push(res.status);
    }
  };
  await Promise.all(servers.flatMap((_, s) => Array.from({ length: workers }, () => worker(s))));
  return { statuses, elapsed: (Date.now() - started) / 1000 };
}

const metric = async (s: ServerProcess, name: string) =>
  Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${s.url}/metrics`)).text())?.[1] ?? 'NaN');

it('shares one limit between two processes, and falls back to local limits when Redis dies', async () => {
  const shared = await load(3);
  const allowed = shared.statuses.map((st) => st.filter((c) => c === 202).length);
  const total = allowed[0] + allowed[1];
  // One bucket for both: its burst plus its refill over the loop, not twice that.
  expect(total).toBeLessThanOrEqual(RATE + RATE * shared.elapsed + 1);
  expect(total).toBeGreaterThanOrEqual(RATE + RATE * 3 * 0.5);
  expect(shared.statuses.flat().every((c) => c === 202 || c === 429)).toBe(true);
  expect(shared.statuses.flat().filter((c) => c === 429).length).toBeGreaterThan(0);
  for (const s of servers) expect(await metric(s, 'signalhouse_rate_limit_redis_fallbacks_total')).toBe(0);

  redis.kill('SIGKILL');
  const local = await load(1.5);
  for (const st of local.statuses) {
    expect(st.every((c) => c === 202 || c === 429)).toBe(true);
    // Each process's own bucket: its burst at least, and at most burst plus refill.
    const admitted = st.filter((c) => c === 202).length;
    expect(admitted).toBeGreaterThanOrEqual(1);
    expect(admitted).toBeLessThanOrEqual(RATE + RATE * local.elapsed + 1);
  }
  for (const s of servers) expect(await metric(s, 'signalhouse_rate_limit_redis_fallbacks_total')).toBeGreaterThan(0);
}, 60_000);
