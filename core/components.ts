/**
 * The interfaces the components and the assembly share, as in the Collector's component package: processors
 * (made by factories from validated options), the processor chain, exporters, and the pipelines that receivers
 * hand batches to. Implementations live in their components' folders; `service/` assembles them.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { ByteBudget } from './byte-budget.ts';
import type { Signal } from './config.ts';
import type { RateLimiter } from './rate-limit/limiter.ts';
import type { FlagsEvaluator } from './flags.ts';
import type { SuppressionList } from './suppressions.ts';
import type { Batch } from './event.ts';
import type { Encryption } from './keyring.ts';
import type { Telemetry } from './telemetry.ts';
import type { Principal, Role, TenantRegistry } from './tenants.ts';
import type { TlsMaterial } from './tls.ts';

export interface Processor {
  readonly name: string;
  process(batch: Batch): Batch | Promise<Batch>;
  /**
   * The batch this processor passed on was not committed (the request fails and the client will retry):
   * forget any state taken from it, e.g. dedupe's remembered ids, so the retry is not mistaken for a duplicate.
   */
  release?(batch: Batch): void;
  /** The batch this processor passed on was committed. */
  committed?(batch: Batch): void;
  /** Called once before the first batch, e.g. to rebuild state from storage. */
  start?(ctx: ProcessorStartContext): Promise<void>;
}

/** What storage offers processors at start: operations, not SQL (storage/events.ts). */
export interface ProcessorStartContext {
  /** The distinct (tenant, event id) pairs stored within the last `windowMs`, oldest first, at most `max`. */
  recentEventIds(signal: Signal, windowMs: number, max: number): Promise<Array<{ tenantId: string; eventId: string; atMs: number }>>;
  /** Ids whose events are not stored (erased with suppression), kept current while the service runs. */
  readonly suppressions: SuppressionList;
  /** The data keys and what to encrypt, when `encryption` is configured (core/keyring.ts). */
  readonly encryption?: Encryption;
}

export interface ProcessorFactory<S extends z.ZodType = z.ZodType> {
  /** The `type` part of `type/name` config keys. */
  readonly type: string;
  /** Signals the processor understands; a pipeline of another signal may not use it. */
  readonly signals: readonly Signal[];
  /** Strict schema for the processor's options (defaults applied). */
  readonly configSchema: S;
  create(config: z.infer<S>, name: string, signal: Signal): Processor;
}

export interface ProcessorChain {
  readonly names: readonly string[];
  run(batch: Batch): Promise<Batch>;
  /** Tells every processor that `batch` (the chain's output) was not committed. */
  release(batch: Batch): void;
  /** Tells every processor that `batch` (the chain's output) was committed. */
  committed(batch: Batch): void;
  start(ctx: ProcessorStartContext): Promise<void>;
}

/** The factories known to this build, keyed by type. Processors register here as they are added. */
export type ProcessorRegistry = ReadonlyMap<string, ProcessorFactory>;

