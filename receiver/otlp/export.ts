/**
 * One OTLP export, whichever transport carried it (OTLP/HTTP, OTLP/gRPC): decode the body into the event model
 * (a record that breaks a rule is refused alone), count it, run it through the pipeline, and answer the
 * Export*ServiceResponse — with `partial_success` naming what was refused or dropped — once it is committed.
 */
import type { Pipeline } from '../../core/components.ts';
import type { Signal } from '../../core/config.ts';
import { type Batch, duplicateCount, rejectedCount } from '../../core/event.ts';
import type { RateLimiter } from '../../core/rate-limit/limiter.ts';
import type { Principal } from '../../core/tenants.ts';
import { admitRequest } from '../receiverhelper/rate-limit.ts';
import type { FastifyReply } from 'fastify';
import type { SignalCounters } from '../receiverhelper/counters.ts';
import type { RecordLimits } from '../receiverhelper/limits.ts';
import { type DecodeContext, nowUnixNano } from './common.ts';
import { decodeLogsJson, decodeTracesJson } from './json.ts';
import { decodeLogsProtobuf, decodeTracesProtobuf } from './protobuf.ts';
import { type Encoding, exportResponse } from './response.ts';

/**
 * Exports `body` (in `encoding`) for `writer`; resolves with the reply body after the commit. Once decoded, the
 * request is admitted by the rate limits with its records counted (`reply`: an HTTP reply for the headers).
 */
export type OtlpExport = (writer: Principal, body: Buffer, encoding: Encoding, reply?: FastifyReply) => Promise<Buffer | string>;

export function otlpExport(signal: Signal, pipeline: Pipeline, records: SignalCounters, limits: RecordLimits, rateLimits: RateLimiter): OtlpExport {
  const decodeProtobuf = signal === 'logs' ? decodeLogsProtobuf : decodeTracesProtobuf;
  const decodeJson = signal === 'logs' ? decodeLogsJson : decodeTracesJson;
  return async (writer, body, encoding, reply) => {
    const tenantId = writer.tenant.id;
    const ctx: DecodeContext = { tenantId, limits, receivedAtUnixNano: nowUnixNano(), rejections: [] };
    const events = encoding === 'protobuf' ? decodeProtobuf(body, ctx) : decodeJson(body, ctx);
    const batch = { tenantId, signal, events, rejections: ctx.rejections, drops: [] } as Batch;
    await admitRequest(rateLimits, writer, events.length + rejectedCount(batch), reply);
    records.received(events.length + rejectedCount(batch));
    const out = await pipeline.consume(batch);
    // Accepted: stored now, or earlier (duplicates); received = accepted + dropped + rejected.
    records.consumed(out, out.events.length + duplicateCount(out));
    return exportResponse(signal, encoding, rejectedCount(out), out.rejections, out.drops ?? []);
  };
}
