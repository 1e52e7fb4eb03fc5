import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEMO_TENANT, loadConfig, parseConfig, type SignalhouseConfig } from './config.ts';
import type { ClickHouseExporterConfig } from '../exporters/clickhouse/config.ts';
import { EXPORTER_FACTORIES, resolveExporters } from '../exporters/registry.ts';
import { parseReceivers } from '../receiver/receiverhelper/factory.ts';
import type { OtlpReceiverConfig } from '../receiver/otlp/config.ts';
import { RECEIVER_FACTORIES } from '../receiver/registry.ts';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** Problems the exporters' factories find in an `exporters` section (they validate it at start). */
function exporterProblems(section: Record<string, unknown>): string[] {
  const problems: string[] = [];
  resolveExporters(EXPORTER_FACTORIES, section, problems);
  return problems;
}

/** The ClickHouse exporter's options as its factory validates them at start. */
function clickhouseOf(cfg: SignalhouseConfig): ClickHouseExporterConfig {
  const problems: string[] = [];
  const spec = resolveExporters(EXPORTER_FACTORIES, cfg.exporters, problems).find((s) => s.key === 'clickhouse');
  expect(problems).toEqual([]);
  return spec!.config as ClickHouseExporterConfig;
}

describe('config', () => {
  it('defaults to OTLP → ClickHouse pipelines, the embedded store and a demo tenant', () => {
    const cfg = parseConfig({}, {});
    expect(Object.keys(cfg.service.pipelines)).toEqual(['logs', 'traces']);
    expect(cfg.service.pipelines.logs).toEqual({
      receivers: ['otlp', 'segment', 'posthog', 'envelope', 'analytics', 'websocket', 'tracker'],
      processors: ['suppress', 'consent', 'validate', 'enrich', 'redact', 'dedupe'],
      exporters: ['clickhouse'],
    });
    expect(clickhouseOf(cfg)).toMatchObject({ endpoint: '', data_dir: './data', database: 'signalhouse', ttl: 90 * 86_400_000 });
    expect(cfg.service.http).toMatchObject({ host: '127.0.0.1', port: 4318 });
    expect(cfg.demoTenant).toBe(true);
    expect(cfg.tenants).toEqual([DEMO_TENANT]);
  });

  it('substitutes ${env:NAME} and ${env:NAME:-default}, and $$ as a literal $', () => {
    const cfg = parseConfig(
      {
        exporters: { clickhouse: { endpoint: '${env:CH_URL}', password: 'pa$$word', database: '${env:CH_DB:-analytics}' } },
        receivers: { otlp: null },
        service: { pipelines: { logs: { receivers: ['otlp'], exporters: ['clickhouse'] } } },
        tenants: [{ id: 'acme', write_keys: ['${env:ACME_KEY}'] }],
      },
      { CH_URL: 'http://ch:8123', ACME_KEY: 'wk_from_env_123' },
    );
    expect(clickhouseOf(cfg)).toMatchObject({ endpoint: 'http://ch:8123', password: 'pa$word', database: 'analytics' });
    expect(cfg.tenants[0].write_keys).toEqual(['wk_from_env_123']);
    expect(cfg.demoTenant).toBe(false);
  });

  it('reports every problem with its path at once', () => {
    const badOtlp = { protocols: { http: { max_request_body_size: 'lots' } }, unknown_option: 1 };
    const doc = {
      receivers: { otlp: badOtlp },
      exporters: { clickhouse: { batch: { max_rows: 0, max_delay: 'soon' }, database: 'bad-name;' } },
      service: {
        pipelines: {
          logs: { receivers: ['kafka'], processors: ['redact'], exporters: ['clickhouse'] },
          metrics: { receivers: ['otlp'], exporters: ['clickhouse'] },
        },
      },
      tenants: [
        { id: 'a', write_keys: ['short'] },
        { id: 'b', write_keys: ['wk_shared_key'] },
        { id: 'b', write_keys: ['wk_shared_key'] },
      ],
      extra: true,
      password: '${env:MISSING_SECRET}',
    };
    // The exporters' options are their factories' to validate (at start), by the same paths.
    const problems = [...problemsOf(() => parseConfig(doc, {})), ...exporterProblems(doc.exporters)];
    const expected = [
      'password: environment variable MISSING_SECRET is not set',
      'exporters.clickhouse.batch.max_rows: Too small',
      'exporters.clickhouse.batch.max_delay: invalid duration "soon"',
      'exporters.clickhouse.database: must be a plain identifier',
      'service.pipelines.metrics: pipeline ids are logs[/name] or traces[/name]',
      'tenants.0.write_keys.0: keys must have at least 8 characters',
      '(root): Unrecognized keys: "extra", "password"',
    ];
    for (const e of expected)
      expect(
        problems.some((p) => p.startsWith(e)),
        `${e}\nin:\n${problems.join('\n')}`,
      ).toBe(true);
    // A receiver's options are its factory's to check (as the service starts), with the same paths.
    const receiverProblems = problemsOf(() => parseReceivers(RECEIVER_FACTORIES, parseConfig({ receivers: { otlp: badOtlp } }, {}).receivers));
    for (const e of ['receivers.otlp.protocols.http.max_request_body_size: invalid byte size "lots"', 'receivers.otlp: Unrecognized key: "unknown_option"']) {
      expect(
        receiverProblems.some((p) => p.startsWith(e)),
        `${e}\nin:\n${receiverProblems.join('\n')}`,
      ).toBe(true);
    }
  });

  it('checks pipeline references and tenant uniqueness once the shape is valid', () => {
    const problems = problemsOf(() =>
      parseConfig(
        {
          receivers: { otlp: {} },
          exporters: { clickhouse: {} },
          service: { pipelines: { logs: { receivers: ['kafka'], processors: ['redact'], exporters: ['clickhouse'] } } },
          tenants: [
            { id: 'b', write_keys: ['wk_shared_key'] },
            { id: 'b', write_keys: ['wk_shared_key'] },
          ],
        },
        {},
      ),
    );
    expect(problems).toEqual([
      'service.pipelines.logs.receivers.0: receiver "kafka" is not configured under receivers',
      'service.pipelines.logs.processors.0: processor "redact" is not configured under processors',
      'tenants.1.id: duplicate tenant id "b"',
      'tenants.1.write_keys.0: key already used by tenant "b"',
    ]);
  });

  it('applies PORT, HOST, LOG_LEVEL, SIGNALHOUSE_DATA_DIR and CLICKHOUSE_URL overrides and validates them', () => {
    const cfg = parseConfig({}, { PORT: '5000', HOST: '0.0.0.0', LOG_LEVEL: 'debug', SIGNALHOUSE_DATA_DIR: '/var/lib/sh', CLICKHOUSE_URL: 'http://ch:8123' });
    expect(cfg.service.http).toMatchObject({ port: 5000, host: '0.0.0.0' });
    expect(cfg.service.log_level).toBe('debug');
    expect(clickhouseOf(cfg)).toMatchObject({ data_dir: '/var/lib/sh', endpoint: 'http://ch:8123' });
    expect(problemsOf(() => parseConfig({}, { PORT: 'eighty', LOG_LEVEL: 'loud' }))).toEqual([
      'PORT: expected an integer 0–65535, got "eighty"',
      'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
  });

  it('applies GRPC_PORT and HOST to the gRPC listener (receivers.otlp.protocols.grpc); GRPC_PORT=0 turns it off', () => {
    const otlpOf = (cfg: SignalhouseConfig) => {
      const otlp = parseReceivers(RECEIVER_FACTORIES, cfg.receivers).find((r) => r.name === 'otlp')!;
      return (otlp.config as OtlpReceiverConfig).protocols;
    };
    expect(otlpOf(parseConfig({}, {})).grpc?.endpoint).toEqual({ host: '127.0.0.1', port: 4317 });
    expect(otlpOf(parseConfig({}, { GRPC_PORT: '5317', HOST: '0.0.0.0' })).grpc?.endpoint).toEqual({ host: '0.0.0.0', port: 5317 });
    const configured = { receivers: { otlp: { protocols: { grpc: { endpoint: '[::1]:9000' }, http: {} } } } };
    expect(otlpOf(parseConfig(configured, { GRPC_PORT: '9001' })).grpc?.endpoint).toEqual({ host: '::1', port: 9001 });
    expect(otlpOf(parseConfig(configured, { HOST: '::' })).grpc?.endpoint).toEqual({ host: '::', port: 9000 });
    const off = otlpOf(parseConfig(configured, { GRPC_PORT: '0' }));
    expect(off.grpc).toBeUndefined();
    expect(off.http).toEqual({ max_request_body_size: 16 * 1024 * 1024 });
    // Listed protocols only, as in the Collector: HOST alone does not turn gRPC on.
    expect(otlpOf(parseConfig({ receivers: { otlp: { protocols: { http: {} } } } }, { HOST: '0.0.0.0' })).grpc).toBeUndefined();
    expect(problemsOf(() => parseConfig({}, { GRPC_PORT: '70000' }))).toEqual(['GRPC_PORT: expected an integer 0–65535 (0 turns gRPC off), got "70000"']);
    expect(problemsOf(() => parseReceivers(RECEIVER_FACTORIES, { otlp: { protocols: { grpc: { endpoint: 'localhost' } } } }))).toEqual([
      'receivers.otlp.protocols.grpc.endpoint: invalid endpoint "localhost" (use host:port, e.g. "127.0.0.1:4317", "[::]:4317" or ":4317")',
    ]);
  });

  it('refuses an encryption section that would store a pipeline in clear, names no tenant, or is ambiguous', () => {
    const tenants = [{ id: 'acme', write_keys: ['wk_acme_12345'] }];
    expect(
      problemsOf(() =>
        parseConfig({
          receivers: { otlp: {} },
          processors: { redact: {} },
          exporters: { clickhouse: {} },
          service: { pipelines: { logs: { receivers: ['otlp'], processors: ['redact'], exporters: ['clickhouse'] } } },
          tenants,
          encryption: { master_key_env: 'X', tenants: { initech: {} } },
        }),
      ),
    ).toEqual([
      'service.pipelines.logs.processors: encryption is on: add an "encrypt" processor (after dedupe)',
      'encryption.tenants.initech: no tenant "initech" is configured',
    ]);
    expect(problemsOf(() => parseConfig({ tenants, encryption: { master_key_env: 'X', master_key_file: '/k' } }))).toEqual([
      'encryption: set exactly one of master_key_env, master_key_file and master_keys',
    ]);
    const keys = [
      { id: 'k1', env: 'K1' },
      { id: 'k1', file: '/k' },
      { id: 'k2', env: 'K2', file: '/k' },
    ];
    expect(problemsOf(() => parseConfig({ tenants, encryption: { master_keys: keys, pii_attributes: ['a*b'] } }))).toEqual([
      'encryption.master_keys.2: set exactly one of env and file',
      'encryption.pii_attributes.0: an attribute key, or a key prefix ending in "*" (e.g. "traits.*")',
      'encryption.master_keys.1.id: duplicate master key id "k1"',
    ]);
  });

  it('ends the default pipelines with encrypt when encryption is on', () => {
    const cfg = parseConfig({ encryption: { master_key_env: 'X' } }, {});
    expect(cfg.service.pipelines.logs.processors.at(-1)).toBe('encrypt');
    expect(cfg.service.pipelines.traces.processors).toEqual(['suppress', 'validate', 'redact', 'dedupe', 'encrypt']);
    expect(cfg.processors.encrypt).toEqual({});
    expect(parseConfig({}, {}).service.pipelines.logs.processors).not.toContain('encrypt');
  });

  it('freezes the parsed config', () => {
    const cfg = parseConfig({}, {});
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(clickhouseOf(cfg).batch)).toBe(true);
    expect(() => {
      (cfg.service.http as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('loads YAML files and reports YAML and file errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sh-config-'));
    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      'exporters:\n  clickhouse:\n    ttl: 30d\n    batch: { max_rows: "1000", max_delay: 20ms }\ntenants:\n  - id: acme\n    write_keys: [wk_acme_123]\n    read_tokens: ["sha256:abababababababababababababababababababababababababababababababab"]\n',
    );
    const cfg = loadConfig(good, {});
    expect(clickhouseOf(cfg)).toMatchObject({ ttl: 30 * 86_400_000, batch: { max_rows: 1000, max_delay: 20 } });
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'receivers: [unclosed\n');
    expect(problemsOf(() => loadConfig(bad, {}))[0]).toMatch(/^YAML: /);
    expect(problemsOf(() => loadConfig(join(dir, 'missing.yaml'), {}))[0]).toMatch(/^cannot read file/);
  });

  it('ships a signalhouse.yaml that parses', () => {
    const cfg = loadConfig(join(import.meta.dirname, '..', 'signalhouse.yaml'), {});
    expect(cfg.service.pipelines.logs.exporters).toEqual(['clickhouse']);
  });
});
