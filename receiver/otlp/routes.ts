/**
 * OTLP/HTTP receiver: `POST /v1/logs` and `POST /v1/traces`, protobuf or JSON, optionally gzip-compressed.
 * Replies follow the OTLP/HTTP spec: same content type as the request; 200 with `partial_success` when records
 * were refused (counted) or dropped on purpose (named only: they were accepted; see response.ts); 400 +
 * google.rpc.Status for undecodable bodies; 401/403 for keys; 413 over the body limit (counted after
 * decompression); 415 for other content types; 429/503 + Retry-After when overloaded.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OtlpReceiverConfig, Signal } from '../../core/config.ts';
import { type ErrorReply, errorReply, SignalhouseError } from '../../core/errors.ts';
import { type Batch, duplicateCount, rejectedCount } from '../../core/event.ts';
import type { Pipelines } from '../../core/components.ts';
import { countDroppedAndRejected, type Telemetry } from '../../core/telemetry.ts';
import { credentialFromAuthorization, requireWriteTenant, type TenantRegistry } from '../../core/tenants.ts';
import { type DecodeContext, nowUnixNano } from './common.ts';
import { acceptRawBodies, mediaTypeOf, readBody } from '../body.ts';
import { decodeLogsJson, decodeTracesJson } from './json.ts';
import { decodeLogsProtobuf, decodeTracesProtobuf } from './protobuf.ts';
import { CONTENT_TYPES, type Encoding, exportResponse, statusResponse } from './response.ts';

export interface OtlpRoutesOptions {
  config: OtlpReceiverConfig;
  pipelines: Pipelines;
  tenants: TenantRegistry;
  telemetry: Telemetry;
}

const RECEIVER = 'otlp';

const MEDIA_TYPES = ['application/x-protobuf', 'application/protobuf', 'application/json'];

function encodingOf(contentType: string | undefined): Encoding | undefined {
  if (!contentType) return undefined;
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  if (mediaType === 'application/x-protobuf' || mediaType === 'application/protobuf') return 'protobuf';
  if (mediaType === 'application/json') return 'json';
  return undefined;
}

export async function otlpRoutes(app: FastifyInstance, opts: OtlpRoutesOptions): Promise<void> {
  const { config, pipelines, tenants, telemetry } = opts;
  const bodyLimit = config.protocols.http.max_request_body_size;

  // This plugin reads raw bytes for every content type; it decides itself what it accepts (415 otherwise).
  acceptRawBodies(app, bodyLimit);

  // Fastify's own 4xx (body too large, missing content type, …) reworded for OTLP's limits.
  const describe = (status: number) =>
    status === 413
      ? new SignalhouseError('PAYLOAD_TOO_LARGE', `body exceeds ${bodyLimit} bytes`)
      : status === 415
        ? new SignalhouseError('UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Type: use application/x-protobuf or application/json')
        : undefined;
  app.setErrorHandler((error, request, reply) => {
    sendError(reply, errorReply(error, request.log, describe), encodingOf(request.headers['content-type']) ?? 'json', telemetry);
  });

  for (const signal of ['logs', 'traces'] as const) {
    const pipeline = pipelines.find(RECEIVER, signal);
    if (!pipeline) continue;
    const decodeProtobuf = signal === 'logs' ? decodeLogsProtobuf : decodeTracesProtobuf;
    const decodeJson = signal === 'logs' ? decodeLogsJson : decodeTracesJson;
    const received = telemetry.receivedRecords.labels(RECEIVER, signal);
    const accepted = telemetry.acceptedRecords.labels(RECEIVER, signal);

    app.post(`/v1/${signal}`, async (request: FastifyRequest, reply: FastifyReply) => {
      const encoding = mediaTypeOf(request, MEDIA_TYPES) === 'application/json' ? 'json' : 'protobuf';
      const tenant = requireWriteTenant(tenants, credentialFromAuthorization(request.headers.authorization));
      const body = await readBody(request, { limit: bodyLimit });
      const ctx: DecodeContext = { tenantId: tenant.id, limits: config.limits, receivedAtUnixNano: nowUnixNano(), rejections: [] };
      const events = encoding === 'protobuf' ? decodeProtobuf(body, ctx) : decodeJson(body, ctx);
      const batch = { tenantId: tenant.id, signal, events, rejections: ctx.rejections, drops: [] } as Batch;
      received.inc(events.length + rejectedCount(batch));
      const out = await pipeline.consume(batch);
      // Accepted: stored now, or earlier (duplicates); received = accepted + dropped + rejected.
      accepted.inc(out.events.length + duplicateCount(out));
      countDroppedAndRejected(telemetry, RECEIVER, signal, out);
      const rejected = rejectedCount(out);
      reply.code(200).header('content-type', CONTENT_TYPES[encoding]);
      return exportResponse(signal as Signal, encoding, rejected, out.rejections, out.drops ?? []);
    });
  }
}

function sendError(reply: FastifyReply, r: ErrorReply, encoding: Encoding, telemetry: Telemetry): void {
  telemetry.failedRequests.inc({ receiver: RECEIVER, status: String(r.err.statusCode) });
  reply.code(r.err.statusCode).headers(r.headers).header('content-type', CONTENT_TYPES[encoding]).send(statusResponse(r.err.statusCode, r.message, encoding));
}
