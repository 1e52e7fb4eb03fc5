/**
 * `grpc.health.v1.Health` (https://github.com/grpc/grpc/blob/master/doc/health-checking.md): `Check` and
 * `Watch`, for the whole server (`service: ""`) and for each service the listener serves. SERVING while calls
 * are admitted, NOT_SERVING once shutdown has begun (watchers are told at once), so load balancers stop sending
 * before the port closes. No key is needed, and health calls are never refused by admission.
 */
import * as grpc from '@grpc/grpc-js';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

const SERVING = 1;
const NOT_SERVING = 2;
const SERVICE_UNKNOWN = 3;

const identity = (b: Buffer) => b;

/** HealthCheckRequest { string service = 1; }; undefined when it cannot be decoded. */
function decodeRequest(bytes: Buffer): string | undefined {
  try {
    const r = new BinaryReader(bytes);
    let service = '';
    while (r.pos < r.len) {
      const [field, wireType] = r.tag();
      if (field === 1 && wireType === WireType.LengthDelimited) service = r.string();
      else r.skip(wireType);
    }
    return service;
  } catch {
    return undefined;
  }
}

/** HealthCheckResponse { ServingStatus status = 1; } */
function encodeResponse(status: number): Buffer {
  return Buffer.from(new BinaryWriter().tag(1, WireType.Varint).int32(status).finish());
}

export interface GrpcHealth {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
  stopServing(): void;
  endWatches(): void;
}

export function createGrpcHealth(services: readonly string[]): GrpcHealth {
  const known = new Set(['', 'grpc.health.v1.Health', ...services]);
  let status = SERVING;
  /** Open watches, and whether each watches a known service (an unknown one stays SERVICE_UNKNOWN). */
  const watchers = new Map<grpc.ServerWritableStream<Buffer, Buffer>, boolean>();
  const base = { requestStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };

  const check: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    const service = decodeRequest(call.request);
    if (service === undefined) return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'undecodable HealthCheckRequest' });
    if (!known.has(service)) return callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(service)}` });
    callback(null, encodeResponse(status));
  };

  const watch: grpc.handleServerStreamingCall<Buffer, Buffer> = (call) => {
    const service = decodeRequest(call.request);
    if (service === undefined) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'undecodable HealthCheckRequest' });
      return;
    }
    // The protocol: an unknown service is reported, not refused (it might appear later), and the watch stays open.
    const isKnown = known.has(service);
    call.write(encodeResponse(isKnown ? status : SERVICE_UNKNOWN));
    watchers.set(call, isKnown);
    call.on('cancelled', () => watchers.delete(call));
  };

  return {
    definition: {
      Check: { ...base, path: '/grpc.health.v1.Health/Check', responseStream: false },
      Watch: { ...base, path: '/grpc.health.v1.Health/Watch', responseStream: true },
    },
    implementation: { Check: check, Watch: watch },
    stopServing() {
      if (status === NOT_SERVING) return;
      status = NOT_SERVING;
      for (const [w, isKnown] of watchers) if (isKnown) w.write(encodeResponse(status));
    },
    endWatches() {
      for (const w of watchers.keys()) w.end();
      watchers.clear();
    },
  };
}
