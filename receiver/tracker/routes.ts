/**
 * The tracker API: `POST /sh/v1/batch`, what `sdk/browser` sends (a path no common ad-block list matches).
 * Body: `{writeKey, sentAt, library, locale, events: [...]}` as text/plain (no CORS preflight) or
 * application/json, gzip or not; the write key may come as a Bearer header instead. Replies as the Segment
 * API's: 200 `{success: true}` when every event was accepted (repeats included), else also `accepted` and the
 * `dropped` and `rejected` events by index; 400 only when every event was refused. The tracker retries 408,
 * 429 and 5xx (after `Retry-After`) and drops a batch refused with another 4xx.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SignalhouseError } from '../../core/errors.ts';
import { CONTEXT_ATTRIBUTES, isObject, type ProductRoutesOptions, readJsonBody, requestContext, writerOf } from '../product/common.ts';
import { ingestProductEvents, listedByIndex } from '../product/ingest.ts';
import { admitRequest } from '../receiverhelper/rate-limit.ts';
import { everyMessageRefused, receiverScope } from '../receiverhelper/replies.ts';
import type { TrackerReceiverConfig } from './config.ts';
import { type TrackerContext, trackerEvent } from './map.ts';

export type TrackerRoutesOptions = ProductRoutesOptions<TrackerReceiverConfig>;

export const TRACKER_PATH = '/sh/v1/batch';

/** Names the events' instrumentation scope (`signalhouse/tracker`), whatever the receiver's config key. */
const RECEIVER = 'tracker';

export async function trackerRoutes(app: FastifyInstance, opts: TrackerRoutesOptions): Promise<void> {
  const { config, pipeline, tenants, counters, rateLimits } = opts;
  receiverScope(app, { counters, wireLimit: config.max_batch_size });
  const records = counters.signal('logs');

  app.post(TRACKER_PATH, async (request: FastifyRequest, reply: FastifyReply) => {
    const body = await readJsonBody(request, config.max_batch_size);
    if (!isObject(body)) throw new SignalhouseError('BAD_REQUEST', 'body must be a JSON object');
    const writer = writerOf(tenants, request.headers.authorization, body, request.headers.origin);
    const events = body.events;
    if (!Array.isArray(events)) throw new SignalhouseError('BAD_REQUEST', 'events must be an array of events');
    await admitRequest(rateLimits, writer, events.length, reply);
    const library = isObject(body.library) ? body.library : {};
    const ctx: TrackerContext = {
      ...requestContext(RECEIVER, config, body.sentAt, 'sentAt'),
      shared: [
        [CONTEXT_ATTRIBUTES.userAgent, request.headers['user-agent']],
        [CONTEXT_ATTRIBUTES.ip, request.ip],
        [CONTEXT_ATTRIBUTES.locale, body.locale],
        [CONTEXT_ATTRIBUTES.library, library.name],
        [CONTEXT_ATTRIBUTES.libraryVersion, library.version],
      ],
    };
    const outcome = await ingestProductEvents(records, pipeline, writer.tenant.id, events, (e) => trackerEvent(e, ctx));
    const { dropped, rejected } = listedByIndex(outcome);
    if (everyMessageRefused(events.length, outcome.rejected)) {
      return reply.code(400).send({ success: false, error: 'BAD_REQUEST', message: 'every event was refused', rejected });
    }
    if (outcome.accepted === events.length) return reply.code(200).send({ success: true });
    return reply.code(200).send({ success: true, accepted: outcome.accepted, dropped, rejected });
  });
}
