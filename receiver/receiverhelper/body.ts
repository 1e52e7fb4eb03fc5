/**
 * The one request-body reader of every receiver (OTLP, Segment, PostHog, envelope): Fastify hands each route
 * the raw bytes; the route checks the media type, then `readBody` undoes the Content-Encoding (identity, gzip,
 * deflate; 415 for others, 400 for a corrupt stream) with the body limit counted after decompression (413), so
 * a small gzip bomb cannot exhaust memory. `decodeContent` (behind `readBody`, and PostHog's compressed form
 * fields) is the one place where a body's decoded size is known: decompressed bytes are taken from the request's
 * share of the in-flight byte budget there (503 when they do not fit), as the received bytes were before.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import type { BodyReservation } from '../../core/byte-budget.ts';
import { SignalhouseError } from '../../core/errors.ts';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);
const EMPTY = Buffer.alloc(0);

/** Hands every request body of this plugin's routes to them as raw bytes, at most `wireLimit` bytes as sent. */
export function acceptRawBodies(app: FastifyInstance, wireLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: wireLimit }, (_req, body, done) => done(null, body));
}

/**
 * The request's media type, lower-case and without parameters ('' when absent). With `accepted`, any other
 * type is refused with 415.
 */
export function mediaTypeOf(request: FastifyRequest, accepted?: readonly string[]): string {
  const header = request.headers['content-type'] ?? '';
  const mediaType = header.split(';')[0].trim().toLowerCase();
  if (accepted && !accepted.includes(mediaType)) {
    throw new SignalhouseError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Type "${header}": use ${accepted.join(' or ')}`);
  }
  return mediaType;
}

export interface ReadBodyOptions {
  /** Largest body, counted after decompression. */
  limit: number;
  /** Used instead of the Content-Encoding header (PostHog's `?compression=gzip-js` names gzip this way). */
  encoding?: string;
}

/** The request body with its Content-Encoding undone. */
export function readBody(request: FastifyRequest, opts: ReadBodyOptions): Promise<Buffer> {
  const raw = Buffer.isBuffer(request.body) ? request.body : EMPTY;
  return decodeContent(raw, opts.encoding ?? request.headers['content-encoding'] ?? '', opts.limit, request.bodyReservation);
}

/**
 * `bytes` with the content codings of `codings` (a Content-Encoding value) undone, at most `limit` bytes; what
 * decompression produced is taken from `reservation`.
 */
export async function decodeContent(bytes: Buffer, codings: string, limit: number, reservation: BodyReservation | null): Promise<Buffer> {
  let body = bytes;
  if (codings !== '') {
    // A list names the codings in the order they were applied: undo them last to first.
    const list = codings.split(',');
    for (let i = list.length - 1; i >= 0; i--) body = await decompress(body, list[i], limit);
  }
  if (body.length > limit) throw new SignalhouseError('PAYLOAD_TOO_LARGE', `body exceeds ${limit} bytes`);
  if (body !== bytes) reservation?.take(body.length);
  // The decoded size is known from here on: body.length ≤ limit.
  return body;
}

/** Undoes one content coding, with a hard cap on the output size. */
async function decompress(raw: Buffer, coding: string, limit: number): Promise<Buffer> {
  const enc = coding.trim().toLowerCase();
  if (enc === 'identity' || enc === '') return raw;
  const gzip = enc === 'gzip' || enc === 'x-gzip';
  if (!gzip && enc !== 'deflate') {
    throw new SignalhouseError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding "${enc}" (use gzip, deflate or none)`);
  }
  try {
    return await (gzip ? gunzipAsync : inflateAsync)(raw, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new SignalhouseError('PAYLOAD_TOO_LARGE', `decompressed body exceeds ${limit} bytes`);
    }
    throw new SignalhouseError('UNDECODABLE_BODY', `invalid ${enc} body: ${(err as Error).message}`);
  }
}
