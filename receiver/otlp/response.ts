/**
 * OTLP/HTTP replies, in the request's encoding: Export*ServiceResponse (with `partial_success` when records
 * were refused or dropped) on success, `google.rpc.Status` on failure.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { Signal } from '../../core/config.ts';
import { type Drop, DUPLICATE, type Rejection } from '../../core/event.ts';

export type Encoding = 'protobuf' | 'json';

export const CONTENT_TYPES: Record<Encoding, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/** gRPC status codes used in google.rpc.Status bodies (the OTLP/HTTP spec's mapping). */
const GRPC_CODE_BY_HTTP: Record<number, number> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  403: 7, // PERMISSION_DENIED
  404: 5, // NOT_FOUND
  413: 8, // RESOURCE_EXHAUSTED
  415: 3,
  429: 8,
  500: 13, // INTERNAL
  503: 14, // UNAVAILABLE
};

/** A human-readable summary of the refusals: "log record: invalid trace_id (2); …". */
export function describeRejections(rejections: readonly Rejection[]): string {
  return rejections.map((r) => `${r.reason} (${r.count})`).join('; ');
}

/**
 * `partial_success` as the OTLP spec defines it: `rejected_*` counts only the records the server did not accept.
 * Duplicates are accepted (stored already) and not mentioned; records dropped on purpose (consent) are accepted
 * too, so they are not counted as rejected but named in `error_message` — the spec's warning form when nothing
 * was rejected — so that nothing is dropped silently.
 */
export function exportResponse(
  signal: Signal,
  encoding: Encoding,
  rejected: number,
  rejections: readonly Rejection[],
  drops: readonly Drop[],
): Buffer | string {
  let message = rejected > 0 ? describeRejections(rejections) : '';
  for (const d of drops) if (d.code !== DUPLICATE) message += `${message === '' ? '' : '; '}${d.reason} (${d.count})`;
  if (encoding === 'json') {
    if (message === '') return '{}';
    const countField = signal === 'logs' ? 'rejectedLogRecords' : 'rejectedSpans';
    // The OTLP JSON mapping omits a zero count.
    return JSON.stringify({ partialSuccess: rejected > 0 ? { [countField]: String(rejected), errorMessage: message } : { errorMessage: message } });
  }
  const w = new BinaryWriter();
  if (message !== '') {
    // partial_success = 1 { rejected_* = 1 (int64); error_message = 2 }
    w.tag(1, WireType.LengthDelimited).fork();
    if (rejected > 0) w.tag(1, WireType.Varint).int64(rejected);
    w.tag(2, WireType.LengthDelimited).string(message);
    w.join();
  }
  return Buffer.from(w.finish());
}

export function statusResponse(httpStatus: number, message: string, encoding: Encoding): Buffer | string {
  const code = GRPC_CODE_BY_HTTP[httpStatus] ?? 2; // UNKNOWN
  if (encoding === 'json') return JSON.stringify({ code, message });
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int32(code);
  w.tag(2, WireType.LengthDelimited).string(message);
  return Buffer.from(w.finish());
}
