/**
 * Configuration: `signalhouse.yaml` in the OpenTelemetry Collector's shape (receivers, processors, exporters,
 * service.pipelines) plus `tenants`. Parsed once at start: `${env:NAME}` / `${env:NAME:-default}` substituted in
 * string values, validated with strict zod schemas (every problem reported with its path), environment
 * overrides applied, then deep-frozen.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { byteSize, durationMs, intLike } from './units.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const SIGNALS = ['logs', 'traces'] as const;
export type Signal = (typeof SIGNALS)[number];
const PIPELINE_ID = new RegExp(`^(${SIGNALS.join('|')})(/[A-Za-z0-9_.-]+)?$`);

const clickhouseExporterSchema = z.strictObject({
  /** Server URL; empty means the embedded chDB store in `data_dir`. */
  endpoint: z.string().default(''),
  username: z.string().default('default'),
  password: z.string().default(''),
  data_dir: z.string().default('./data'),
  database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier').default('signalhouse'),
  /** Cluster name: DDL runs `ON CLUSTER` with Replicated engines. */
  cluster: z.string().regex(/^([A-Za-z_][A-Za-z0-9_-]*)?$/, 'must be a plain identifier').default(''),
  /** Retention; 0 keeps data forever. */
  ttl: durationMs.default(90 * 86_400_000),
  /** Group commit: one INSERT per table when this many rows are waiting, or after max_delay. */
  batch: z
    .strictObject({
      max_rows: intLike(1, 1_000_000).default(50_000),
      max_delay: durationMs.default(0),
    })
    .prefault({}),
  /**
   * Landing table (embedded store only): an INSERT of fewer than `max_rows` rows commits into a small table
   * without views or indexes, and landed rows move on to their tables in bulk after `move_delay` (or once
   * `move_max_rows` have landed). 0 turns it off; so does `fsync` (landing slots are not fsynced). See
   * exporters/clickhouse/landing.ts.
   */
  landing: z
    .strictObject({
      max_rows: intLike(0, 1_000_000).default(5_000),
      // Each move INSERT runs the views and writes parts: one a second instead of five cut the single-event
      // p99 by a fifth (21.4 → 17.4 ms, bench:ingest); rows are visible to queries about a second later.
      move_delay: durationMs.default(1_000),
      move_max_rows: intLike(1, 1_000_000).default(50_000),
    })
    .prefault({}),
  /** Rows accepted but not yet committed; beyond this, ingest answers 503 with Retry-After. */
  queue: z.strictObject({ max_rows: intLike(1, 100_000_000).default(500_000) }).prefault({}),
  retry: z
    .strictObject({
      initial_interval: durationMs.default(100),
      max_interval: durationMs.default(5_000),
      max_elapsed_time: durationMs.default(30_000),
    })
    .prefault({}),
  /** Keep the per-minute rollup for long-range reports; each INSERT then costs ~11 ms more. */
  rollups: z.boolean().default(true),
  /**
   * fsync every inserted part (survives power loss, not only process crashes), at a throughput cost. Turns the
   * landing slots off: every INSERT then goes straight to its table.
   */
  fsync: z.boolean().default(false),
  /** Per-query timeout. */
  timeout: durationMs.default(60_000),
});
export type ClickHouseExporterConfig = z.infer<typeof clickhouseExporterSchema>;

const pipelineSchema = z.strictObject({
  receivers: z.array(z.string()).min(1),
  processors: z.array(z.string()).default([]),
  exporters: z.array(z.string()).min(1),
});
export type PipelineConfig = z.infer<typeof pipelineSchema>;

const tenantSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, "_", "-", "." (at most 64)'),
  write_keys: z.array(z.string().min(8, 'keys must have at least 8 characters')).default([]),
  read_tokens: z.array(z.string().min(8, 'tokens must have at least 8 characters')).default([]),
});
export type TenantConfig = z.infer<typeof tenantSchema>;

