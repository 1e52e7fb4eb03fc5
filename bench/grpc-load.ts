/**
 * `bench:ingest`'s OTLP/gRPC scenarios: `LogsService/Export` calls with the same protobuf payloads as the
 * OTLP/HTTP ones (fresh event ids per call), from this process. `driveGrpc` keeps BENCH_CONNECTIONS calls in
 * flight over BENCH_GRPC_CHANNELS HTTP/2 connections (default 4) for the scenario's duration, as autocannon does
 * for HTTP; `grpcOpenLoop` starts calls at a steady rate whether or not earlier ones were answered (the
 * open-loop generator's rule: latency from each call's scheduled start).
 *
 * The client is the lean node:http2 one (grpc-h2.ts: pre-framed messages, status from the trailers); with
 * BENCH_GRPC_CLIENT=grpc-js, `@grpc/grpc-js` clients instead, which cost about twice the server's CPU per call,
 * to compare with figures taken that way.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcFrame, h2GrpcClient } from './grpc-h2.ts';
import { type OpenLoopResult, warmedSchedule } from './open-loop.ts';
import { CONNECTIONS, cpuDelta, DURATION, KEY, percentile, type Row, threadCpu } from './harness.ts';
import { uniqueBodies } from './payloads.ts';

const PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
const CHANNELS = Number(process.env.BENCH_GRPC_CHANNELS ?? 4);
const CLIENT = process.env.BENCH_GRPC_CLIENT ?? 'h2';
if (CLIENT !== 'h2' && CLIENT !== 'grpc-js') throw new Error(`BENCH_GRPC_CLIENT is h2 or grpc-js, not ${CLIENT}`);
const identity = (b: Buffer) => b;

/** Export calls over CHANNELS connections: the next body (fresh event ids) and one call with it. */
interface Caller {
  nextBody(): Buffer;
  call(body: Buffer): Promise<number>;
  close(): Promise<void>;
}

function h2Caller(address: string, templates: Buffer | readonly Buffer[]): Caller {
  // Framed once: each call's body is the framed template with its fresh ids, sent as is.
  const framed = (Buffer.isBuffer(templates) ? [templates] : templates).map(grpcFrame);
  const client = h2GrpcClient(address, PATH, `Bearer ${KEY}`, CHANNELS);
  return { nextBody: uniqueBodies(framed), call: (frame) => client.call(frame), close: () => client.close() };
}

function grpcJsCaller(address: string, templates: Buffer | readonly Buffer[]): Caller {
  // Distinct channels: grpc-js would otherwise share one connection between clients of the same target.
  const channels = Array.from({ length: CHANNELS }, () => new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${KEY}`);
  let next = 0;
  return {
    nextBody: uniqueBodies(templates),
    call: (body) =>
      new Promise((resolve) => {
        channels[next++ % channels.length].makeUnaryRequest(PATH, identity, identity, body, metadata, (err) => resolve(err ? err.code : grpc.status.OK));
      }),
    close: async () => {
      for (const c of channels) c.close();
    },
  };
}

const caller = (address: string, templates: Buffer | readonly Buffer[]) => (CLIENT === 'h2' ? h2Caller : grpcJsCaller)(address, templates);
/** Names the client in the scenario when it is not the default one. */
const clientNote = CLIENT === 'h2' ? '' : ` [${CLIENT} client]`;

interface Tally {
  ok: number;
  failed: number;
  errors: number;
  latencies: number[];
}

function count(t: Tally, code: number, latency: number): void {
  if (code === grpc.status.OK) {
    t.ok++;
    t.latencies.push(latency);
  } else if (code < 0) t.errors++;
  else t.failed++;
}

function row(scenario: string, perRequest: number, t: Tally, seconds: number, cpu: Row['cpu'], inFlightMax: number): Row {
  t.latencies.sort((a, b) => a - b);
  return {
    ok: t.ok,
    scenario,
    target: 'signalhouse',
    eventsPerSec: Math.round((t.ok * perRequest) / seconds),
    reqPerSec: Math.round(t.ok / seconds),
    p50: percentile(t.latencies, 0.5),
    p95: percentile(t.latencies, 0.95),
    p99: percentile(t.latencies, 0.99),
    // Calls answered with a status other than OK (what non-2xx is for HTTP), and calls that got no status.
    non2xx: t.failed,
    errors: t.errors,
    inFlightMax,
    cpu,
  };
}

function cpuPerEvent(pid: number, before: Map<string, number>, genBefore: NodeJS.CpuUsage, events: number): Row['cpu'] {
  const gen = process.cpuUsage(genBefore);
  const byKind = new Map([...cpuDelta(before, threadCpu(pid))].map(([k, v]) => [k, (v * 1e6) / Math.max(1, events)]));
  return { total: [...byKind.values()].reduce((a, b) => a + b, 0), byKind, loadGen: (gen.user + gen.system) / Math.max(1, events) };
}

/** Saturation: BENCH_CONNECTIONS calls in flight for BENCH_DURATION seconds. */
export async function driveGrpc(address: string, scenario: string, templates: Buffer | readonly Buffer[], perRequest: number, pid: number): Promise<Row> {
  const calls = caller(address, templates);
  const tally: Tally = { ok: 0, failed: 0, errors: 0, latencies: [] };
  const cpuBefore = threadCpu(pid);
  const genBefore = process.cpuUsage();
  const start = performance.now();
  const stopAt = start + DURATION * 1000;
  const worker = async () => {
    while (performance.now() < stopAt) {
      const body = calls.nextBody();
      const t0 = performance.now();
      const code = await calls.call(body);
      count(tally, code, performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuPerEvent(pid, cpuBefore, genBefore, tally.ok * perRequest);
  await calls.close();
  // Every call is awaited: what was acknowledged is counted exactly.
  return row(`OTLP/gRPC ${scenario}${clientNote}`, perRequest, tally, seconds, cpu, 0);
}

/**
 * A steady `rate` of calls for `seconds` after the warm-up, latency from each call's scheduled start, in the
 * open-loop generator's result shape (non2xx: calls answered with another status than OK). Run in a process
 * of its own by the steady scenarios (steady-client.ts).
 */
export async function grpcOpenLoop(address: string, template: Buffer, rate: number, seconds: number, onMeasureStart: () => void): Promise<OpenLoopResult> {
  const calls = caller(address, template);
  const warmup: Tally = { ok: 0, failed: 0, errors: 0, latencies: [] };
  const tally: Tally = { ok: 0, failed: 0, errors: 0, latencies: [] };
  const fire = async (due: number, measured: boolean) => {
    const code = await calls.call(calls.nextBody());
    count(measured ? tally : warmup, code, performance.now() - due);
  };
  const schedule = await warmedSchedule(rate, seconds, fire, onMeasureStart);
  await calls.close();
  tally.latencies.sort((a, b) => a - b);
  return { ok: tally.ok, warmupOk: warmup.ok, non2xx: tally.failed, errors: tally.errors, latencies: tally.latencies, ...schedule };
}

/** Names the gRPC scenario as its rows do. */
export const grpcScenario = (scenario: string) => `OTLP/gRPC ${scenario}${clientNote}`;
