/**
 * Configuration: `signalhouse.yaml` in the OpenTelemetry Collector's shape (receivers, processors, exporters,
 * service.pipelines) plus `tenants`. Parsed once at start: `${env:NAME}` / `${env:NAME:-default}` substituted in
 * string values, validated with strict zod schemas (every problem reported with its path), environment
 * overrides applied, then deep-frozen.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { tlsSchema } from './tls.ts';
import { rateLimitsSchema, tenantRateLimitsSchema } from './rate-limit/config.ts';
import { byteSize, durationMs, intLike, joinHostPort, splitHostPort } from './units.ts';

/** Where the gRPC listener (`receivers.otlp.protocols.grpc.endpoint`) listens by default. */
export const DEFAULT_GRPC_ENDPOINT = '127.0.0.1:4317';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const SIGNALS = ['logs', 'traces'] as const;
export type Signal = (typeof SIGNALS)[number];
const PIPELINE_ID = new RegExp(`^(${SIGNALS.join('|')})(/[A-Za-z0-9_.-]+)?$`);

/** Component ids in config keys: `type` or `type/name`. */
const COMPONENT_ID = /^[A-Za-z][A-Za-z0-9_]*(\/[A-Za-z0-9_.-]+)?$/;

const pipelineSchema = z.strictObject({
  receivers: z.array(z.string()).min(1),
  processors: z.array(z.string()).default([]),
  exporters: z.array(z.string()).min(1),
});
export type PipelineConfig = z.infer<typeof pipelineSchema>;

/** A browser origin as sent in `Origin`: scheme, host and port, no path. */
const origin = z.string().refine((o) => {
  try {
    return new URL(o).origin === o;
  } catch {
    return false;
  }
}, 'an origin is scheme://host[:port], without a path or a trailing slash');

const tenantSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, "_", "-", "." (at most 64)'),
  write_keys: z.array(z.string().min(8, 'keys must have at least 8 characters')).default([]),
  read_tokens: z.array(z.string().min(8, 'tokens must have at least 8 characters')).default([]),
  /** Secret, for the admin routes (privacy jobs, the audit log); `sha256:<hex>` entries as for read tokens. */
  admin_tokens: z.array(z.string().min(8, 'tokens must have at least 8 characters')).default([]),
  /**
   * How long this tenant's events, spans and rollups are kept (e.g. `30d`); absent: the ClickHouse exporter's
   * `ttl`; 0 keeps them forever. Applied as a per-row TTL (docs/privacy.md, "Retention").
   */
  retention: durationMs.optional(),
  /**
   * Browser origins allowed to send with this tenant's write keys (`https://shop.acme.com`); empty allows any, as
   * write keys are public. Requests without an `Origin` (server SDKs) are not affected.
   */
  allowed_origins: z.array(origin).default([]),
  /** This tenant's rate limits over `rate_limits.tenant`, and its keys' over `rate_limits.key` (core/rate-limit/). */
  rate_limits: tenantRateLimitsSchema.optional(),
});
export type TenantConfig = z.infer<typeof tenantSchema>;

/** A token's digest as the config may give it: `sha256:` and 64 hex digits. */
const SHA256_ENTRY = /^sha256:[0-9a-fA-F]{64}$/;

/**
 * JWT bearer tokens for the read and admin roles (`auth.jwt`), verified with `jose` against a JWKS URL or a
 * static public key, mapped to a tenant and a role by two claims.
 */
const jwtSchema = z
  .strictObject({
    /** Where the issuer publishes its signing keys (fetched when needed, cached by kid). */
    jwks_url: z.url({ protocol: /^https?$/ }).optional(),
    /** A PEM public key (SPKI), instead of a JWKS. */
    public_key: z.string().min(1).optional(),
    /** Expected `iss`. */
    issuer: z.string().min(1),
    /** Expected `aud`. */
    audience: z.string().min(1),
    /** The claim naming the tenant (a configured tenant id). */
    tenant_claim: z.string().min(1).default('tenant'),
    /** The claim naming the role: `read` or `admin` (a string, or an array holding one of them). */
    role_claim: z.string().min(1).default('role'),
    /** Accepted signature algorithms; default: those the key type allows. */
    algorithms: z.array(z.string().min(1)).min(1).optional(),
    /** Leeway for `exp` / `nbf`. */
    clock_tolerance: durationMs.default(30_000),
  })
  .superRefine((j, ctx) => {
    if ((j.jwks_url === undefined) === (j.public_key === undefined))
      ctx.addIssue({ code: 'custom', path: [], message: 'set exactly one of jwks_url and public_key' });
  });
