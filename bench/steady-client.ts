/**
 * One steady-rate scenario's load generator, in a process of its own (started by harness.ts `driveSteady`): the
 * saturation scenarios before it leave the benchmark process with hundreds of MB of request bodies to collect,
 * and its pauses land on every latency measured from the schedule (gRPC single calls after an OTLP/HTTP load
 * from the same process: p99 31 ms; with that load sent from another process: 17.5 ms). A client on another
 * machine does not share the benchmark's heap either.
 *
 * Argument: the spec as JSON. Prints `measuring` when the warm-up is over and the measured seconds begin, then
 * one line of JSON, the result.
 */
import { readFileSync } from 'node:fs';
import { grpcOpenLoop } from './grpc-load.ts';
import { KEY, percentile } from './harness.ts';
import { openLoop, type SteadyResult, type SteadySpec } from './open-loop.ts';
import { numberRequestsFrom, uniqueBodies } from './payloads.ts';

const spec = JSON.parse(process.argv[2]) as SteadySpec;
const template = readFileSync(spec.templateFile);
numberRequestsFrom(spec.firstRequest);
let cpuBefore = process.cpuUsage();
const measuring = () => {
  process.stdout.write('measuring\n');
  cpuBefore = process.cpuUsage();
};
const r =
  spec.transport === 'http'
    ? await openLoop({
        url: `${spec.target}/v1/logs`,
        headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${KEY}` },
        body: uniqueBodies(template),
        rate: spec.rate,
        seconds: spec.seconds,
        onMeasureStart: measuring,
      })
    : await grpcOpenLoop(spec.target, template, spec.rate, spec.seconds, measuring);
const cpu = process.cpuUsage(cpuBefore);
const { latencies: _, ...rest } = r;
const result: SteadyResult = {
  ...rest,
  p50: percentile(r.latencies, 0.5),
  p95: percentile(r.latencies, 0.95),
  p99: percentile(r.latencies, 0.99),
  cpuMicros: cpu.user + cpu.system,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
