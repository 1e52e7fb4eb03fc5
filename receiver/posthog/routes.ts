/**
 * The PostHog capture API: `POST /capture`, `/batch`, `/e`, `/i/v0/e` (with or without a
 * trailing slash), as sent by `posthog-node` and posthog-js with `host` pointed here. Bodies: JSON (one event,
 * `{batch: [...]}` or an array), gzip (`Content-Encoding: gzip` or `?compression=gzip-js`), base64
 * (`?compression=base64`, or form-encoded `data=`). The project key (`api_key` / `token`, or a Bearer header)
 * is the write key. Replies as the Segment API's: `{status: 1}` when every event was accepted (repeats
 * included), else also `accepted` and the `dropped` and `rejected` events by index; 400 only when every event
 * was refused.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SignalhouseError } from '../../core/errors.ts';
import { credentialFromAuthorization, requireWriteTenant } from '../../core/tenants.ts';
import { isObject, type Json, parseJson, requestContext, type ProductRoutesOptions } from '../product/common.ts';
import { ingestProductEvents, listedByIndex } from '../product/ingest.ts';
import { decodeContent, mediaTypeOf, readBody } from '../receiverhelper/body.ts';
import { everyMessageRefused, receiverScope } from '../receiverhelper/replies.ts';
import type { PosthogReceiverConfig } from './config.ts';
import { posthogEvent } from './map.ts';

export type PosthogRoutesOptions = ProductRoutesOptions<PosthogReceiverConfig>;

/** Names the events' instrumentation scope (`signalhouse/posthog`), whatever the receiver's config key. */
const RECEIVER = 'posthog';

const isGzip = (compression: string) => compression === 'gzip-js' || compression === 'gzip';

/** Base64 text, percent-encoded or not (posthog-js sends both). */
function fromBase64(payload: Buffer): Buffer {
  let text = payload.toString('latin1');
  if (text.includes('%')) {
    try {
      text = decodeURIComponent(text);
    } catch {
      throw new SignalhouseError('BAD_REQUEST', 'malformed percent-encoding in the base64 body');
    }
  }
  return Buffer.from(text, 'base64');
}

/**
 * The JSON document inside a capture request, whatever its wrapping: the HTTP body (Content-Encoding undone by
 * the shared reader), or a form's `data` field; then PostHog's own compression (`gzip-js`, `base64`) from the
 * query or the form.
 */
async function decodeBody(request: FastifyRequest, limit: number): Promise<unknown> {
  const param = (request.query as Record<string, unknown> | undefined)?.compression;
  if (param !== undefined && typeof param !== 'string') throw new SignalhouseError('BAD_REQUEST', 'compression must be given at most once');
  let compression = (param ?? '').toLowerCase();
  const isForm = mediaTypeOf(request) === 'application/x-www-form-urlencoded';
  // On a plain body, `?compression=gzip-js` stands for Content-Encoding: gzip.
  let payload = await readBody(request, { limit, encoding: !isForm && isGzip(compression) ? 'gzip' : undefined });
  if (isForm) {
    const form = new URLSearchParams(payload.toString('latin1'));
    payload = Buffer.from(form.get('data') ?? '', 'latin1');
    compression ||= (form.get('compression') ?? '').toLowerCase() || 'base64';
    if (isGzip(compression)) payload = await decodeContent(payload, 'gzip', limit, request.bodyReservation);
  }
  if (compression === 'base64') payload = fromBase64(payload);
  return parseJson(payload);
}

export async function posthogRoutes(app: FastifyInstance, opts: PosthogRoutesOptions): Promise<void> {
  const { config, pipeline, tenants, counters } = opts;
  receiverScope(app, { counters, wireLimit: config.max_batch_size });
  const records = counters.signal('logs');

  async function capture(request: FastifyRequest, reply: FastifyReply) {
    const doc = await decodeBody(request, config.max_batch_size);
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
    const tenant = requireWriteTenant(tenants, key, request.headers.origin);
    const ctx = requestContext(RECEIVER, config, envelope.sent_at, 'sent_at');
    const outcome = await ingestProductEvents(records, pipeline, tenant.id, events, (e) => posthogEvent(e, ctx));
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
}
