/**
 * The event envelope API: `POST /api/v1/analytics/events` (one event) and `/api/v1/analytics/events/batch`
 * (`{events, batch_id}`, at most `max_batch_events` events and `max_batch_size` bytes), with a result per event
 * (`accepted`, maybe as a `duplicate`; `dropped` with its `reason`; `rejected` with its `error`) and their counts.
 * `/api/analytics/track` and `/api/analytics/track/batch` are the same handlers. An event naming
 * another tenant refuses the whole request (403).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SignalhouseError } from '../../core/errors.ts';
import { isObject, type ProductRoutesOptions, readJsonBody, requestContext, writerOf } from '../product/common.ts';
import { ingestProductEvents } from '../product/ingest.ts';
import { admitRequest } from '../receiverhelper/rate-limit.ts';
import { everyMessageRefused, receiverScope } from '../receiverhelper/replies.ts';
import type { EnvelopeReceiverConfig } from './config.ts';
import { checkTenant, envelopeEvent } from './map.ts';
import { envelopeBatchReply } from './reply.ts';

export type EnvelopeRoutesOptions = ProductRoutesOptions<EnvelopeReceiverConfig>;

/** Names the events' instrumentation scope (`signalhouse/envelope`), whatever the receiver's config key. */
const RECEIVER = 'envelope';

export async function envelopeRoutes(app: FastifyInstance, opts: EnvelopeRoutesOptions): Promise<void> {
  const { config, pipeline, tenants, counters, rateLimits } = opts;
  receiverScope(app, { counters, wireLimit: config.max_batch_size });
  const records = counters.signal('logs');

  async function ingest(request: FastifyRequest, reply: FastifyReply, events: unknown[], body: Record<string, unknown>) {
    const writer = writerOf(tenants, request.headers.authorization, body, request.headers.origin);
    const { tenant } = writer;
    for (const e of events) checkTenant(e, tenant.id);
    await admitRequest(rateLimits, writer, events.length, reply);
    const ctx = requestContext(RECEIVER, config, body.sent_at ?? body.sentAt, 'sent_at');
    return ingestProductEvents(records, pipeline, tenant.id, events, (e) => envelopeEvent(e, ctx));
  }

  const single = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = await readJsonBody(request, config.max_batch_size);
    if (!isObject(body)) throw new SignalhouseError('BAD_REQUEST', 'body must be a JSON object');
    const outcome = await ingest(request, reply, [body], body);
    const r = outcome.results[0];
    if (everyMessageRefused(1, outcome.rejected)) return reply.code(400).send({ error: 'INVALID_EVENT', message: r.error });
    return reply.code(202).send({ event_id: r.id, status: r.status, duplicate: r.duplicate, reason: r.reason });
  };

  const batch = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = await readJsonBody(request, config.max_batch_size);
    if (!isObject(body) || !Array.isArray(body.events)) throw new SignalhouseError('BAD_REQUEST', 'body must be {"events": [...]}');
    if (body.events.length > config.max_batch_events) {
      throw new SignalhouseError('PAYLOAD_TOO_LARGE', `batch of ${body.events.length} events exceeds ${config.max_batch_events}`);
    }
    const outcome = await ingest(request, reply, body.events, body);
    return reply.code(200).send(envelopeBatchReply(body.batch_id, outcome));
  };

  app.post('/api/v1/analytics/events', single);
  app.post('/api/v1/analytics/events/batch', batch);
  app.post('/api/analytics/track', single);
  app.post('/api/analytics/track/batch', batch);
}
