/**
 * gRPC clients for tests: unary calls on raw bytes (any path, any message, optionally gzip-compressed) with
 * `@grpc/grpc-js`, a call held open mid-message on a bare HTTP/2 stream (to keep it in flight, or to hang up
 * mid-call), one frame sent as given on a bare HTTP/2 stream (a frame no gRPC client would send), and the decoding of a status's `grpc-status-details-bin` (google.rpc.Status with RetryInfo).
 */
import { connect } from 'node:http2';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer) => b;

export interface CallResult {
  code: number;
  details: string;
  /** Trailers (for errors: status details, request id). */
  metadata: grpc.Metadata;
  /** The response message, for OK. */
  response?: Buffer;
}

export function rawClient(address: string, options: { gzip?: boolean } = {}): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), {
    ...(options.gzip ? { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip } : {}),
    // The server decides what is too large; the client sends anything.
    'grpc.max_send_message_length': -1,
  });
}

export function authMetadata(key: string | undefined): grpc.Metadata {
  const m = new grpc.Metadata();
  if (key !== undefined) m.set('authorization', `Bearer ${key}`);
  return m;
}

/** One unary call; resolves with its status whatever it is. */
export function unary(client: grpc.Client, path: string, message: Buffer, metadata = new grpc.Metadata()): Promise<CallResult> {
  return new Promise((resolve) => {
    let trailers = new grpc.Metadata();
    const call = client.makeUnaryRequest(path, identity, identity, message, metadata, (err, response) => {
      if (err) resolve({ code: err.code, details: err.details, metadata: err.metadata });
      else resolve({ code: grpc.status.OK, details: '', metadata: trailers, response });
    });
    call.on('status', (s) => {
      trailers = s.metadata;
    });
  });
}

/** grpc.health.v1.HealthCheckRequest { string service = 1; } */
export const healthCheckRequest = (service: string) => Buffer.from(new BinaryWriter().tag(1, WireType.LengthDelimited).string(service).finish());

/** google.rpc.Status from `grpc-status-details-bin`, with the delay of its RetryInfo detail (seconds), if any. */
export function statusDetails(metadata: grpc.Metadata): { code: number; message: string; retryDelaySeconds?: number; typeUrls: string[] } | undefined {
  const raw = metadata.get('grpc-status-details-bin')[0];
  if (!Buffer.isBuffer(raw)) return undefined;
  const out: { code: number; message: string; retryDelaySeconds?: number; typeUrls: string[] } = { code: 0, message: '', typeUrls: [] };
  const r = new BinaryReader(raw);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1) out.code = r.int32();
    else if (no === 2) out.message = r.string();
    else if (no === 3) {
      const any = new BinaryReader(r.bytes());
      let typeUrl = '';
      let value: Uint8Array = new Uint8Array();
      while (any.pos < any.len) {
        const [ano, awt] = any.tag();
        if (ano === 1) typeUrl = any.string();
        else if (ano === 2) value = any.bytes();
        else any.skip(awt);
      }
      out.typeUrls.push(typeUrl);
      if (typeUrl === 'type.googleapis.com/google.rpc.RetryInfo') {
        const info = new BinaryReader(value);
        while (info.pos < info.len) {
          const [ino, iwt] = info.tag();
          if (ino !== 1) {
            info.skip(iwt);
            continue;
          }
          const duration = new BinaryReader(info.bytes());
          let seconds = 0;
          let nanos = 0;
          while (duration.pos < duration.len) {
            const [dno, dwt] = duration.tag();
            if (dno === 1) seconds = Number(duration.int64());
            else if (dno === 2) nanos = duration.int32();
            else duration.skip(dwt);
          }
          out.retryDelaySeconds = seconds + nanos / 1e9;
        }
      }
    } else r.skip(wt);
  }
  return out;
}

export interface HeldCall {
  /** Resolves once the server has the call's headers (it is admitted, or refused, from then on). */
  readonly sent: Promise<void>;
  /** Sends the rest of the message and resolves with the call's gRPC status. */
  finish(): Promise<{ status: number; message: string }>;
  /** Hangs up mid-call: the connection is destroyed. */
  abort(): void;
}

/** A call whose message is sent only in part (its first `sentBytes` bytes), on its own HTTP/2 connection. */
export function holdCall(address: string, path: string, message: Buffer, key: string, sentBytes = 3): HeldCall {
  const session = connect(`http://${address}`);
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${key}` });
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  let status = -1;
  let statusMessage = '';
  const readStatus = (headers: Record<string, unknown>) => {
    if (headers['grpc-status'] !== undefined) {
      status = Number(headers['grpc-status']);
      statusMessage = decodeURIComponent(String(headers['grpc-message'] ?? ''));
    }
  };
  stream.on('response', readStatus);
  stream.on('trailers', readStatus);
  stream.on('data', () => {});
  stream.on('error', () => {});
  session.on('error', () => {});
  const ended = new Promise<void>((resolve) => stream.on('close', () => resolve()));
  const sent = new Promise<void>((resolve) => stream.write(frame.subarray(0, 5 + sentBytes), () => resolve()));
  return {
    sent,
    async finish() {
      stream.end(frame.subarray(5 + sentBytes));
      await ended;
      session.close();
      return { status, message: statusMessage };
    },
    abort() {
      session.destroy();
    },
  };
}

/**
 * One call on its own HTTP/2 connection whose body is `frame` as given (the 5-byte prefix included), with extra
 * request headers (e.g. `grpc-encoding`); resolves with its gRPC status.
 */
export function frameCall(address: string, path: string, frame: Buffer, headers: Record<string, string>): Promise<{ status: number; message: string }> {
  const session = connect(`http://${address}`);
  session.on('error', () => {});
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
  let status = -1;
  let message = '';
  const readStatus = (h: Record<string, unknown>) => {
    if (h['grpc-status'] === undefined) return;
    status = Number(h['grpc-status']);
    message = decodeURIComponent(String(h['grpc-message'] ?? ''));
  };
  stream.on('response', readStatus);
  stream.on('trailers', readStatus);
  stream.on('data', () => {});
  stream.on('error', () => {});
  stream.end(frame);
  return new Promise((resolve) =>
    stream.on('close', () => {
      session.close();
      resolve({ status, message });
    }),
  );
}
