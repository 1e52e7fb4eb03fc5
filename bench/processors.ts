/**
 * `npm run bench:processors`: the cost of each processor alone and of the default chain, in this process, on
 * decoded batches of 500 events, for two kinds of events:
 * - synthetic events (every event with a browser user agent, an IP, a URL and an email in one attribute);
 * - web events as `bench:ingest` sends them (payloads.ts: varied URLs with UTM parameters and emails, ~50 user
 *   agents, many client addresses, referrers), decoded from their OTLP/JSON bodies; for these it also times the
 *   stages around the chain on the event loop: OTLP/JSON and protobuf decoding, and encoding the Native block.
 * Fresh event ids per batch so dedupe keeps them. Prints events/s and µs per event, and the memory dedupe holds
 * per remembered id. BENCH_BATCHES batches per measurement (default 200), BENCH_ROUNDS rounds (default 1).
 */
import { randomUUID } from 'node:crypto';
import { parseConfig } from '../core/config.ts';
import { otlpReceiverSchema } from '../receiver/otlp/config.ts';
import type { LogBatch, LogEvent } from '../core/event.ts';
import type { Processor } from '../core/components.ts';
import { createSuppressionList } from '../core/suppressions.ts';
import { encodeLogBlock } from '../exporters/clickhouse/rows.ts';
import { buildProcessor } from '../processors/chain.ts';
import { hashId, hashPrefix, IdWindow } from '../processors/id-window.ts';
import { PROCESSOR_FACTORIES } from '../processors/registry.ts';
import type { DecodeContext } from '../receiver/otlp/common.ts';
import { decodeLogsJson } from '../receiver/otlp/json.ts';
import { decodeLogsProtobuf } from '../receiver/otlp/protobuf.ts';
import { uniqueBodies, webPayloads } from './payloads.ts';

const N = 500;
const BATCHES = Number(process.env.BENCH_BATCHES ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const config = parseConfig({}, {});
const resource = { attributes: { 'service.name': 'bench-app' }, schemaUrl: '', serviceName: 'bench-app' };
const scope = { name: 'bench', version: '', attributes: {}, schemaUrl: '' };
const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
];
let seq = 0;

function syntheticBatch(): LogBatch {
  const now = BigInt(Date.now()) * 1_000_000n;
  const events: LogEvent[] = [];
  for (let i = 0; i < N; i++) {
    events.push({
      eventId: `b-${++seq}`,
      sessionId: `s-${i % 50}`,
      userId: `u-${i % 300}`,
      anonymousId: '',
      timeUnixNano: now,
      observedTimeUnixNano: now,
      traceId: '',
      spanId: '',
      traceFlags: 0,
      severityText: '',
      severityNumber: 0,
      body: '',
      eventName: 'ai.tool_call_completed',
      attributes: {
        'gen_ai.tool.name': 'lookup_order',
        'ai.tool.duration_ms': String(80 + (i % 200)),
        'ai.tool.success': 'true',
        'gen_ai.conversation.id': `conv-${i % 97}`,
        'user_agent.original': UAS[i % 3],
        'client.address': `81.2.${i % 256}.${i % 200}`,
        'url.full': `https://shop.example/p/${i % 40}?utm_source=news`,
        note: i % 10 === 0 ? 'contact jane.doe@example.com' : 'no personal data here',
        'consent.analytics': 'true',
      },
      resource,
      scope,
    });
  }
  return { tenantId: 'bench', signal: 'logs', events, rejections: [] };
}

const webTemplates = webPayloads(N, Math.ceil(16_000 / N));
const webJson = uniqueBodies(webTemplates.map((p) => p.json));
const webProto = uniqueBodies(webTemplates.map((p) => p.proto));
const decodeContext = (): DecodeContext => ({
  tenantId: 'bench',
  limits: otlpReceiverSchema.parse({}).limits,
  receivedAtUnixNano: BigInt(Date.now()) * 1_000_000n,
  rejections: [],
});
const webBatch = (): LogBatch => ({ tenantId: 'bench', signal: 'logs', events: decodeLogsJson(webJson(), decodeContext()), rejections: [] });

function row(name: string, events: number, ms: number): void {
  console.log(`| ${name} | ${Math.round((events / ms) * 1000).toLocaleString('en-US')} | ${((ms * 1000) / events).toFixed(2)} |`);
}

async function measure(name: string, processors: Processor[], make: () => LogBatch): Promise<void> {
  for (const p of processors) await p.start?.({ recentEventIds: async () => [], suppressions: createSuppressionList() });
  const batches = Array.from({ length: BATCHES }, make);
  const t = performance.now();
  for (const b of batches) {
    let cur = b as LogBatch;
    for (const p of processors) cur = (await p.process(cur)) as LogBatch;
    for (const p of processors) p.committed?.(cur);
  }
  row(name, BATCHES * N, performance.now() - t);
}

/** One stage outside the chain, timed over BATCHES inputs made beforehand. */
function stage<T>(name: string, make: () => T, run: (input: T) => unknown): void {
  const inputs = Array.from({ length: BATCHES }, make);
  const t = performance.now();
  for (const input of inputs) run(input);
  row(name, BATCHES * N, performance.now() - t);
}

const make = (type: string) => buildProcessor(PROCESSOR_FACTORIES, type, config.processors[type], 'logs', [])!;
const TYPES = ['consent', 'validate', 'enrich', 'redact', 'dedupe'];
console.log(`${BATCHES} batches × ${N} events, ${ROUNDS} round(s)`);
for (let round = 1; round <= ROUNDS; round++) {
  console.log(`\nround ${round}\n\n| synthetic events: processor | events/s | µs/event |`);
  console.log('|---|---:|---:|');
  for (const type of TYPES) await measure(type, [make(type)], syntheticBatch);
  await measure('default chain (all five)', TYPES.map(make), syntheticBatch);

  console.log('\n| web events: stage | events/s | µs/event |');
  console.log('|---|---:|---:|');
  stage('decode OTLP/JSON', webJson, (b) => decodeLogsJson(b, decodeContext()));
  stage('decode OTLP/protobuf', webProto, (b) => decodeLogsProtobuf(b, decodeContext()));
  for (const type of TYPES) await measure(type, [make(type)], webBatch);
  await measure('default chain (all five)', TYPES.map(make), webBatch);
  const chain = TYPES.map(make);
  const processed = async () => {
    let b = webBatch();
    for (const p of chain) b = (await p.process(b)) as LogBatch;
    return b;
  };
  const done: LogBatch[] = [];
  for (let i = 0; i < BATCHES; i++) done.push(await processed());
  let next = 0;
  stage(
    'encode Native block (after the chain)',
    () => done[next++],
    (b) => encodeLogBlock([b]),
  );
}

// dedupe's memory: a million UUID event ids remembered, bytes held by the id window's typed arrays.
const ids = new IdWindow();
const tenant = hashPrefix('bench');
for (let i = 0; i < 1_000_000; i++) {
  hashId(tenant, randomUUID());
  ids.add(0, i);
}
console.log(
  `\ndedupe memory: ${ids.size.toLocaleString('en-US')} ids in ${(ids.bytes / 1e6).toFixed(1)} MB of typed arrays = ${(ids.bytes / ids.size).toFixed(0)} bytes per id (50–100 depending on where the table is between doublings)`,
);
