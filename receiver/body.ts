/**
 * Request-body decompression shared by the receivers, with a hard cap on the output size so that a small gzip
 * bomb cannot exhaust memory (the body limit counts decompressed bytes).
 */
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import { SignalhouseError } from '../core/errors.ts';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

/** Decompresses with a hard cap on the output size, so a small gzip bomb cannot exhaust memory. */
export async function decompress(raw: Buffer, contentEncoding: string | undefined, limit: number): Promise<Buffer> {
  const enc = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return raw;
  if (enc !== 'gzip' && enc !== 'deflate') {
    throw new SignalhouseError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding "${enc}" (use gzip or none)`);
  }
  try {
    return await (enc === 'gzip' ? gunzipAsync : inflateAsync)(raw, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new SignalhouseError('PAYLOAD_TOO_LARGE', `decompressed body exceeds ${limit} bytes`);
    }
    throw new SignalhouseError('UNDECODABLE_BODY', `invalid ${enc} body: ${(err as Error).message}`);
  }
}