export interface Exporter {
  readonly name: string;
  /** Moves what a previous run left in the landing table; call before accepting data. */
  start(): Promise<void>;
  /** Resolves once every event of the batch is committed; rejects with a SignalhouseError otherwise. */
  export(batch: Batch): Promise<void>;
  /** Resolves when every event acknowledged before the call is in its table (landed rows moved on). */
  settle(): Promise<void>;
  /** Shutdown has begun: commit what is waiting now and stop delaying new rows (still accepted). */
  flushNow(): void;
  /** Stops taking new batches, flushes everything queued and waits for it to commit. */
  drain(): Promise<void>;
  /**
   * Waits for the INSERTs under way, then runs `fn` while new ones wait (they are held, not refused): for
   * statements that must not interleave with ingest, such as an erasure's rebuild of rollup minutes.
   */
  holdWrites?<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * What every exporter is created with besides its options. An exporter family extends it with what its
 * exporters share (exporters/host.ts: the store), supplied by the service.
 */
export interface ExporterCreateContext {
  readonly telemetry: Telemetry;
  readonly logger?: Logger;
}

export interface ExporterFactory<S extends z.ZodType = z.ZodType, C extends ExporterCreateContext = ExporterCreateContext> {
  /** The `type` part of `type/name` config keys. */
  readonly type: string;
  /** Strict schema for the exporter's options (defaults applied). */
  readonly configSchema: S;
  /** `name` is its config key; the config is one `configSchema` parsed. */
  create(config: z.infer<S>, name: string, ctx: C): Exporter;
}

/** The exporter factories known to this build, keyed by type. */
export type ExporterRegistry<C extends ExporterCreateContext = ExporterCreateContext> = ReadonlyMap<string, ExporterFactory<z.ZodType, C>>;

export interface Pipeline {
  readonly id: string;
  readonly signal: Signal;
  readonly chain: ProcessorChain;
  /** Runs the processors, then every exporter; resolves when all have committed. */
  consume(batch: Batch): Promise<Batch>;
}

export interface Pipelines {
  /** The pipeline fed by `receiver` for `signal`, if any. */
  find(receiver: string, signal: Signal): Pipeline | undefined;
  readonly all: readonly Pipeline[];
  /** Starts every processor (once, before traffic). */
  start(ctx: ProcessorStartContext): Promise<void>;
}

/** What a receiver is made with besides its options: its name, where it hands batches, and the shared services. */
export interface ReceiverSettings {
  /** Its config key, `type` or `type/name`: pipelines name it by it, and its metrics carry it as `receiver`. */
  readonly name: string;
  /** The pipelines; a receiver feeds the one that names it for each signal it serves (`find(name, signal)`). */
  readonly pipelines: Pipelines;
  readonly tenants: TenantRegistry;
  readonly telemetry: Telemetry;
  /** The server's in-flight byte budget: what a receiver holds of it bounds memory across all receivers. */
  readonly byteBudget: ByteBudget;
  /** The rate limits per tenant and per key, taken at each request's admission (receiverhelper/rate-limit.ts). */
  readonly rateLimits: RateLimiter;
  /** Feature flags, for the receivers that answer them (the PostHog API's `/flags`); absent: none. */
  readonly flags?: FlagsEvaluator;
}

export interface Receiver {
  readonly name: string;
  /**
   * Its HTTP routes, as a Fastify plugin the service registers on the shared server; it runs in a scope of its
   * own, so its body parsers and error handler apply to its routes only.
   */
  readonly routes: FastifyPluginAsync;
  /** Its gRPC methods, served on the service's one gRPC listener. */
  readonly grpcMethods?: readonly GrpcMethod[];
  /** The gRPC listener's settings, from the receiver that configures it (the OTLP receiver's `protocols.grpc`). */
  readonly grpcListener?: GrpcListenerSettings;
  /**
   * Shutdown has begun (new requests are refused): stop taking new messages on long-lived connections, answer
   * those taken, and close the connections. Resolves when they are closed; the exporters drain after that.
   */
  drain?(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route takes WebSocket upgrades (an upgrade to any other route is refused). Its connections are not
     * requests in flight: the receiver bounds them and closes them in `drain`.
     */
    acceptsWebSocket?: boolean;
  }
}

/** What a gRPC method sees of its call besides the request message. */
export interface GrpcCall {
  /** Who is calling, authenticated by the listener for the method's `role`; undefined for a method without one. */
  readonly principal: Principal | undefined;
  /** The first value of a (lower-case) metadata key, e.g. `authorization`. */
  metadata(key: string): string | undefined;
  /** Adds a trailer to a successful reply (e.g. what became of an event that was accepted but not stored). */
  setTrailer(key: string, value: string): void;
}

/**
 * One unary gRPC method, on raw messages: the component decodes the request and encodes the response itself
 * (our own wire codecs), so a message that cannot be decoded is its INVALID_ARGUMENT, not the library's INTERNAL.
 * The listener does the rest: admission, the byte budget, the drain, and every thrown error mapped to a status
 * in one place (core/grpc-status.ts).
 */
export interface GrpcMethod {
  /** `/package.Service/Method`. */
  readonly path: string;
  /**
   * The role its `authorization` metadata must hold, checked by the listener before `handle` runs, as HTTP
   * checks it: a write key (ingest), a read token or an admin token (also a bearer JWT granting that role);
   * undefined: no key (health).
   */
  readonly role?: Role;
  /** The encoded response message; a thrown SignalhouseError fails the call with its status. */
  handle(request: Buffer, call: GrpcCall): Promise<Uint8Array>;
  /** Counts a call that failed, by the HTTP status of its error (as the receivers count failed requests). */
  failed?(statusCode: number): void;
}

/** The gRPC listener's settings (the OpenTelemetry Collector's gRPC server options, resolved). */
export interface GrpcListenerSettings {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** Largest request message, counted after decompression. */
  readonly maxReceiveMessageBytes: number;
  /** Certificate, key and client CA for TLS (mutual with a client CA); undefined: plaintext. */
  readonly tls: TlsMaterial | undefined;
  /** HTTP/2 streams per connection; undefined: the library's default. */
  readonly maxConcurrentStreams: number | undefined;
  /** Keepalive and connection lifetimes in milliseconds; undefined: the library's defaults. */
  readonly keepalive: {
    readonly timeMs: number | undefined;
    readonly timeoutMs: number | undefined;
    readonly maxConnectionIdleMs: number | undefined;
    readonly maxConnectionAgeMs: number | undefined;
    readonly maxConnectionAgeGraceMs: number | undefined;
  };
}

export interface ReceiverFactory<S extends z.ZodType = z.ZodType> {
  /** The `type` part of `type/name` config keys. */
  readonly type: string;
  /** Strict schema for the receiver's options (defaults applied). */
  readonly configSchema: S;
  create(config: z.infer<S>, settings: ReceiverSettings): Receiver;
}

/** The receiver factories known to this build, keyed by type (receiver/registry.ts). */
export type ReceiverRegistry = ReadonlyMap<string, ReceiverFactory>;
