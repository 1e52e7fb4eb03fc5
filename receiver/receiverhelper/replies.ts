/**
 * What every receiver's replies share: a scope for its routes (raw bodies for the shared body reader, errors
 * answered through the one mapping, `errorReply` in core/errors.ts, and counted as failed requests), the JSON
 * error body of the product APIs, and the rule for a request whose every message was refused.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorReply, errorReply, type SignalhouseError } from '../../core/errors.ts';
import { acceptRawBodies } from './body.ts';
import type { ReceiverCounters } from './counters.ts';

/** Writes a failed request's reply in a receiver's wire format. */
export type ErrorWriter = (request: FastifyRequest, reply: FastifyReply, r: ErrorReply) => void;

/** `{error, message, request_id}` with the code's status, as every JSON route answers (docs/api.md). */
export const sendJsonError: ErrorWriter = (_request, reply, r) => {
  reply.code(r.err.statusCode).headers(r.headers).send({ error: r.err.code, message: r.message, request_id: r.requestId });
};

export interface ReceiverScopeOptions {
  counters: ReceiverCounters;
  /** The largest body Fastify reads for these routes, as sent (the body reader applies the decoded limit). */
  wireLimit: number;
  /** The receiver's error wire format; JSON by default. */
  sendError?: ErrorWriter;
  /** Rewords Fastify's own 4xx errors (body too large, …) for the receiver's limits (see `errorReply`). */
  describe?: (statusCode: number, message: string) => SignalhouseError | undefined;
}

/**
 * Sets up the plugin scope of a receiver's routes: every body reaches them as raw bytes (`readBody` decodes
 * it), and every error, thrown by a route or by the server's hooks for these routes (overload, shutdown, the
 * byte budget), is answered through `errorReply` and counted as a failed request, by status.
 */
export function receiverScope(app: FastifyInstance, opts: ReceiverScopeOptions): void {
  const { counters, describe, sendError = sendJsonError } = opts;
  acceptRawBodies(app, opts.wireLimit);
  app.setErrorHandler((error, request, reply) => {
    const r = errorReply(error, request.log, describe);
    counters.failed(r.err.statusCode);
    sendError(request, reply, r);
  });
}

/**
 * The product APIs' rule: a request whose every message was refused is answered 400 (with the refusals), so
 * that the client does not resend it; anything less is a 2xx naming what was dropped and refused. The SDKs drop
 * a batch on 4xx and retry it on 5xx, so a repeat or a consent drop (both accepted) never fails a request, and
 * an empty batch is not refused. (OTLP answers 200 with `partial_success` instead, as its spec says.)
 */
export function everyMessageRefused(messages: number, rejected: number): boolean {
  return messages > 0 && rejected === messages;
}
