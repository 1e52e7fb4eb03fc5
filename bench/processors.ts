/**
 * `npm run bench:processors`: the cost of each processor alone and of the default chain, in this process, on
 * decoded batches of 500 realistic events (every event with a browser user agent, an IP, a URL and an email in
 * one attribute; fresh event ids per batch so dedupe keeps them). Prints events/s and µs per event, and the
 * memory dedupe holds per remembered id.
 */
import { randomUUID } from 'node:crypto';
import { parseConfig } from '../core/config.ts';
import type { LogBatch, LogEvent } from '../core/event.ts';
import type { Processor } from '../core/components.ts';
import { buildProcessor } from '../processors/chain.ts';
import { hashId, hashPrefix, IdWindow } from '../processors/id-window.ts';
import { PROCESSOR_FACTORIES } from '../processors/registry.ts';

const N = 500;
const BATCHES = Number(process.env.BENCH_BATCHES ?? 400);
const resource = { attributes: { 'service.name': 'bench-app' }, schemaUrl: '', serviceName: 'bench-app' };
const scope = { name: 'bench', version: '', attributes: {}, schemaUrl: '' };
const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
];
let seq = 0;

function batch(): LogBatch {
  const now = BigInt(Date.now()) * 1_000_000n;
  const events: LogEvent[] = [];
  for (let i = 0; i < N; i++) {
    events.push({
      eventId: `b-${++seq}`, sessionId: `s-${i % 50}`, userId: `u-${i % 300}`, anonymousId: '', timeUnixNano: now, observedTimeUnixNano: now,
      traceId: '', spanId: '', traceFlags: 0, severityText: '', severityNumber: 0, body: '', eventName: 'ai.tool_call_completed',
      attributes: {
        'gen_ai.tool.name': 'lookup_order', 'ai.tool.duration_ms': String(80 + (i % 200)), 'ai.tool.success': 'true', 'gen_ai.conversation.id': `conv-${i % 97}`,
        'user_agent.original': UAS[i % 3], 'client.address': `81.2.${i % 256}.${i % 200}`, 'url.full': `https://shop.example/p/${i % 40}?utm_source=news`,
        note: i % 10 === 0 ? 'contact jane.doe@example.com' : 'no personal data here', 'consent.analytics': 'true',
      },
      resource, scope,
    });
  }
  return { tenantId: 'bench', signal: 'logs', events, rejections: [] };
}

async function measure(name: string, processors: Processor[]): Promise<void> {
  for (const p of processors) await p.start?.({ recentEventIds: async () => [] });
  const batches = Array.from({ length: BATCHES }, batch);
  const t = performance.now();
  for (const b of batches) {
    let cur = b as LogBatch;
    for (const p of processors) cur = (await p.process(cur)) as LogBatch;
    for (const p of processors) p.committed?.(cur);
  }
  const ms = performance.now() - t;
  const events = BATCHES * N;
  console.log(`| ${name} | ${Math.round((events / ms) * 1000).toLocaleString('en-US')} | ${((ms * 1000) / events).toFixed(2)} |`);
}

const config = parseConfig({}, {});
const make = (type: string) => buildProcessor(PROCESSOR_FACTORIES, type, config.processors[type], 'logs', [])!;
console.log(`${BATCHES} batches × ${N} events\n`);
console.log('| processor | events/s | µs/event |');
console.log('|---|---:|---:|');
for (const type of ['consent', 'validate', 'enrich', 'redact', 'dedupe']) await measure(type, [make(type)]);
await measure('default chain (all five)', ['consent', 'validate', 'enrich', 'redact', 'dedupe'].map(make));

// dedupe's memory: a million UUID event ids remembered, bytes held by the id window's typed arrays.
const ids = new IdWindow();
const tenant = hashPrefix('bench');
for (let i = 0; i < 1_000_000; i++) {
  hashId(tenant, randomUUID());
  ids.add(0, i);
}
console.log(`\ndedupe memory: ${ids.size.toLocaleString('en-US')} ids in ${(ids.bytes / 1e6).toFixed(1)} MB of typed arrays = ${(ids.bytes / ids.size).toFixed(0)} bytes per id (50–100 depending on where the table is between doublings)`);
