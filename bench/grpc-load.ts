/**
 * `bench:ingest`'s OTLP/gRPC scenarios: `LogsService/Export` calls with the same protobuf payloads as the
 * OTLP/HTTP ones (fresh event ids per call), from `@grpc/grpc-js` clients in this process. `driveGrpc` keeps
 * BENCH_CONNECTIONS calls in flight over BENCH_GRPC_CHANNELS channels (HTTP/2 connections, default 4) for the
 * scenario's duration, as autocannon does for HTTP; `driveGrpcSteady` starts calls at a steady rate whether or
 * not earlier ones were answered (the open-loop generator's rule: latency from each call's scheduled start).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { CONNECTIONS, cpuDelta, DURATION, KEY, percentile, type Row, threadCpu } from './harness.ts';
import { uniqueBodies } from './payloads.ts';

const PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
const CHANNELS = Number(process.env.BENCH_GRPC_CHANNELS ?? 4);
const identity = (b: Buffer) => b;

function clients(address: string, n: number): grpc.Client[] {
  // Distinct channels: grpc-js would otherwise share one connection between clients of the same target.
  return Array.from({ length: n }, () => new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
}

function exportCall(client: grpc.Client, body: Buffer, metadata: grpc.Metadata): Promise<number> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(PATH, identity, identity, body, metadata, (err) => resolve(err ? err.code : grpc.status.OK));
  });
}

interface Tally {
  ok: number;
  failed: number;
  latencies: number[];
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
    // Calls answered with a status other than OK (what non-2xx is for HTTP); none fail at the transport here.
    non2xx: t.failed,
    errors: 0,
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
  const nextBody = uniqueBodies(templates);
  const channels = clients(address, CHANNELS);
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${KEY}`);
  const tally: Tally = { ok: 0, failed: 0, latencies: [] };
  const cpuBefore = threadCpu(pid);
  const genBefore = process.cpuUsage();
  const start = performance.now();
  const stopAt = start + DURATION * 1000;
  const worker = async (w: number) => {
    while (performance.now() < stopAt) {
      const t0 = performance.now();
      const code = await exportCall(channels[w % channels.length], nextBody(), metadata);
      if (code === grpc.status.OK) {
        tally.ok++;
        tally.latencies.push(performance.now() - t0);
      } else tally.failed++;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, w) => worker(w)));
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuPerEvent(pid, cpuBefore, genBefore, tally.ok * perRequest);
  for (const c of channels) c.close();
  // Every call is awaited: what was acknowledged is counted exactly.
  return row(`OTLP/gRPC ${scenario}`, perRequest, tally, seconds, cpu, 0);
}

/** A steady `rate` of calls for BENCH_DURATION seconds, latency from each call's scheduled start. */
export async function driveGrpcSteady(address: string, scenario: string, template: Buffer, perRequest: number, rate: number, pid: number): Promise<Row> {
  const nextBody = uniqueBodies(template);
  const channels = clients(address, CHANNELS);
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${KEY}`);
  const tally: Tally = { ok: 0, failed: 0, latencies: [] };
  const lags: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const cpuBefore = threadCpu(pid);
  const genBefore = process.cpuUsage();
  const fire = async (due: number, i: number) => {
    const body = nextBody();
    lags.push(performance.now() - due);
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    const code = await exportCall(channels[i % channels.length], body, metadata);
    inFlight--;
    if (code === grpc.status.OK) {
      tally.ok++;
      tally.latencies.push(performance.now() - due);
    } else tally.failed++;
  };
  const interval = 1000 / rate;
  const total = Math.round(rate * DURATION);
  const start = performance.now() + 20;
  const calls: Array<Promise<void>> = [];
  for (let i = 0; i < total; ) {
    for (const now = performance.now(); i < total && start + i * interval <= now; i++) calls.push(fire(start + i * interval, i));
    if (i < total) await sleep(Math.max(0, start + i * interval - performance.now()));
  }
  await Promise.all(calls);
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuPerEvent(pid, cpuBefore, genBefore, tally.ok * perRequest);
  for (const c of channels) c.close();
  lags.sort((a, b) => a - b);
  const lagP99 = lags[Math.floor(lags.length * 0.99)] ?? 0;
  return row(`OTLP/gRPC ${scenario} (generator late by p99 ${lagP99.toFixed(1)} ms; ${maxInFlight} in flight at most)`, perRequest, tally, seconds, cpu, 0);
}
