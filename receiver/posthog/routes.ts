/**
 * PostHog capture API (seed 001's `/capture`): `POST /capture`, `/batch`, `/e`, `/i/v0/e` (with or without a
 * trailing slash), as sent by `posthog-node` and posthog-js with `host` pointed here. Bodies: JSON (one event,
 * `{batch: [...]}` or an array), gzip (`Content-Encoding: gzip` or `?compression=gzip-js`), base64
 * (`?compression=base64`, or form-encoded `data=`). The project key (`api_key` / `token`, or a Bearer header)
 * is the write key. Replies as the Segment API's: `{status: 1}` when every event was accepted (repeats
 * included), else also `accepted` and the `dropped` and `rejected` events by index; 400 only when every event
 * was refused.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PosthogReceiverConfig } from '../../core/config.ts';
import { SignalhouseError } from '../../core/errors.ts';
import { credentialFromAuthorization, requireWriteTenant } from '../../core/tenants.ts';
import { decompress } from '../body.ts';
import { isObject, type Json, requestContext, type ProductRoutesOptions } from '../product/common.ts';
import { ingestProductEvents, listedByIndex } from '../product/ingest.ts';
import { posthogEvent } from './map.ts';

export type PosthogRoutesOptions = ProductRoutesOptions<PosthogReceiverConfig>;

const RECEIVER = 'posthog';

/** The JSON document inside a capture request, whatever its wrapping. */
async function decodeBody(request: FastifyRequest, limit: number): Promise<unknown> {
  const query = (request.query ?? {}) as Record<string, string | undefined>;
  let raw = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
  const contentType = String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  let compression = (query.compression ?? '').toLowerCase();
  if (contentType === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(raw.toString('latin1'));
    raw = Buffer.from(form.get('data') ?? '', 'latin1');
    compression ||= (form.get('compression') ?? '').toLowerCase();
    if (!compression) compression = 'base64';
  }
  const encoding = compression === 'gzip-js' || compression === 'gzip' ? 'gzip' : (request.headers['content-encoding'] as string | undefined);
  let text: string;
  if (compression === 'base64') {
    text = Buffer.from(decodeURIComponent(raw.toString('latin1')), 'base64').toString('utf8');
  } else {
    text = (await decompress(raw, encoding, limit)).toString('utf8');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SignalhouseError('BAD_REQUEST', `invalid JSON body: ${(err as Error).message}`);
  }
}

export async function posthogRoutes(app: FastifyInstance, opts: PosthogRoutesOptions): Promise<void> {
  const { config, pipeline, tenants, telemetry } = opts;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.max_batch_size }, (_req, body, done) => done(null, body));

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
    const key = credentialFromAuthorization(request.headers.authorization) ?? [envelope.api_key, envelope.token, first.api_key, firstProps.token].find((k): k is string => typeof k === 'string' && k !== '');
    const tenant = requireWriteTenant(tenants, key);
    const ctx = requestContext(RECEIVER, config, envelope.sent_at, 'sent_at');
    const outcome = await ingestProductEvents(RECEIVER, pipeline, telemetry, tenant.id, events, (e) => posthogEvent(e, ctx));
    const { dropped, rejected } = listedByIndex(outcome);
    if (events.length > 0 && outcome.rejected === events.length) {
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
