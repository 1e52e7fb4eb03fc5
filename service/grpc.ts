/**
 * The one gRPC listener (default 127.0.0.1:4317, the OTLP receiver's `protocols.grpc`): the components' unary
 * methods (OTLP export, the analytics service), each under a hand-written service definition whose
 * (de)serializers pass raw buffers — the components decode with our own wire codecs — and `grpc.health.v1`.
 *
 * Admission is the HTTP listener's (service/admission.ts): a call is admitted or refused as soon as its metadata
 * arrives, before its message is read (the library reads a message only when asked); its message's bytes,
 * decompressed, are then taken from the same in-flight byte budget as HTTP bodies, and given back when the call
 * ends. A refusal (overload, shutdown) is UNAVAILABLE with a `google.rpc.RetryInfo`. Every error a method throws
 * becomes a status through the one mapping (errorReply, then core/grpc-status.ts): code, message (a concealed
 * 5xx keeps its text for the log, under the `x-request-id` trailer) and `grpc-status-details-bin`.
 *
 * Every method with a role is authenticated here, before its handler runs, by the rules HTTP uses: the
 * `authorization` metadata's write key for ingest (a read token or JWT there is an unknown write key, as on the
 * HTTP ingest routes), else the shared Authenticator (read and admin tokens, bearer JWTs; another role's
 * credential PERMISSION_DENIED, an unknown one UNAUTHENTICATED).
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Authenticator } from '../core/auth.ts';
import { type BodyReservation, reserveBody } from '../core/byte-budget.ts';
import type { GrpcCall, GrpcListenerSettings, GrpcMethod } from '../core/components.ts';
import { type ErrorReply, errorReply, SignalhouseError } from '../core/errors.ts';
import { grpcStatusOf } from '../core/grpc-status.ts';
import { credentialFromAuthorization, type Principal, requireWritePrincipal, type TenantRegistry } from '../core/tenants.ts';
import type { TlsMaterial } from '../core/tls.ts';
import { joinHostPort } from '../core/units.ts';
import type { Admission } from './admission.ts';
import { createGrpcHealth } from './grpc-health.ts';

export interface GrpcListener {
  /** `host:port` it listens on, after `listen`. */
  readonly address: string;
  listen(): Promise<string>;
  /** Shutdown has begun: health answers NOT_SERVING (and tells its watchers); admission refuses new calls. */
  stopServing(): void;
  /** Ends the health watches, lets the last calls finish and closes the port. */
  close(): Promise<void>;
}

export interface GrpcListenerDeps {
  settings: GrpcListenerSettings;
  methods: readonly GrpcMethod[];
  admission: Admission;
  tenants: TenantRegistry;
  /** Read and admin tokens, bearer JWTs: the HTTP routes' Authenticator. */
  auth: Authenticator;
  logger: Logger;
}

/** Authenticates a call for its method's role: who is calling, or a thrown 401 / 403. */
type CallAuthenticator = (method: GrpcMethod, authorization: string | undefined) => Promise<Principal | undefined>;

function callAuthenticator(tenants: TenantRegistry, auth: Authenticator): CallAuthenticator {
  return async (method, authorization) => {
    const role = method.role;
    if (role === undefined) return undefined;
    const credential = credentialFromAuthorization(authorization);
    const noun = role === 'write' ? 'write key' : `${role} token`;
    if (!credential) throw new SignalhouseError('UNAUTHENTICATED', `missing ${noun}: send the metadata "authorization: Bearer <${noun}>"`);
    if (role !== 'write') return auth.authenticate(authorization, role);
    return requireWritePrincipal(tenants, credential, undefined);
  };
}

const identity = (b: Buffer) => b;

