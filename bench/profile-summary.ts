/**
 * Sums a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. `BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof'
 * npm run bench:ingest`) into self time by function and by file, and total (inclusive) time of this project's
 * functions. Usage: `npx tsx bench/profile-summary.ts <file.cpuprofile> [rows]`.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const [file, rowsArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [rows]');
const rows = Number(rowsArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\/.*?\/node_modules\//, 'npm:')
    .replace(/^file:\/\/.*?\/(?=(core|processors|receiver|exporters|semconv|query|bench)\/)/, '')
    .replace(/^node:/, 'node:');
const fnName = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
const ours = (n: Node) => /^(core|processors|receiver|exporters|semconv|query)\//.test(shortUrl(n.callFrame.url));

const selfFn = new Map<string, number>();
const selfFile = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  const n = byId.get(profile.samples[i])!;
  total += dt;
  selfFn.set(fnName(n), (selfFn.get(fnName(n)) ?? 0) + dt);
  const f = shortUrl(n.callFrame.url) || `(${n.callFrame.functionName})`;
  selfFile.set(f, (selfFile.get(f) ?? 0) + dt);
  // Inclusive time of our own functions: each counted once per sample, however deep the recursion.
  const seen = new Set<string>();
  for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
    const a = byId.get(id)!;
    if (!ours(a)) continue;
    const name = fnName(a);
    if (seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
  }
}

const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, rows))
    console.log(`${((100 * v) / total).toFixed(1).padStart(6)}%  ${(v / 1000).toFixed(0).padStart(7)} ms  ${k}`);
};
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
print('self time by function', selfFn);
print('self time by file', selfFile);
print("total time of this project's functions", inclusive);
