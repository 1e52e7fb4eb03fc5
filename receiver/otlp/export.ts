/**
 * One OTLP export, whichever transport carried it (OTLP/HTTP, OTLP/gRPC): decode the body into the event model
 * (a record that breaks a rule is refused alone), count it, run it through the pipeline, and answer the
 * Export*ServiceResponse — with `partial_success` naming what was refused or dropped — once it is committed.
 */
import type { Pipeline } from '../../core/components.ts';
import type { Signal } from '../../core/config.ts';
import { type Batch, duplicateCount, rejectedCount } from '../../core/event.ts';
import type { SignalCounters } from '../receiverhelper/counters.ts';
import type { RecordLimits } from '../receiverhelper/limits.ts';
import { type DecodeContext, nowUnixNano } from './common.ts';
import { decodeLogsJson, decodeTracesJson } from './json.ts';
import { decodeLogsProtobuf, decodeTracesProtobuf } from './protobuf.ts';
import { type Encoding, exportResponse } from './response.ts';

/** Exports `body` (in `encoding`) for `tenantId`; resolves with the reply body after the commit. */
export type OtlpExport = (tenantId: string, body: Buffer, encoding: Encoding) => Promise<Buffer | string>;

export function otlpExport(signal: Signal, pipeline: Pipeline, records: SignalCounters, limits: RecordLimits): OtlpExport {
  const decodeProtobuf = signal === 'logs' ? decodeLogsProtobuf : decodeTracesProtobuf;
  const decodeJson = signal === 'logs' ? decodeLogsJson : decodeTracesJson;
  return async (tenantId, body, encoding) => {
    const ctx: DecodeContext = { tenantId, limits, receivedAtUnixNano: nowUnixNano(), rejections: [] };
    const events = encoding === 'protobuf' ? decodeProtobuf(body, ctx) : decodeJson(body, ctx);
    const batch = { tenantId, signal, events, rejections: ctx.rejections, drops: [] } as Batch;
    records.received(events.length + rejectedCount(batch));
    const out = await pipeline.consume(batch);
    // Accepted: stored now, or earlier (duplicates); received = accepted + dropped + rejected.
    records.consumed(out, out.events.length + duplicateCount(out));
    return exportResponse(signal, encoding, rejectedCount(out), out.rejections, out.drops ?? []);
  };
}
