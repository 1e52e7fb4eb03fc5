/**
 * The WebSocket ingest protocol (`signalhouse.v1`, docs/api.md "WebSocket ingest"): JSON text messages, each an
 * object with a `type`. The client authenticates (a header, a subprotocol, or an `auth` first message) and sends
 * `event` and `batch` messages, each with its own `id`; the server answers each with an `ack` once its events
 * are committed (the envelope batch reply, plus the id) or an `error` saying whether to retry. Close codes follow
 * RFC 6455, with 44xx for what HTTP would answer 4xx.
 */
import type { FastifyRequest } from 'fastify';
import { type ErrorReply, SignalhouseError } from '../../core/errors.ts';
import { credentialFromAuthorization } from '../../core/tenants.ts';
import { isObject, type Json } from '../product/common.ts';
import type { IngestOutcome } from '../product/ingest.ts';
import { envelopeBatchReply } from '../envelope/reply.ts';

/** The subprotocol a client offers (and the server selects), beside `key.<write key>` when it authenticates so. */
export const SUBPROTOCOL = 'signalhouse.v1';
export const KEY_SUBPROTOCOL_PREFIX = 'key.';

export const CLOSE = {
  /** The server is shutting down: what was in flight is answered first; reconnect (to another instance). */
  GOING_AWAY: 1001,
  /** A binary frame: the protocol is JSON text. */
  UNSUPPORTED_DATA: 1003,
  /** A message over `max_message_size` (closed by the WebSocket library). */
  MESSAGE_TOO_BIG: 1009,
  /** Too many connections: reconnect later. */
  TRY_AGAIN_LATER: 1013,
  /** No write key, an unknown one, or a first message that is not `auth`. */
  UNAUTHENTICATED: 4401,
  /** The page's origin may not send with this write key (`tenants[].allowed_origins`). */
  FORBIDDEN: 4403,
  /** No `auth` message within `auth_timeout`. */
  AUTH_TIMEOUT: 4408,
} as const;

/** The id a message carries: a string of 1 to 128 characters, echoed in its answer. */
export const MAX_MESSAGE_ID_LENGTH = 128;

/** The write key of the upgrade request: `Authorization`, else a `key.<write key>` subprotocol. */
export function upgradeKey(request: FastifyRequest): string | undefined {
  const fromHeader = credentialFromAuthorization(request.headers.authorization);
  if (fromHeader !== undefined) return fromHeader;
  const offered = request.headers['sec-websocket-protocol'];
  if (typeof offered !== 'string') return undefined;
  for (const p of offered.split(',')) {
    const protocol = p.trim();
    if (protocol.startsWith(KEY_SUBPROTOCOL_PREFIX) && protocol.length > KEY_SUBPROTOCOL_PREFIX.length) return protocol.slice(KEY_SUBPROTOCOL_PREFIX.length);
  }
  return undefined;
}

/** An `event` or `batch` message, its events still raw (the envelope mapper reads them one by one). */
export interface IngestMessage {
  id: string;
  events: unknown[];
  batchId: unknown;
  sentAt: unknown;
}

export type ClientMessage = { type: 'ingest'; message: IngestMessage } | { type: 'auth'; key: unknown } | { type: 'ping'; id: unknown };

/** A message refused whole, with the id to answer it under (null when it had none that could be read). */
export class MessageRefused extends SignalhouseError {
  constructor(
    readonly messageId: string | null,
    err: SignalhouseError,
  ) {
    super(err.code, err.message, { cause: err.cause, retryAfterSeconds: err.retryAfterSeconds });
  }
}

const refused = (id: string | null, message: string, code: 'BAD_REQUEST' | 'PAYLOAD_TOO_LARGE' = 'BAD_REQUEST') =>
  new MessageRefused(id, new SignalhouseError(code, message));

/** The message's own id when it is a usable one, for its answer; null otherwise. */
function readId(msg: Json): string | null {
  const id = msg.id;
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_MESSAGE_ID_LENGTH ? id : null;
}

/** Decodes one text message, or throws MessageRefused naming what is wrong. */
export function parseMessage(text: string, maxBatchEvents: number): ClientMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch (err) {
    throw refused(null, `invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(msg)) throw refused(null, 'a message is a JSON object: {"type": "event" | "batch" | "auth" | "ping", …}');
  const id = readId(msg);
  const type = msg.type;
  if (type === 'auth') return { type: 'auth', key: msg.key };
  if (type === 'ping') return { type: 'ping', id: msg.id };
  if (type !== 'event' && type !== 'batch') {
    const named = typeof type === 'string' ? `unknown message type ${JSON.stringify(type.slice(0, 64))}` : 'a message needs a "type"';
    throw refused(id, `${named} (event, batch, auth, ping)`);
  }
  if (id === null) throw refused(null, `${type === 'event' ? 'an' : 'a'} ${type} message needs an "id": a string of 1 to ${MAX_MESSAGE_ID_LENGTH} characters`);
  let events: unknown[];
  if (type === 'event') {
    if (!isObject(msg.event)) throw refused(id, 'an event message carries its envelope in "event": {"event_name": …}');
    events = [msg.event];
  } else {
    if (!Array.isArray(msg.events)) throw refused(id, 'a batch message carries its envelopes in "events": [...]');
    if (msg.events.length > maxBatchEvents) throw refused(id, `batch of ${msg.events.length} events exceeds ${maxBatchEvents}`, 'PAYLOAD_TOO_LARGE');
    events = msg.events;
  }
  return { type: 'ingest', message: { id, events, batchId: msg.batch_id, sentAt: msg.sent_at ?? msg.sentAt } };
}

/** The answer to a committed message: the envelope batch reply under its id. */
export function ackText(id: string, batchId: unknown, outcome: IngestOutcome): string {
  return JSON.stringify({ type: 'ack', id, ...envelopeBatchReply(batchId, outcome) });
}

/** The answer to a message refused whole; `retry_after_ms` says when to send it again, when that can succeed. */
export function errorText(id: string | null, r: ErrorReply): string {
  const retryAfterMs = r.err.retryAfterSeconds === undefined ? undefined : r.err.retryAfterSeconds * 1000;
  return JSON.stringify({
    type: 'error',
    id,
    error: r.err.code,
    message: r.message,
    retryable: r.err.retryable,
    retry_after_ms: retryAfterMs,
    request_id: r.requestId,
  });
}

/** A close reason within the 123 bytes RFC 6455 allows. */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= 123) return text;
  let cut = text.slice(0, 120);
  while (Buffer.byteLength(cut) > 120) cut = cut.slice(0, -1);
  return `${cut}...`;
}
