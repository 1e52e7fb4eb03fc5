/**
 * The JSON document inside a PostHog request (capture, flags), whatever its wrapping: the HTTP body
 * (Content-Encoding undone by the shared reader), or a form's `data` field; then PostHog's own compression
 * from the query (`?compression=gzip-js | gzip | base64`) or the form. posthog-js ≥ 1.2xx names no compression
 * for gzip at all (a `text/plain` body of gzip bytes, by fetch or sendBeacon): gzip's magic bytes say it, and
 * no JSON text can start with them. Its beacons without gzip are forms of base64 (`data=…`,
 * `?compression=base64`). Other query parameters posthog-js adds (`ip`, `_`, `ver`, `v`) do not change the body.
 */
import type { FastifyRequest } from 'fastify';
import { SignalhouseError } from '../../core/errors.ts';
import { parseJson } from '../product/common.ts';
import { decodeContent, mediaTypeOf, readBody } from '../receiverhelper/body.ts';

const GZIP = new Set(['gzip-js', 'gzip']);
const KNOWN = new Set(['', 'gzip-js', 'gzip', 'base64']);

/** Whether `bytes` start as every gzip stream does (RFC 1952: 0x1f 0x8b). */
const looksGzipped = (bytes: Buffer) => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/** A query parameter given at most once, as text ('' when absent); repeated, it refuses the request. */
export function singleQueryParam(request: FastifyRequest, name: string): string {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new SignalhouseError('BAD_REQUEST', `${name} must be given at most once`);
  return value;
}

function compressionNamed(value: string): string {
  const compression = value.toLowerCase();
  if (!KNOWN.has(compression)) {
    throw new SignalhouseError('UNSUPPORTED_MEDIA_TYPE', `unsupported compression ${JSON.stringify(value.slice(0, 64))} (use gzip-js, base64 or none)`);
  }
  return compression;
}

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

export async function decodePosthogBody(request: FastifyRequest, limit: number): Promise<unknown> {
  let compression = compressionNamed(singleQueryParam(request, 'compression'));
  const isForm = mediaTypeOf(request) === 'application/x-www-form-urlencoded';
  // On a plain body, `?compression=gzip-js` stands for Content-Encoding: gzip.
  let payload = await readBody(request, { limit, encoding: !isForm && GZIP.has(compression) ? 'gzip' : undefined });
  if (isForm) {
    const form = new URLSearchParams(payload.toString('latin1'));
    payload = Buffer.from(form.get('data') ?? '', 'latin1');
    compression ||= compressionNamed(form.get('compression') ?? '') || 'base64';
    if (GZIP.has(compression)) payload = await decodeContent(payload, 'gzip', limit, request.bodyReservation);
  }
  if (compression === 'base64') payload = fromBase64(payload);
  if (compression === '' && looksGzipped(payload)) payload = await decodeContent(payload, 'gzip', limit, request.bodyReservation);
  return parseJson(payload);
}
