/**
 * Every registered receiver factory, held to the same rules: its defaults parse; a bad option is refused with
 * its path, as the service reports it at start; only the receivers the pipelines name are made, one per type;
 * and a request through it, accepted or refused as a whole, is counted by the receiver helper's shared counters
 * under the receiver's name (docs/api.md, "Metrics"). A receiver added to the registry needs a sample here.
 */
import { NO_RATE_LIMITS } from '../core/rate-limit/limiter.ts';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createByteBudget } from '../core/byte-budget.ts';
import { ConfigError, parseConfig } from '../core/config.ts';
import { createTelemetry } from '../core/telemetry.ts';
import { createTenantRegistry } from '../core/tenants.ts';
import { PROCESSOR_FACTORIES } from '../processors/registry.ts';
import { buildPipelines } from '../service/pipeline.ts';
import { authMetadata, rawClient, unary } from '../test/helpers/grpc.ts';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { connectWs } from '../test/helpers/websocket.ts';
import { createReceivers, parseReceivers } from './receiverhelper/factory.ts';
import { RECEIVER_FACTORIES } from './registry.ts';

/** Per receiver type: a request with one good and one malformed event, and an option its schema refuses. */
interface Sample {
  /**
   * Sends the request another way than an HTTP POST of `body` to `path` (WebSocket ingest: a message on a
   * connection), resolving with the status HTTP would have answered (a close code 44xx is HTTP's 4xx).
   */
  exchange?(url: string, key: string | undefined): Promise<number>;
  path: string;
  /** The body; `key` is the write key where the API carries it in the body, else undefined. */
  body(key: string | undefined): unknown;
  /** The Authorization header for a write key, when the API reads it from there. */
  authorization: boolean;
  badOption: { options: Record<string, unknown>; problem: string };
  /** A gRPC-only receiver: the good and the malformed event as two calls of a unary method, on raw messages. */
  grpc?: { path: string; good: Buffer; malformed: Buffer };
}

/** analytics.v1.TrackEventRequest { event_name = 1; user_id = 2 } */
const trackEvent = (eventName: string) =>
  Buffer.from(new BinaryWriter().tag(1, WireType.LengthDelimited).string(eventName).tag(2, WireType.LengthDelimited).string('u').finish());

const SAMPLES: Record<string, Sample> = {
  otlp: {
    path: '/v1/logs',
    body: () => ({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ eventName: 'conformance.otlp' }, { eventName: 'conformance.otlp', spanId: 'xyz' }] }] }] }),
    authorization: true,
    badOption: { options: { limits: { max_name_length: 0 } }, problem: 'receivers.otlp.limits.max_name_length: Too small' },
  },
  segment: {
    path: '/v1/batch',
    body: () => ({
      batch: [
        { type: 'track', userId: 'u', event: 'conformance.segment', messageId: 'cf-seg-1' },
        { type: 'track', userId: 'u', messageId: 'cf-seg-2' },
      ],
    }),
    authorization: true,
    badOption: { options: { max_batch_size: 'lots' }, problem: 'receivers.segment.max_batch_size: invalid byte size "lots"' },
  },
  posthog: {
    path: '/batch/',
    body: (key) => ({
      api_key: key,
      batch: [
        { event: 'conformance.posthog', distinct_id: 'u', uuid: 'cf-ph-1', properties: {} },
        { event: 'conformance.posthog', uuid: 'cf-ph-2', properties: {} },
      ],
    }),
    authorization: false,
    badOption: { options: { limits: { max_value_depth: 1000 } }, problem: 'receivers.posthog.limits.max_value_depth: Too big' },
  },
  envelope: {
    path: '/api/v1/analytics/events/batch',
    body: () => ({
      events: [
        { event_id: 'cf-env-1', event_name: 'conformance.envelope', user_id: 'u' },
        { event_id: 'cf-env-2', event_name: '', user_id: 'u' },
      ],
    }),
    authorization: true,
    badOption: { options: { max_batch_events: 0 }, problem: 'receivers.envelope.max_batch_events: Too small' },
  },
  analytics: {
    path: '',
    body: () => undefined,
    authorization: true,
    badOption: { options: { rate_limit: { max_users: 0 } }, problem: 'receivers.analytics.rate_limit.max_users: Too small' },
    grpc: { path: '/analytics.v1.AnalyticsService/TrackEvent', good: trackEvent('conformance.analytics'), malformed: trackEvent('') },
  },
  websocket: {
    async exchange(url, key) {
      const client = await connectWs(url, { key });
      const events = [
        { event_id: 'cf-ws-1', event_name: 'conformance.websocket', user_id: 'u' },
        { event_id: 'cf-ws-2', event_name: '', user_id: 'u' },
      ];
      client.send({ type: 'batch', id: 'cf-ws', events });
      const status = await client.answer('cf-ws').then(
        (m) => (m.type === 'ack' ? 200 : 400),
        async () => (await client.closed).code - 4000,
      );
      client.socket.close();
      await client.closed;
      return status;
    },
    path: '/api/v1/analytics/ws',
    body: () => undefined,
    authorization: true,
    badOption: { options: { max_in_flight_messages: 0 }, problem: 'receivers.websocket.max_in_flight_messages: Too small' },
  },
  tracker: {
    path: '/sh/v1/batch',
    body: (key) => ({
      writeKey: key,
      events: [
        { type: 'track', event: 'conformance.tracker', anonymousId: 'a', messageId: 'cf-tr-1' },
        { type: 'track', anonymousId: 'a', messageId: 'cf-tr-2' },
      ],
    }),
    authorization: false,
    badOption: { options: { max_batch_size: 'huge' }, problem: 'receivers.tracker.max_batch_size: invalid byte size "huge"' },
  },
};

