/**
 * Our typed errors as gRPC statuses, in one place: the code of each error code (the OTLP specification's table,
 * https://opentelemetry.io/docs/specs/otlp/#failures), and the `google.rpc.Status` that carries it — as the
 * `grpc-status-details-bin` trailer of a gRPC call, and as the body of an OTLP/HTTP error reply. A retryable
 * error is UNAVAILABLE (or RESOURCE_EXHAUSTED for a rate limit) with a `google.rpc.RetryInfo` in the status
 * details: OTLP clients retry RESOURCE_EXHAUSTED only when it carries one, and honour its delay.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { ErrorCode, ErrorReply } from './errors.ts';

/** The gRPC status codes (grpc/status.proto) we answer with. */
export const GrpcCode = {
  OK: 0,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * Each error code's gRPC code. Refusals of the request itself are permanent (INVALID_ARGUMENT, NOT_FOUND,
 * PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED without RetryInfo for a message over the size limit);
 * overload, storage trouble and shutdown are UNAVAILABLE, which every OTLP client retries; a rate limit is
 * RESOURCE_EXHAUSTED with RetryInfo.
 */
export const GRPC_CODES: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: GrpcCode.INVALID_ARGUMENT,
  UNDECODABLE_BODY: GrpcCode.INVALID_ARGUMENT,
  UNAUTHENTICATED: GrpcCode.UNAUTHENTICATED,
  FORBIDDEN_TENANT: GrpcCode.PERMISSION_DENIED,
  FORBIDDEN_ORIGIN: GrpcCode.PERMISSION_DENIED,
  FORBIDDEN_ROLE: GrpcCode.PERMISSION_DENIED,
  NOT_FOUND: GrpcCode.NOT_FOUND,
  // The admin API's (a flag key that exists, a flag declared in the config); never a gRPC call's.
  CONFLICT: GrpcCode.FAILED_PRECONDITION,
  PAYLOAD_TOO_LARGE: GrpcCode.RESOURCE_EXHAUSTED,
  UNSUPPORTED_MEDIA_TYPE: GrpcCode.INVALID_ARGUMENT,
  // An HTTP-only refusal (a plain GET of the WebSocket route); never a gRPC call's, mapped for completeness.
  UPGRADE_REQUIRED: GrpcCode.FAILED_PRECONDITION,
  RATE_LIMITED: GrpcCode.RESOURCE_EXHAUSTED,
  OVERLOADED: GrpcCode.UNAVAILABLE,
  STORAGE_UNAVAILABLE: GrpcCode.UNAVAILABLE,
  SHUTTING_DOWN: GrpcCode.UNAVAILABLE,
  STORAGE_REJECTED: GrpcCode.INTERNAL,
  INTERNAL: GrpcCode.INTERNAL,
};

export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

/** What a failed gRPC call answers: its code, message and, for a retryable error, the encoded status details. */
export interface GrpcStatus {
  readonly code: number;
  readonly message: string;
  /** `google.rpc.Status` with a RetryInfo `Any`, for `grpc-status-details-bin`; undefined when not retryable. */
  readonly details: Buffer | undefined;
}

/** The gRPC status of an error reply (`errorReply`: the message is the one clients may see). */
export function grpcStatusOf(reply: ErrorReply): GrpcStatus {
  const code = GRPC_CODES[reply.err.code];
  const retryAfter = reply.err.retryAfterSeconds;
  return { code, message: reply.message, details: retryAfter === undefined ? undefined : encodeStatus(code, reply.message, retryAfter) };
}

/**
 * `google.rpc.Status { code = 1; message = 2; details = 3 (Any) }`, with a `google.rpc.RetryInfo { retry_delay = 1
 * (google.protobuf.Duration { seconds = 1; nanos = 2 }) }` as its one detail when `retryAfterSeconds` is given.
 */
export function encodeStatus(code: number, message: string, retryAfterSeconds?: number): Buffer {
  const w = new BinaryWriter();
  if (code !== 0) w.tag(1, WireType.Varint).int32(code);
  if (message !== '') w.tag(2, WireType.LengthDelimited).string(message);
  if (retryAfterSeconds !== undefined) {
    const seconds = Math.floor(retryAfterSeconds);
    const nanos = Math.round((retryAfterSeconds - seconds) * 1e9);
    w.tag(3, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(RETRY_INFO_TYPE_URL);
    w.tag(2, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).fork();
    if (seconds !== 0) w.tag(1, WireType.Varint).int64(seconds);
    if (nanos !== 0) w.tag(2, WireType.Varint).int32(nanos);
    w.join();
    w.join();
    w.join();
  }
  return Buffer.from(w.finish());
}