/** A unary method on raw buffers: the request reaches the handler as sent, the response goes as encoded. */
function rawDefinition(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

/** A failed call's status: code, the client-safe message, and its trailers (status details, request id). */
export function callStatus(r: ErrorReply): grpc.StatusObject {
  const status = grpcStatusOf(r);
  const metadata = new grpc.Metadata();
  if (status.details) metadata.set('grpc-status-details-bin', status.details);
  if (r.requestId) metadata.set('x-request-id', r.requestId);
  return { code: status.code, details: status.message, metadata };
}

function unaryHandler(method: GrpcMethod, authenticate: CallAuthenticator, logger: Logger): grpc.handleUnaryCall<Buffer, Buffer> {
  return (call, callback) => {
    let trailers: grpc.Metadata | undefined;
    const metadata = (key: string) => {
      const v = call.metadata.get(key)[0];
      return typeof v === 'string' ? v : undefined;
    };
    const setTrailer = (key: string, value: string) => {
      (trailers ??= new grpc.Metadata()).set(key, value);
    };
    authenticate(method, metadata('authorization'))
      .then((principal) => method.handle(call.request, { principal, metadata, setTrailer } satisfies GrpcCall))
      .then(
        (response) => callback(null, Buffer.isBuffer(response) ? response : Buffer.from(response.buffer, response.byteOffset, response.byteLength), trailers),
        (err) => {
          const r = errorReply(err, logger);
          method.failed?.(r.err.statusCode);
          callback(callStatus(r));
        },
      );
  };
}

/** Admission before the message is read, the byte budget once it is, both given back when the call ends. */
function admissionInterceptor(byPath: ReadonlyMap<string, GrpcMethod>, admission: Admission, logger: Logger): grpc.ServerInterceptor {
  return (descriptor, call) => {
    const method = byPath.get(descriptor.path);
    if (!method) return new grpc.ServerInterceptingCall(call); // grpc.health.v1: never refused, not counted
    let reservation: BodyReservation | undefined;
    const refuse = (err: unknown) => {
      const r = errorReply(err, logger);
      method.failed?.(r.err.statusCode);
      call.sendStatus(callStatus(r));
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const refusal = admission.admit();
            if (refusal) return refuse(refusal);
            reservation = reserveBody(admission.budget);
            nextMetadata(metadata);
          },
          onReceiveMessage(message: Buffer, nextMessage) {
            try {
              reservation?.take(message.length);
            } catch (err) {
              return refuse(err);
            }
            nextMessage(message);
          },
          // Every call ends here, answered or cancelled (the library reports both as the end of the stream).
          onCancel() {
            if (reservation === undefined) return;
            reservation.release();
            reservation = undefined;
            admission.leave();
          },
        });
      },
    });
  };
}

/** Plaintext, TLS, or mutual TLS with a client CA (clients without a certificate it signed are refused). */
function serverCredentials(tls: TlsMaterial | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const keyPairs = [{ private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) }];
  return grpc.ServerCredentials.createSsl(tls.clientCa === undefined ? null : Buffer.from(tls.clientCa), keyPairs, tls.clientCa !== undefined);
}

export function buildGrpcListener(deps: GrpcListenerDeps): GrpcListener {
  const { settings, methods, admission, logger } = deps;
  const authenticate = callAuthenticator(deps.tenants, deps.auth);
  const byPath = new Map(methods.map((m) => [m.path, m]));
  const options: grpc.ServerOptions = {
    'grpc.max_receive_message_length': settings.maxReceiveMessageBytes,
    interceptors: [admissionInterceptor(byPath, admission, logger)],
  };
  const k = settings.keepalive;
  if (settings.maxConcurrentStreams !== undefined) options['grpc.max_concurrent_streams'] = settings.maxConcurrentStreams;
  if (k.timeMs !== undefined) options['grpc.keepalive_time_ms'] = k.timeMs;
  if (k.timeoutMs !== undefined) options['grpc.keepalive_timeout_ms'] = k.timeoutMs;
  if (k.maxConnectionIdleMs !== undefined) options['grpc.max_connection_idle_ms'] = k.maxConnectionIdleMs;
  if (k.maxConnectionAgeMs !== undefined) options['grpc.max_connection_age_ms'] = k.maxConnectionAgeMs;
  if (k.maxConnectionAgeGraceMs !== undefined) options['grpc.max_connection_age_grace_ms'] = k.maxConnectionAgeGraceMs;
  const server = new grpc.Server(options);
  for (const method of methods) server.addService({ [method.path]: rawDefinition(method.path) }, { [method.path]: unaryHandler(method, authenticate, logger) });
  const services = [...new Set(methods.map((m) => m.path.split('/')[1]))];
  const health = createGrpcHealth(services);
  server.addService(health.definition, health.implementation);

  const listener: GrpcListener = {
    address: '',
    listen() {
      return new Promise<string>((resolve, reject) => {
        server.bindAsync(joinHostPort(settings.host, settings.port), serverCredentials(settings.tls), (err, port) => {
          if (err) return reject(err);
          (listener as { address: string }).address = joinHostPort(settings.host, port);
          resolve(listener.address);
        });
      });
    },
    stopServing() {
      health.stopServing();
    },
    async close() {
      health.endWatches();
      // Calls still open (only a client that stalls mid-message can hold one now) get a few seconds, then the
      // connections are closed.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 5000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
  return listener;
}
