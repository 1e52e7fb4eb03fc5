/**
 * A lean gRPC client for the load generator, on node:http2: long-lived HTTP/2 sessions, each call one stream
 * carrying one pre-framed message (the 5-byte gRPC prefix, flag 0, then the OTLP protobuf) with
 * `content-type: application/grpc` and `te: trailers`, its status read from `grpc-status` (trailers, or the
 * headers of a trailers-only reply), the call done as soon as that arrives. No channel, no interceptors, no (de)serializer, no metadata objects: a
 * `@grpc/grpc-js` client spends about twice the server's CPU per call on this machine, so it would measure
 * itself. Calls are spread over the sessions in turn, any number in flight on each (HTTP/2 streams), as
 * autocannon spreads requests over its connections. A session the server closes (GOAWAY, connection age) is
 * replaced on the next call.
 */
import { type ClientHttp2Session, connect, constants } from 'node:http2';

/** gRPC's "no status": the stream ended without `grpc-status` (reset, connection lost). */
export const NO_STATUS = -1;

export interface H2GrpcClient {
  /** One unary call of an already framed message; resolves with its grpc-status (NO_STATUS if none came). */
  call(frame: Buffer): Promise<number>;
  close(): Promise<void>;
}

/** `message` behind the 5-byte gRPC length prefix (uncompressed). */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE } = constants;

export function h2GrpcClient(address: string, path: string, authorization: string, sessions: number): H2GrpcClient {
  const origin = `http://${address}`;
  // The same object for every stream: node:http2 does not keep or alter it.
  const headers = {
    [HTTP2_HEADER_METHOD]: 'POST',
    [HTTP2_HEADER_PATH]: path,
    [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
    [HTTP2_HEADER_TE]: 'trailers',
    authorization,
  };
  const open = (): ClientHttp2Session => {
    // Replies are small; a large window keeps many in flight from ever waiting on WINDOW_UPDATE.
    const s = connect(origin, { settings: { enablePush: false, initialWindowSize: 1 << 24 } });
    s.on('error', () => {});
    return s;
  };
  const pool: ClientHttp2Session[] = Array.from({ length: sessions }, open);
  let next = 0;

  return {
    call(frame) {
      const k = next++ % pool.length;
      let session = pool[k];
      if (session.closed || session.destroyed) session = pool[k] = open();
      return new Promise((resolve) => {
        let status = NO_STATUS;
        const stream = session.request(headers);
        const readStatus = (h: Record<string, unknown>) => {
          const s = h['grpc-status'];
          // A unary call's outcome is known with its status, as grpc-js reports it; the stream's 'close' comes
          // later, after its teardown (resolving there added ~4–6 ms to the p99 at 1,000 calls/s).
          if (s !== undefined) resolve((status = Number(s)));
        };
        stream.on('response', readStatus);
        stream.on('trailers', readStatus);
        stream.on('error', () => {});
        stream.on('close', () => resolve(status)); // no status came: NO_STATUS
        stream.resume(); // the response message is not needed
        stream.end(frame);
      });
    },
    async close() {
      await Promise.all(pool.map((s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.close(() => resolve())))));
    },
  };
}
