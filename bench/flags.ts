/**
 * `npm run bench:flags`: feature flag evaluation on this machine.
 *
 * 1. In process: 20 flags with conditions (equality, lists, icontains, regex, numeric, date and semver filters,
 *    rollouts, a multivariate split), every flag for each of a rotating set of people: evaluations per second
 *    and microseconds per flag.
 * 2. Over HTTP, Signalhouse as a child process with the same 20 flags declared in its config: the evaluate API
 *    (`POST /api/feature-flags/flags/:key/evaluate`; each answer also stores a `$feature_flag_called` event) and
 *    PostHog's `/flags?v=2` (all 20 flags per request), with autocannon: requests per second, flag evaluations
 *    per second, and latency p50 / p99.
 *
 * Options (env): BENCH_DURATION seconds per HTTP run (default 10), BENCH_CONNECTIONS (default 64),
 * BENCH_ITERATIONS in-process evaluations (default 2,000,000), BENCH_SMOKE=1 (one second of each).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { evaluateFlag } from '../experiments/flags/evaluate.ts';
import { checkFlag } from '../experiments/flags/check.ts';
import { ROOT, startProcess } from './harness.ts';

const SMOKE = process.env.BENCH_SMOKE === '1';
const DURATION = SMOKE ? 1 : Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ITERATIONS = SMOKE ? 100_000 : Number(process.env.BENCH_ITERATIONS ?? 2_000_000);
const KEY = 'wk_bench_flags_0001';
const ADMIN = 'at_bench_flags_0001';

/** Twenty flags, each with conditions of a different kind. */
function flags() {
  const kinds = [
    { key: 'plan', value: ['premium', 'enterprise'] },
    { key: 'email', operator: 'icontains', value: '@acme.com' },
    { key: '$current_url', operator: 'regex', value: '^https://shop\\.example/(cart|checkout)' },
    { key: 'age', operator: 'gte', value: 30 },
    { key: 'signed_up', operator: 'is_date_after', value: '-30d' },
    { key: 'app_version', operator: 'semver_gte', value: '2.1.0' },
    { key: 'country', operator: 'is_not', value: 'FR' },
  ];
  return Array.from({ length: 20 }, (_, i) => {
    const conditions = [
      { properties: [kinds[i % kinds.length], kinds[(i + 3) % kinds.length]], rolloutPercentage: 50 },
      { properties: [kinds[(i + 1) % kinds.length]], rolloutPercentage: 20 },
    ];
    if (i % 4 === 3) {
      return {
        key: `bench-flag-${i}`,
        type: 'multivariate',
        conditions,
        variants: [
          { key: 'control', rolloutPercentage: 50 },
          { key: 'test', rolloutPercentage: 50, payload: { price: 8 } },
        ],
      };
    }
    return { key: `bench-flag-${i}`, conditions, payload: { on: true } };
  });
}

const PEOPLE = Array.from({ length: 1000 }, (_, n) => ({
  id: `person-${n}`,
  props: {
    plan: ['free', 'premium', 'enterprise'][n % 3],
    email: n % 5 === 0 ? `p${n}@acme.com` : `p${n}@example.com`,
    $current_url: n % 2 === 0 ? 'https://shop.example/cart' : 'https://shop.example/',
    age: 18 + (n % 40),
    signed_up: new Date(Date.now() - (n % 60) * 86_400_000).toISOString(),
    app_version: `2.${n % 4}.0`,
    country: n % 7 === 0 ? 'FR' : 'US',
  },
}));

function inProcess(): void {
  const compiled = flags().map((f) => checkFlag(f).compiled);
  let on = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) {
    const p = PEOPLE[i % PEOPLE.length];
    if (evaluateFlag(compiled[i % compiled.length], p.id, p.props).enabled) on++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(
    `in process: ${Math.round(ITERATIONS / seconds).toLocaleString('en')} flag evaluations/s, ${((seconds * 1e6) / ITERATIONS).toFixed(2)} µs per flag (20 flags with conditions; ${((100 * on) / ITERATIONS).toFixed(0)}% on)`,
  );
}

async function http(url: string, name: string, path: string, body: (n: number) => unknown, flagsPerRequest: number, token: string): Promise<void> {
  let n = 0;
  const result = await autocannon({
    url: `${url}${path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify(body(n++)) }) }],
    connections: CONNECTIONS,
    duration: DURATION,
  });
  const rps = result.requests.average;
  console.log(
    `${name}: ${Math.round(rps).toLocaleString('en')} req/s, ${Math.round(rps * flagsPerRequest).toLocaleString('en')} flag evaluations/s, latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms (non-2xx ${result.non2xx}, errors ${result.errors})`,
  );
}

async function overHttp(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sh-bench-flags-'));
  const config = join(dir, 'signalhouse.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      tenants: [{ id: 'bench', write_keys: [KEY], read_tokens: [], admin_tokens: [ADMIN] }],
      flags: { bench: flags() },
    }),
  );
  const server = await startProcess([join(ROOT, 'service', 'main.ts'), '--config', config], { SIGNALHOUSE_DATA_DIR: join(dir, 'data') });
  try {
    await http(
      server.url,
      'evaluate API',
      '/api/feature-flags/flags/bench-flag-3/evaluate',
      (i) => ({ userId: PEOPLE[i % 1000].id, attributes: PEOPLE[i % 1000].props }),
      1,
      KEY,
    );
    await http(
      server.url,
      '/flags?v=2 (20 flags a request)',
      '/flags/?v=2',
      (i) => ({ token: KEY, distinct_id: PEOPLE[i % 1000].id, person_properties: PEOPLE[i % 1000].props }),
      20,
      KEY,
    );
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

inProcess();
await overHttp();