export type JwtConfig = z.infer<typeof jwtSchema>;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** An attribute key, or a prefix of keys ending in `*` (`traits.*`). */
const attributePattern = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^*]+\*?$/, 'an attribute key, or a key prefix ending in "*" (e.g. "traits.*")');
const masterKeySource = z
  .strictObject({
    /** Written beside every data key it wraps; never reuse an id for another key. */
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'letters, digits, "_", "-", "." (at most 32)'),
    /** An environment variable holding the key: 64 hex digits or base64 of 32 bytes. */
    env: z.string().regex(ENV_NAME, 'an environment variable name').optional(),
    /** A file holding the key, as for `env`. */
    file: z.string().min(1).optional(),
  })
  .superRefine((k, ctx) => {
    if ((k.env === undefined) === (k.file === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'set exactly one of env and file' });
  });

/**
 * Encryption at rest of traits and PII attributes (docs/privacy.md, "Encryption at rest"): where the master keys
 * come from (`master_key_env`, `master_key_file`, or `master_keys` for rotation: the first encrypts, all
 * decrypt), what is encrypted, and whether each person gets a key of their own (erasure shreds it).
 */
const encryptionSchema = z
  .strictObject({
    /** Shorthand for `master_keys: [{ id: default, env: ... }]`. */
    master_key_env: z.string().regex(ENV_NAME, 'an environment variable name').optional(),
    /** Shorthand for `master_keys: [{ id: default, file: ... }]`. */
    master_key_file: z.string().min(1).optional(),
    /** Newest first: the first wraps new data keys (and re-wraps older ones at start); every one unwraps. */
    master_keys: z.array(masterKeySource).min(1).optional(),
    /** Identify traits (attributes `traits.*`). */
    traits: z.boolean().default(true),
    /**
     * Further attributes encrypted for every tenant: keys (matched on the whole key or its last dotted part, in
     * any letter case, as redact's blocked_keys: `email` covers `user.email`), or prefixes ending in `*`.
     */
    pii_attributes: z.array(attributePattern).default([]),
    /**
     * Encrypted attributes that also get a blind index (`bidx.<key>`, an HMAC of the value): equality filters and
     * grouping then work, at the cost of showing which rows share a value. Matched as `pii_attributes`.
     */
    blind_index: z.array(attributePattern).default([]),
    /** Per tenant id: attributes encrypted for that tenant besides the global ones. */
    tenants: z.record(z.string(), z.strictObject({ pii_attributes: z.array(attributePattern).default([]) })).default({}),
    /** A data key per person (user id, else anonymous id): erasing the person deletes it, shredding what is left. */
    per_person_keys: z.boolean().default(false),
  })
  .superRefine((e, ctx) => {
    const sources = [e.master_key_env, e.master_key_file, e.master_keys].filter((s) => s !== undefined).length;
    if (sources !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'set exactly one of master_key_env, master_key_file and master_keys' });
    const ids = new Set<string>();
    e.master_keys?.forEach((k, i) => {
      if (ids.has(k.id)) ctx.addIssue({ code: 'custom', path: ['master_keys', i, 'id'], message: `duplicate master key id "${k.id}"` });
      ids.add(k.id);
    });
  });
export type EncryptionConfig = z.infer<typeof encryptionSchema>;

