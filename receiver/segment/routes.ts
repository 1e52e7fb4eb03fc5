/**
 * Segment-style tracking API: `/v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`, `/v1/group`, `/v1/alias`,
 * `/v1/batch` (what `@segment/analytics-node` sends, with `host` pointed here), the same calls under
 * `/v1/analytics/{track,identify,page,batch}`, and analytics.js' browser wire: one message per request to
 * `/v1/t`, `/v1/p`, `/v1/i`, `/v1/s`, `/v1/g`, `/v1/a` (the type's first letter), batches to `/v1/b` (its
 * batching delivery strategy), and the settings it loads first (settings.ts). Auth: Basic `base64(writeKey:)`,
 * Bearer, or `writeKey` in the body. Bodies: JSON as application/json or text/plain (browsers). Replies: 200
 * `{success: true}` (202 on the `/v1/analytics` paths) when every message was accepted (repeats of accepted
 * messages included); otherwise also the accepted count and the dropped and refused messages by index. Only a
 * request whose every message is refused gets 400 (the SDKs drop a batch on 4xx and retry on 5xx, so a repeat or
 * a consent drop never fails a request).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SignalhouseError } from '../../core/errors.ts';
import { isObject, type ProductRoutesOptions, readJsonBody, requestContext, writerOf } from '../product/common.ts';
import { ingestProductEvents, listedByIndex } from '../product/ingest.ts';
import { admitRequest } from '../receiverhelper/rate-limit.ts';
import { everyMessageRefused, receiverScope } from '../receiverhelper/replies.ts';
import type { SegmentReceiverConfig } from './config.ts';
import { SEGMENT_TYPES, segmentEvent, type SegmentType } from './map.ts';
import { settingsRoute } from './settings.ts';

export type SegmentRoutesOptions = ProductRoutesOptions<SegmentReceiverConfig>;

/** Names the events' instrumentation scope (`signalhouse/segment`), whatever the receiver's config key. */
const RECEIVER = 'segment';

export async function segmentRoutes(app: FastifyInstance, opts: SegmentRoutesOptions): Promise<void> {
  const { config, pipeline, tenants, counters, rateLimits } = opts;
  receiverScope(app, { counters, wireLimit: config.max_batch_size });
  const records = counters.signal('logs');

  async function handle(request: FastifyRequest, reply: FastifyReply, type: SegmentType | undefined, okStatus: number) {
    const body = await readJsonBody(request, config.max_batch_size);
    if (!isObject(body)) throw new SignalhouseError('BAD_REQUEST', 'body must be a JSON object');
    const writer = writerOf(tenants, request.headers.authorization, body, request.headers.origin);
    let messages: unknown[];
    if (type === undefined) {
      if (!Array.isArray(body.batch)) throw new SignalhouseError('BAD_REQUEST', 'batch must be an array of messages');
      messages = body.batch;
    } else messages = [body];
    await admitRequest(rateLimits, writer, messages.length, reply);
    const ctx = requestContext(RECEIVER, config, body.sentAt, 'sentAt');
    const outcome = await ingestProductEvents(records, pipeline, writer.tenant.id, messages, (m) => segmentEvent(m, type, ctx));
    const { dropped, rejected } = listedByIndex(outcome);
    if (everyMessageRefused(messages.length, outcome.rejected)) {
      return reply.code(400).send({ success: false, error: 'BAD_REQUEST', message: 'every message was refused', rejected });
    }
    if (outcome.accepted === messages.length) return reply.code(okStatus).send({ success: true });
    return reply.code(okStatus).send({ success: true, accepted: outcome.accepted, dropped, rejected });
  }

  for (const type of SEGMENT_TYPES) {
    app.post(`/v1/${type}`, (req, reply) => handle(req, reply, type, 200));
    app.post(`/v1/${type[0]}`, (req, reply) => handle(req, reply, type, 200));
  }
  app.post('/v1/batch', (req, reply) => handle(req, reply, undefined, 200));
  app.post('/v1/b', (req, reply) => handle(req, reply, undefined, 200));
  for (const type of ['track', 'identify', 'page'] as const) {
    app.post(`/v1/analytics/${type}`, (req, reply) => handle(req, reply, type, 202));
  }
  app.post('/v1/analytics/batch', (req, reply) => handle(req, reply, undefined, 202));
  settingsRoute(app, tenants, config.public_url);
}
