/**
 * The PostHog API: capture at `POST /capture`, `/batch`, `/e`, `/i/v0/e` (with or without a trailing slash), as
 * sent by `posthog-node` and posthog-js with `host` / `api_host` pointed here, plus what posthog-js asks for
 * before it captures (remote config and flags, sdk-routes.ts). Bodies: JSON (one event, `{batch: [...]}` or an
 * array), gzip (`Content-Encoding: gzip`, `?compression=gzip-js`, or gzip bytes as they are), base64
 * (`?compression=base64`, or form-encoded `data=`), see body.ts. The project key (`api_key` / `token`, or a
 * Bearer header) is the write key. Replies as the Segment API's: `{status: 1}` when every event was accepted
 * (repeats included), else also `accepted` and the `dropped` and `rejected` events by index; 400 only when
 * every event was refused.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SignalhouseError } from '../../core/errors.ts';
import { type FlagsEvaluator, NO_FLAGS } from '../../core/flags.ts';
import { credentialFromAuthorization, requireWritePrincipal } from '../../core/tenants.ts';
import { isObject, type Json, requestContext, type ProductRoutesOptions } from '../product/common.ts';
import { ingestProductEvents, listedByIndex } from '../product/ingest.ts';
import { admitRequest } from '../receiverhelper/rate-limit.ts';
import { everyMessageRefused, receiverScope } from '../receiverhelper/replies.ts';
import { decodePosthogBody } from './body.ts';
import type { PosthogReceiverConfig } from './config.ts';
import { posthogEvent } from './map.ts';
import { posthogSdkRoutes } from './sdk-routes.ts';

export type PosthogRoutesOptions = ProductRoutesOptions<PosthogReceiverConfig>;

/** Names the events' instrumentation scope (`signalhouse/posthog`), whatever the receiver's config key. */
const RECEIVER = 'posthog';

export async function posthogRoutes(app: FastifyInstance, opts: PosthogRoutesOptions, flags: FlagsEvaluator = NO_FLAGS): Promise<void> {
  const { config, pipeline, tenants, counters, rateLimits } = opts;
  receiverScope(app, { counters, wireLimit: config.max_batch_size });
  const records = counters.signal('logs');

  async function capture(request: FastifyRequest, reply: FastifyReply) {
    const doc = await decodePosthogBody(request, config.max_batch_size);
    let events: unknown[];
    let envelope: Json = {};
    if (Array.isArray(doc)) events = doc;
    else if (isObject(doc) && Array.isArray(doc.batch)) {
      events = doc.batch;
      envelope = doc;
    } else if (isObject(doc)) {
      events = [doc];
      envelope = doc;
    } else throw new SignalhouseError('BAD_REQUEST', 'body must be an event, an array of events or {"batch": [...]}');
    const first = isObject(events[0]) ? events[0] : {};
    const firstProps = isObject(first.properties) ? first.properties : {};
    const key =
      credentialFromAuthorization(request.headers.authorization) ??
      [envelope.api_key, envelope.token, first.api_key, firstProps.token].find((k): k is string => typeof k === 'string' && k !== '');
    const writer = requireWritePrincipal(tenants, key, request.headers.origin);
    await admitRequest(rateLimits, writer, events.length, reply);
    const ctx = requestContext(RECEIVER, config, envelope.sent_at, 'sent_at');
    const outcome = await ingestProductEvents(records, pipeline, writer.tenant.id, events, (e) => posthogEvent(e, ctx));
    const { dropped, rejected } = listedByIndex(outcome);
    if (everyMessageRefused(events.length, outcome.rejected)) {
      return reply.code(400).send({ status: 0, error: 'BAD_REQUEST', message: 'every event was refused', rejected });
    }
    if (outcome.accepted === events.length) return reply.code(200).send({ status: 1 });
    return reply.code(200).send({ status: 1, accepted: outcome.accepted, dropped, rejected });
  }

  for (const path of ['/capture', '/batch', '/e', '/i/v0/e']) {
    app.post(path, capture);
    app.post(`${path}/`, capture);
  }
  posthogSdkRoutes(app, { config, tenants, flags, rateLimits });
}