const configSchema = z
  .strictObject({
    /**
     * Keyed `type` or `type/name`; each receiver factory validates its own options as the service starts
     * (receiver/registry.ts).
     */
    receivers: z.record(z.string(), z.unknown()).default({}),
    /** Keyed `type` or `type/name`; each processor factory validates its own options. */
    processors: z.record(z.string(), z.unknown()).default({}),
    /** Keyed `type` or `type/name`; each exporter factory validates its own options at start. */
    exporters: z.record(z.string().regex(COMPONENT_ID, 'exporter ids are type[/name]'), z.unknown()).default({}),
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
            /**
             * Browser origins allowed to call the query API (CORS). None by default: read tokens are secret and
             * belong in a server or the built-in dashboard, not in another site's pages. Ingest paths answer
             * CORS for any origin, checked per tenant (`tenants[].allowed_origins`).
             */
            query_allowed_origins: z.array(origin).default([]),
            /** Serve HTTPS from these files (core/tls.ts); absent: plain HTTP. */
            tls: tlsSchema.optional(),
          })
          .prefault({}),
        log_level: z.enum(LOG_LEVELS).default('info'),
        pipelines: z.record(z.string().regex(PIPELINE_ID, `pipeline ids are ${SIGNALS.join('[/name] or ')}[/name]`), pipelineSchema),
      })
      .prefault({ pipelines: {} }),
    tenants: z.array(tenantSchema).default([]),
    /** SLOs and alerting; validated against the metric catalog and the tenants when the service starts (alerting/config.ts). */
    alerting: z.unknown().optional(),
    /** Feature flags per tenant id; validated when the service starts (experiments/flags/config.ts). */
    flags: z.unknown().optional(),
    /** Bearer tokens besides the configured ones (JWT). */
    auth: z.strictObject({ jwt: jwtSchema.optional() }).prefault({}),
    encryption: encryptionSchema.optional(),
    /** Token buckets per tenant and per key, local or shared through Redis (core/rate-limit/). Default: none. */
    rate_limits: rateLimitsSchema,
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
        if (!Object.hasOwn(cfg.exporters, e))
          ctx.addIssue({ code: 'custom', path: [...path, 'exporters', i], message: `exporter "${e}" is not configured under exporters` });
      });
    }
    if (cfg.encryption) checkEncryption(cfg.encryption, cfg.service.pipelines, cfg.tenants, ctx);
    const seenTenants = new Set<string>();
    const keyOwner = new Map<string, string>();
    cfg.tenants.forEach((t, i) => {
      if (seenTenants.has(t.id)) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'id'], message: `duplicate tenant id "${t.id}"` });
      seenTenants.add(t.id);
      for (const [field, keys] of [
        ['write_keys', t.write_keys],
        ['read_tokens', t.read_tokens],
        ['admin_tokens', t.admin_tokens],
      ] as const) {
        keys.forEach((k, j) => {
          if (field !== 'write_keys' && k.startsWith('sha256:') && !SHA256_ENTRY.test(k))
            ctx.addIssue({ code: 'custom', path: ['tenants', i, field, j], message: 'a digest entry is "sha256:" and 64 hex digits' });
          const owner = keyOwner.get(k);
          if (owner !== undefined) ctx.addIssue({ code: 'custom', path: ['tenants', i, field, j], message: `key already used by tenant "${owner}"` });
          keyOwner.set(k, t.id);
        });
      }
      const own = new Set([...t.write_keys, ...t.read_tokens, ...t.admin_tokens]);
      const overridden = new Set<string>();
      t.rate_limits?.keys.forEach((o, j) => {
        const path = ['tenants', i, 'rate_limits', 'keys', j, 'key'];
        if (!own.has(o.key)) ctx.addIssue({ code: 'custom', path, message: "not one of this tenant's write_keys, read_tokens or admin_tokens" });
        else if (overridden.has(o.key)) ctx.addIssue({ code: 'custom', path, message: 'this key already has limits above' });
        overridden.add(o.key);
      });
    });
  });

/**
 * With encryption on, every pipeline runs an `encrypt` processor (else its records would be stored in clear), and
 * `encryption.tenants` names configured tenants (or the demo tenant when none is configured).
 */
function checkEncryption(enc: EncryptionConfig, pipelines: Record<string, PipelineConfig>, tenants: ReadonlyArray<{ id: string }>, ctx: z.RefinementCtx): void {
  for (const [id, pipeline] of Object.entries(pipelines)) {
    if (!pipeline.processors.some((p) => p.split('/')[0] === 'encrypt'))
      ctx.addIssue({
        code: 'custom',
        path: ['service', 'pipelines', id, 'processors'],
        message: 'encryption is on: add an "encrypt" processor (after dedupe)',
      });
  }
  const known = new Set(tenants.length > 0 ? tenants.map((t) => t.id) : [DEMO_TENANT.id]);
  for (const id of Object.keys(enc.tenants)) {
    if (!known.has(id)) ctx.addIssue({ code: 'custom', path: ['encryption', 'tenants', id], message: `no tenant "${id}" is configured` });
  }
}

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
  admin_tokens: ['at_demo_local_only'],
  allowed_origins: [],
});