const configSchema = z
  .strictObject({
    /**
     * Keyed `type` or `type/name`; each receiver factory validates its own options as the service starts
     * (receiver/registry.ts).
     */
    receivers: z.record(z.string(), z.unknown()).default({}),
    /** Keyed `type` or `type/name`; each processor factory validates its own options. */
    processors: z.record(z.string(), z.unknown()).default({}),
    exporters: z.strictObject({ clickhouse: clickhouseExporterSchema.optional() }).prefault({}),
    service: z
      .strictObject({
        http: z
          .strictObject({
            host: z.string().default('127.0.0.1'),
            port: intLike(0, 65_535).default(4318),
            /** Requests being processed at once; beyond this, 503 with Retry-After. */
            max_concurrent_requests: intLike(1, 1_000_000).default(4096),
            /**
             * Request-body bytes (as received, plus decompressed) held by unanswered requests; a request that does
             * not fit gets 503 with Retry-After. One request alone is always admitted.
             */
            max_in_flight_bytes: byteSize.default(64 * 1024 * 1024),
          })
          .prefault({}),
        log_level: z.enum(LOG_LEVELS).default('info'),
        pipelines: z.record(z.string().regex(PIPELINE_ID, `pipeline ids are ${SIGNALS.join('[/name] or ')}[/name]`), pipelineSchema),
      })
      .prefault({ pipelines: {} }),
    tenants: z.array(tenantSchema).default([]),
  })
  .superRefine((cfg, ctx) => {
    for (const [id, pipeline] of Object.entries(cfg.service.pipelines)) {
      const path = ['service', 'pipelines', id];
      pipeline.receivers.forEach((r, i) => {
        if (!Object.hasOwn(cfg.receivers, r))
          ctx.addIssue({ code: 'custom', path: [...path, 'receivers', i], message: `receiver "${r}" is not configured under receivers` });
      });
      pipeline.processors.forEach((p, i) => {
        if (!(p in cfg.processors))
          ctx.addIssue({ code: 'custom', path: [...path, 'processors', i], message: `processor "${p}" is not configured under processors` });
      });
      pipeline.exporters.forEach((e, i) => {
        if (!(e in cfg.exporters) || cfg.exporters[e as keyof typeof cfg.exporters] === undefined)
          ctx.addIssue({ code: 'custom', path: [...path, 'exporters', i], message: `exporter "${e}" is not configured under exporters` });
      });
    }
    const seenTenants = new Set<string>();
    const keyOwner = new Map<string, string>();
    cfg.tenants.forEach((t, i) => {
      if (seenTenants.has(t.id)) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'id'], message: `duplicate tenant id "${t.id}"` });
      seenTenants.add(t.id);
      for (const [field, keys] of [['write_keys', t.write_keys], ['read_tokens', t.read_tokens]] as const) {
        keys.forEach((k, j) => {
          const owner = keyOwner.get(k);
          if (owner !== undefined)
            ctx.addIssue({ code: 'custom', path: ['tenants', i, field, j], message: `key already used by tenant "${owner}"` });
          keyOwner.set(k, t.id);
        });
      }
    });
  });

export type SignalhouseConfig = z.infer<typeof configSchema> & {
  /** True when no tenants were configured and the demo tenant was created. */
  readonly demoTenant: boolean;
};

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export const DEMO_TENANT: TenantConfig = Object.freeze({
  id: 'demo',
  write_keys: ['wk_demo_local_only'],
  read_tokens: ['rt_demo_local_only'],
});

/** The pipeline set used when the config declares none: every receiver, every processor, into ClickHouse. */
const DEFAULT_PIPELINES = {
  logs: { receivers: ['otlp', 'segment', 'posthog', 'envelope'], processors: ['consent', 'validate', 'enrich', 'redact', 'dedupe'], exporters: ['clickhouse'] },
  traces: { receivers: ['otlp'], processors: ['validate', 'redact', 'dedupe'], exporters: ['clickhouse'] },
};
const DEFAULT_PROCESSORS = ['consent', 'validate', 'enrich', 'redact', 'dedupe'];

