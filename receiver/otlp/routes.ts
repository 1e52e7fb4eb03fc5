/**
 * OTLP/HTTP receiver: `POST /v1/logs` and `POST /v1/traces`, protobuf or JSON, optionally gzip-compressed.
 * Replies follow the OTLP/HTTP spec: same content type as the request; 200 with `partial_success` when records
 * were refused (counted) or dropped on purpose (named only: they were accepted; see response.ts); 400 +
 * google.rpc.Status for undecodable bodies; 401/403 for keys; 413 over the body limit (counted after
 * decompression); 415 for other content types; 429/503 + Retry-After when overloaded.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pipelines } from '../../core/components.ts';
import { SignalhouseError } from '../../core/errors.ts';
import type { RateLimiter } from '../../core/rate-limit/limiter.ts';
import { credentialFromAuthorization, requireWritePrincipal, type TenantRegistry } from '../../core/tenants.ts';
import { mediaTypeOf, readBody } from '../receiverhelper/body.ts';
import type { ReceiverCounters } from '../receiverhelper/counters.ts';
import { type ErrorWriter, receiverScope } from '../receiverhelper/replies.ts';
import type { OtlpReceiverConfig } from './config.ts';
import { otlpExport } from './export.ts';
import { CONTENT_TYPES, type Encoding, statusResponse } from './response.ts';

export interface OtlpRoutesOptions {
  /** The receiver's config key: the pipelines name it by it. */
  name: string;
  config: OtlpReceiverConfig;
  pipelines: Pipelines;
  tenants: TenantRegistry;
  counters: ReceiverCounters;
  rateLimits: RateLimiter;
}

const MEDIA_TYPES = ['application/x-protobuf', 'application/protobuf', 'application/json'];

function encodingOf(contentType: string | undefined): Encoding | undefined {
  if (!contentType) return undefined;
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  if (mediaType === 'application/x-protobuf' || mediaType === 'application/protobuf') return 'protobuf';
  if (mediaType === 'application/json') return 'json';
  return undefined;
}

export async function otlpRoutes(app: FastifyInstance, opts: OtlpRoutesOptions): Promise<void> {
  const { name, config, pipelines, tenants, counters, rateLimits } = opts;
  const http = config.protocols.http;
  if (!http) return;
  const bodyLimit = http.max_request_body_size;

  // Fastify's own 4xx (body too large, missing content type, …) reworded for OTLP's limits.
  const describe = (status: number) =>
    status === 413
      ? new SignalhouseError('PAYLOAD_TOO_LARGE', `body exceeds ${bodyLimit} bytes`)
      : status === 415
        ? new SignalhouseError('UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Type: use application/x-protobuf or application/json')
        : undefined;
  // Raw bytes for every content type: the routes decide what they accept (415 otherwise).
  receiverScope(app, { counters, wireLimit: bodyLimit, describe, sendError: sendStatus });

  for (const signal of ['logs', 'traces'] as const) {
    const pipeline = pipelines.find(name, signal);
    if (!pipeline) continue;
    const exportBody = otlpExport(signal, pipeline, counters.signal(signal), config.limits, rateLimits);

    app.post(`/v1/${signal}`, async (request: FastifyRequest, reply: FastifyReply) => {
      const encoding = mediaTypeOf(request, MEDIA_TYPES) === 'application/json' ? 'json' : 'protobuf';
      const writer = requireWritePrincipal(tenants, credentialFromAuthorization(request.headers.authorization), request.headers.origin);
      const body = await readBody(request, { limit: bodyLimit });
      const response = await exportBody(writer, body, encoding, reply);
      reply.code(200).header('content-type', CONTENT_TYPES[encoding]);
      return response;
    });
  }
}

/** A failed request's reply: a google.rpc.Status in the request's encoding (JSON when it has none of OTLP's). */
const sendStatus: ErrorWriter = (request, reply, r) => {
  const encoding = encodingOf(request.headers['content-type']) ?? 'json';
  reply.code(r.err.statusCode).headers(r.headers).header('content-type', CONTENT_TYPES[encoding]).send(statusResponse(r, encoding));
};