/** The pipeline set used when the config declares none: every receiver, every processor, into ClickHouse. */
const DEFAULT_PIPELINES = {
  logs: {
    receivers: ['otlp', 'segment', 'posthog', 'envelope', 'analytics', 'websocket', 'tracker'],
    processors: ['suppress', 'consent', 'validate', 'enrich', 'redact', 'dedupe'],
    exporters: ['clickhouse'],
  },
  traces: { receivers: ['otlp'], processors: ['suppress', 'validate', 'redact', 'dedupe'], exporters: ['clickhouse'] },
};
const DEFAULT_PROCESSORS = ['suppress', 'consent', 'validate', 'enrich', 'redact', 'dedupe'];

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
    // With encryption on, last in every chain: dedupe hashes the content of events without an id, which must
    // still be the plaintext (a ciphertext differs at every retry).
    const encrypting = out.encryption !== undefined && out.encryption !== null;
    service.pipelines = encrypting
      ? Object.fromEntries(Object.entries(DEFAULT_PIPELINES).map(([id, p]) => [id, { ...p, processors: [...p.processors, 'encrypt'] }]))
      : DEFAULT_PIPELINES;
    out.receivers = { otlp: {}, segment: {}, posthog: {}, envelope: {}, analytics: {}, websocket: {}, tracker: {}, ...receivers };
    const processors = (out.processors ?? {}) as Record<string, unknown>;
    out.processors = { ...Object.fromEntries([...DEFAULT_PROCESSORS, ...(encrypting ? ['encrypt'] : [])].map((p) => [p, {}])), ...processors };
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
  overrideGrpcEndpoint(out.receivers, env, problems);
  if (env.LOG_LEVEL) {
    if ((LOG_LEVELS as readonly string[]).includes(env.LOG_LEVEL)) out.service.log_level = env.LOG_LEVEL as ParsedConfig['service']['log_level'];
    else problems.push(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(env.LOG_LEVEL)}`);
  }
  // Set on the ClickHouse exporter's options before its factory validates them.
  const ch = out.exporters.clickhouse;
  if (ch !== null && typeof ch === 'object' && !Array.isArray(ch)) {
    const options = ch as Record<string, unknown>;
    if (env.SIGNALHOUSE_DATA_DIR) options.data_dir = env.SIGNALHOUSE_DATA_DIR;
    if (env.CLICKHOUSE_URL) options.endpoint = env.CLICKHOUSE_URL;
  }
  return out;
}

/**
 * `GRPC_PORT` and `HOST` on the gRPC listener, the OTLP receiver's `protocols.grpc.endpoint`, before its factory
 * validates it: `GRPC_PORT=0` turns the listener off (removes `protocols.grpc`), another port turns it on at
 * that port; `HOST` replaces the endpoint's host, as it does the HTTP listener's.
 */
function overrideGrpcEndpoint(receivers: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: string[]): void {
  const otlp = receivers.otlp;
  if (otlp === null || typeof otlp !== 'object' || Array.isArray(otlp)) return;
  const options = otlp as Record<string, unknown>;
  let port: number | undefined;
  if (env.GRPC_PORT) {
    port = Number(env.GRPC_PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      problems.push(`GRPC_PORT: expected an integer 0–65535 (0 turns gRPC off), got ${JSON.stringify(env.GRPC_PORT)}`);
      return;
    }
  }
  if (port === undefined && !env.HOST) return;
  // Without `protocols` both are on; with it, the ones listed (the Collector's rule).
  options.protocols ??= { http: {}, grpc: {} };
  const protocols = options.protocols as Record<string, unknown>;
  if (protocols === null || typeof protocols !== 'object' || Array.isArray(protocols)) return;
  if (port === 0) {
    delete protocols.grpc;
    return;
  }
  if (port === undefined && !Object.hasOwn(protocols, 'grpc')) return;
  const grpc = (protocols.grpc ?? {}) as Record<string, unknown>;
  if (typeof grpc !== 'object' || Array.isArray(grpc)) return;
  const configured = typeof grpc.endpoint === 'string' ? splitHostPort(grpc.endpoint) : undefined;
  if (grpc.endpoint !== undefined && configured === undefined) return; // the factory reports the bad endpoint
  const current = configured ?? splitHostPort(DEFAULT_GRPC_ENDPOINT)!;
  protocols.grpc = { ...grpc, endpoint: joinHostPort(env.HOST || current.host, port ?? current.port) };
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