/** gRPC codes as the HTTP statuses the counters label failures with. */
const STATUS_OF_CODE: Record<number, number> = { 0: 200, 3: 400, 16: 401 };

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const types = [...RECEIVER_FACTORIES.keys()];

describe('receiver factories', () => {
  it('each registered type has a conformance sample, and each sample a registered type', () => {
    expect([...types].sort()).toEqual(Object.keys(SAMPLES).sort());
    for (const [type, f] of RECEIVER_FACTORIES) expect(f.type).toBe(type);
  });

  it.each(types)('%s: its defaults parse, as `type` and as `type/name` (a YAML key without options included)', (type) => {
    const factory = RECEIVER_FACTORIES.get(type)!;
    const defaults = factory.configSchema.parse({});
    const pipelines = { logs: { receivers: [type], exporters: ['clickhouse'] } };
    const raw = parseConfig({ receivers: { [type]: null, [`${type}/second`]: {} }, exporters: { clickhouse: {} }, service: { pipelines } }, {}).receivers;
    const configured = parseReceivers(RECEIVER_FACTORIES, raw);
    expect(configured.map((c) => [c.name, c.factory.type])).toEqual([
      [type, type],
      [`${type}/second`, type],
    ]);
    for (const c of configured) expect(c.config).toEqual(defaults);
  });

  it.each(types)('%s: an unknown option and a bad value are refused with their paths, all at once', (type) => {
    const { options, problem } = SAMPLES[type].badOption;
    const problems = problemsOf(() => parseReceivers(RECEIVER_FACTORIES, { [type]: { ...options, no_such_option: 1 }, [`${type}/b`]: options }));
    expect(problems).toContainEqual(`receivers.${type}: Unrecognized key: "no_such_option"`);
    expect(problems.filter((p) => p.startsWith(problem))).toHaveLength(1);
    expect(problems.filter((p) => p.startsWith(problem.replace(`receivers.${type}.`, `receivers.${type}/b.`)))).toHaveLength(1);
  });

  it('refuses an unknown receiver type, naming the known ones', () => {
    expect(problemsOf(() => parseReceivers(RECEIVER_FACTORIES, { kafka: {} }))).toEqual([
      `receivers.kafka: unknown receiver type "kafka" (known: ${types.join(', ')})`,
    ]);
  });

  it('makes only the receivers the pipelines name, under their names, and one receiver per type', () => {
    const telemetry = createTelemetry();
    const settings = (config: ReturnType<typeof parseConfig>) => ({
      pipelines: buildPipelines(config, new Map(), PROCESSOR_FACTORIES, telemetry),
      tenants: createTenantRegistry(config.tenants),
      telemetry,
      byteBudget: createByteBudget(1024 * 1024),
      rateLimits: NO_RATE_LIMITS,
    });
    const named = parseConfig(
      {
        receivers: { otlp: {}, 'segment/eu': {}, posthog: { max_event_size: '1KiB' } },
        exporters: { clickhouse: {} },
        service: { pipelines: { logs: { receivers: ['segment/eu', 'otlp'], exporters: ['clickhouse'] } } },
      },
      {},
    );
    expect(createReceivers(RECEIVER_FACTORIES, named, settings(named)).map((r) => r.name)).toEqual(['otlp', 'segment/eu']);
    const twice = parseConfig(
      {
        receivers: { otlp: {}, 'otlp/b': {} },
        exporters: { clickhouse: {} },
        service: { pipelines: { logs: { receivers: ['otlp'], exporters: ['clickhouse'] }, traces: { receivers: ['otlp/b'], exporters: ['clickhouse'] } } },
      },
      {},
    );
    expect(problemsOf(() => createReceivers(RECEIVER_FACTORIES, twice, settings(twice)))).toEqual([
      'receivers.otlp/b: receiver "otlp" already serves the routes of type "otlp" (one receiver per type)',
    ]);
  });
});

