/**
 * WebSocket ingest's options (`receivers.websocket`): the envelope API's per-event limits, plus what bounds a
 * connection (message size, what it may hold in flight) and how connections are kept (authentication timeout,
 * keepalive, how many at once).
 */
import { z } from 'zod';
import { byteSize, durationMs, intLike } from '../../core/units.ts';
import { limitsSchema } from '../receiverhelper/limits.ts';

export const websocketReceiverSchema = z.strictObject({
  /** Largest message (a frame, or a fragmented message whole); larger ones close the connection with 1009. */
  max_message_size: byteSize.pipe(z.number().int().min(1024)).default(500 * 1024),
  max_event_size: byteSize.default(32 * 1024),
  max_batch_events: intLike(1, 100_000).default(500),
  /** Messages read and not yet answered on one connection; at the bound the server stops reading it. */
  max_in_flight_messages: intLike(1, 100_000).default(64),
  /**
   * Bytes one connection holds: its messages until their answers are written to the socket, and those answers
   * while the client has not read them. At the bound the server stops reading the connection.
   */
  max_in_flight_bytes: byteSize.pipe(z.number().int().min(1024)).default(4 * 1024 * 1024),
  /** Connections at once; beyond, a new one is closed with 1013 (try again later). */
  max_connections: intLike(1, 1_000_000).default(10_000),
  /** Time an unauthenticated connection gets to send its `auth` message (then closed with 4408). */
  auth_timeout: durationMs.pipe(z.number().min(1)).default(10_000),
  /** The server pings each connection this often; one that answers nothing to two pings in a row is dropped. */
  ping_interval: durationMs.pipe(z.number().min(10)).default(30_000),
  limits: limitsSchema,
});
export type WebsocketReceiverConfig = z.infer<typeof websocketReceiverSchema>;
