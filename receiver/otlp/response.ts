/**
 * OTLP/HTTP replies, in the request's encoding: Export*ServiceResponse (with `partial_success` when records
 * were refused or dropped) on success, `google.rpc.Status` on failure.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { Signal } from '../../core/config.ts';
import type { ErrorReply } from '../../core/errors.ts';
import { type Drop, DUPLICATE, type Rejection } from '../../core/event.ts';
import { encodeStatus, GRPC_CODES } from '../../core/grpc-status.ts';

export type Encoding = 'protobuf' | 'json';

export const CONTENT_TYPES: Record<Encoding, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
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

/** A failed request's `google.rpc.Status`, with the gRPC code of its error (core/grpc-status.ts). */
export function statusResponse(r: ErrorReply, encoding: Encoding): Buffer | string {
  const code = GRPC_CODES[r.err.code];
  if (encoding === 'json') return JSON.stringify({ code, message: r.message });
  return encodeStatus(code, r.message);
}