describe('receivers through the service count with the shared counters', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc?.close();
  });

  /** The sum of the series of /metrics with that name and those labels (whatever their other labels). */
  async function metric(name: string, labels: Record<string, string>): Promise<number> {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const wanted = Object.entries(labels);
    let sum = 0;
    for (const line of text.split('\n')) {
      const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries([...m[2].matchAll(/([a-z_]+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      if (wanted.every(([k, v]) => have[k] === v)) sum += Number(m[3]);
    }
    return sum;
  }

  async function send(sample: Sample, key: string | undefined): Promise<{ status: number }> {
    if (sample.grpc) {
      // With a key, both events (one call each); without, one call, refused as a whole.
      const client = rawClient(svc.grpcAddress!);
      const first = await unary(client, sample.grpc.path, sample.grpc.good, authMetadata(key));
      if (key !== undefined) await unary(client, sample.grpc.path, sample.grpc.malformed, authMetadata(key));
      client.close();
      return { status: STATUS_OF_CODE[first.code] ?? 500 };
    }
    if (sample.exchange) return { status: await sample.exchange(svc.url, key) };
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key !== undefined && sample.authorization) headers.authorization = `Bearer ${key}`;
    return fetch(`${svc.url}${sample.path}`, { method: 'POST', headers, body: JSON.stringify(sample.body(key)) });
  }

  it.each(types)('%s: records received, accepted and rejected, and a request refused whole by its status', async (receiver) => {
    const sample = SAMPLES[receiver];
    const records = { receiver, signal: 'logs' };
    const before = {
      received: await metric('signalhouse_receiver_received_records_total', records),
      accepted: await metric('signalhouse_receiver_accepted_records_total', records),
      rejected: await metric('signalhouse_receiver_rejected_records_total', records),
      failed: await metric('signalhouse_receiver_failed_requests_total', { receiver, status: '401' }),
    };
    const ok = await send(sample, ACME_KEY);
    expect(ok.status).toBeLessThan(300);
    const refused = await send(sample, undefined);
    expect(refused.status).toBe(401);
    expect({
      received: (await metric('signalhouse_receiver_received_records_total', records)) - before.received,
      accepted: (await metric('signalhouse_receiver_accepted_records_total', records)) - before.accepted,
      rejected: (await metric('signalhouse_receiver_rejected_records_total', records)) - before.rejected,
      failed: (await metric('signalhouse_receiver_failed_requests_total', { receiver, status: '401' })) - before.failed,
    }).toEqual({ received: 2, accepted: 1, rejected: 1, failed: 1 });
  });
});