const ENV_REF = /\$\$|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Substitutes `${env:NAME}` and `${env:NAME:-default}` in every string value; `$$` is a literal `$`. */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, problems: string[], path: string[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$$') return '$';
      const v = env[name!];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set and has no default (\${env:${name}:-default})`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, problems, [...path, String(i)]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, problems, [...path, k]);
    return out;
  }
  return value;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Parses a config document (already YAML-decoded). `source` names it in error messages.
 * Throws ConfigError listing every problem by path.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, source = 'config'): SignalhouseConfig {
  const problems: string[] = [];
  const substituted = substituteEnv(raw ?? {}, env, problems);
  const doc = (substituted ?? {}) as Record<string, unknown>;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(source, ['(root): expected a mapping']);
  const withDefaults = applyDefaults(doc);
  const result = configSchema.safeParse(withDefaults);
  if (!result.success) {
    for (const issue of result.error.issues) {
      // A bad record key carries the key schema's own message one level down.
      const message = issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
      problems.push(`${formatPath(issue.path)}: ${message}`);
    }
  }
  const overrides = result.success ? applyEnvOverrides(result.data, env, problems) : undefined;
  if (problems.length > 0 || !overrides) throw new ConfigError(source, problems);
  const demoTenant = overrides.tenants.length === 0;
  if (demoTenant) overrides.tenants = [structuredClone(DEMO_TENANT)];
  return deepFreeze({ ...overrides, demoTenant });
}

/** A config without receivers/exporters/pipelines gets the OTLP → ClickHouse defaults. */
function applyDefaults(doc: Record<string, unknown>): Record<string, unknown> {
  const out = { ...doc };
  const receivers = (out.receivers ?? {}) as Record<string, unknown>;
  const exporters = (out.exporters ?? {}) as Record<string, unknown>;
  const service = { ...((out.service ?? {}) as Record<string, unknown>) };
  if (service.pipelines === undefined) {
    service.pipelines = DEFAULT_PIPELINES;
    out.receivers = { otlp: {}, segment: {}, posthog: {}, envelope: {}, ...receivers };
    const processors = (out.processors ?? {}) as Record<string, unknown>;
    out.processors = { ...Object.fromEntries(DEFAULT_PROCESSORS.map((p) => [p, {}])), ...processors };
    if (!('clickhouse' in exporters)) out.exporters = { ...exporters, clickhouse: {} };
  }
  // `otlp:` with no options parses as null in YAML; treat it as an empty mapping like the Collector does.
  for (const section of ['receivers', 'exporters', 'processors'] as const) {
    const s = out[section] as Record<string, unknown> | undefined;
    if (s && typeof s === 'object') out[section] = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v ?? {}]));
  }
  out.service = service;
  return out;
}

type ParsedConfig = z.infer<typeof configSchema>;

function applyEnvOverrides(cfg: ParsedConfig, env: NodeJS.ProcessEnv, problems: string[]): ParsedConfig {
  const out = structuredClone(cfg);
  if (env.PORT) {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) problems.push(`PORT: expected an integer 0–65535, got ${JSON.stringify(env.PORT)}`);
    else out.service.http.port = port;
  }
  if (env.HOST) out.service.http.host = env.HOST;
  if (env.LOG_LEVEL) {
    if ((LOG_LEVELS as readonly string[]).includes(env.LOG_LEVEL)) out.service.log_level = env.LOG_LEVEL as ParsedConfig['service']['log_level'];
    else problems.push(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(env.LOG_LEVEL)}`);
  }
  const ch = out.exporters.clickhouse;
  if (ch) {
    if (env.SIGNALHOUSE_DATA_DIR) ch.data_dir = env.SIGNALHOUSE_DATA_DIR;
    if (env.CLICKHOUSE_URL) ch.endpoint = env.CLICKHOUSE_URL;
  }
  return out;
}

/** Reads and parses the config file at `path`, or the built-in defaults when `path` is undefined. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): SignalhouseConfig {
  if (path === undefined) return parseConfig({}, env, 'built-in defaults');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(path, [`YAML: ${(err as Error).message}`]);
  }
  return parseConfig(raw, env, path);
}
