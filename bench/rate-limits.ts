/**
 * The `rate-limits` scenario of `npm run bench:ingest`: OTLP/HTTP protobuf, 500 records a request, on three
 * fresh servers — rate limiting off, on with local buckets, and on with the buckets in Redis (a `redis-server`
 * started on a free loopback port) — with limits far above the load, so that every request is admitted and the
 * figures show only what taking the tokens costs (a Map lookup and arithmetic locally, one Redis round trip a
 * request with Redis). Each row's non-2xx column must stay 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../test/helpers/process.ts';
import { drive, KEY, ROOT, type Row, startProcess } from './harness.ts';

/** The tenant's limits, far above what two cores can ingest: 1M requests and 1G events a second. */
const LIMITS = 'rate_limits: { requests_per_second: 1000000, events_per_second: 1000000000 }';

async function startRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', () => reject(new Error(`redis-server exited:\n${out}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

export async function rateLimitScenario(dir: string, payload: Buffer): Promise<Row[]> {
  const redis = await startRedis();
  const rows: Row[] = [];
  try {
    // [label, the tenant's limits, the top-level rate_limits section]
    const modes = [
      ['rate limits off', '', ''],
      ['rate limits on, local', LIMITS, ''],
      ['rate limits on, Redis', LIMITS, `rate_limits: { redis: { url: "${redis.url}" } }`],
    ] as const;
    for (const [i, [label, tenantLimits, shared]] of modes.entries()) {
      const configPath = join(dir, `rate-limits-${i}.yaml`);
      writeFileSync(configPath, `${shared}\ntenants:\n  - id: bench\n    write_keys: [${KEY}]\n    ${tenantLimits}\n`);
      const server = await startProcess([join(ROOT, 'service', 'main.ts'), '--config', configPath], { SIGNALHOUSE_DATA_DIR: join(dir, `data-rate-${i}`) });
      rows.push(await drive(`signalhouse, ${label}`, server.url, 'protobuf 500/req', payload, 'application/x-protobuf', 500, {}, server.child.pid));
      server.child.kill('SIGTERM');
      await server.exited;
    }
  } finally {
    redis.child.kill('SIGKILL');
  }
  return rows;
}
