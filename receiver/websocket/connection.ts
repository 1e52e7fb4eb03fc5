/**
 * One WebSocket ingest connection: authentication, then each message read, mapped with the envelope API's
 * mapper, committed through the pipeline and answered (ack or error), concurrently and in any order.
 *
 * Backpressure: a message holds its bytes from the moment it is read until its answer is written to the socket,
 * and the answer holds its own bytes until then too, so a client that does not read its acks keeps holding them.
 * When the connection holds `max_in_flight_messages` messages or `max_in_flight_bytes` bytes, the server stops
 * reading the socket (TCP backpressure: the client's sends wait, its `bufferedAmount` grows) and resumes once
 * answers are written. Message bytes are taken from the server's in-flight byte budget as well; a message that
 * does not fit it is answered with a retryable OVERLOADED error instead of being processed.
 */
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { ByteBudget } from '../../core/byte-budget.ts';
import type { Pipeline } from '../../core/components.ts';
import { errorReply, SignalhouseError } from '../../core/errors.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import type { RateLimiter } from '../../core/rate-limit/limiter.ts';
import { type Principal, requireWritePrincipal, type TenantRegistry } from '../../core/tenants.ts';
import { admitRequest } from '../receiverhelper/rate-limit.ts';
import { checkTenant, type EnvelopeContext, envelopeEvent } from '../envelope/map.ts';
import { isObject, requestContext } from '../product/common.ts';
import { ingestProductEvents } from '../product/ingest.ts';
import type { ReceiverCounters, SignalCounters } from '../receiverhelper/counters.ts';
import type { WebsocketReceiverConfig } from './config.ts';
import { ackText, CLOSE, closeReason, errorText, type IngestMessage, MAX_MESSAGE_ID_LENGTH, MessageRefused, parseMessage, upgradeKey } from './protocol.ts';

/** Names the events' instrumentation scope (`signalhouse/websocket`), whatever the receiver's config key. */
const RECEIVER = 'websocket';
/** How long a closing connection gets to complete the close handshake before it is cut. */
const CLOSE_WAIT_MS = 5000;

/** What every connection of one receiver shares. */
export interface ConnectionHost {
  readonly config: WebsocketReceiverConfig;
  readonly pipeline: Pipeline;
  readonly tenants: TenantRegistry;
  /** Each ingest message is one request to the rate limits: a refused one is nacked with its retry time. */
  readonly rateLimits: RateLimiter;
  readonly counters: ReceiverCounters;
  readonly records: SignalCounters;
  readonly budget: ByteBudget;
  readonly telemetry: Telemetry;
  /** The `ready` message sent once a connection is authenticated. */
  readonly readyText: string;
}

export interface Connection {
  /**
   * A keepalive tick: pings the connection, and drops it when nothing was heard from it for two ticks in a row
   * (two, so that one late tick, after the process stalled, cannot drop a peer whose pong is waiting unread).
   */
  keepalive(): void;
  /**
   * Stops reading, answers the messages already read (those still arriving get `refusal`), then closes with
   * `code`. Resolves once the connection is closed.
   */
  finish(code: number, reason: string, refusal: SignalhouseError): Promise<void>;
  terminate(): void;
  readonly closed: Promise<void>;
}

const FIRST_MESSAGE = 'send {"type":"auth","key":"<write key>"} first';

export function openConnection(socket: WebSocket, request: FastifyRequest, host: ConnectionHost): Connection {
  const { config, telemetry, budget } = host;
  const origin = request.headers.origin;
  let writer: Principal | undefined;
  let authTimer: NodeJS.Timeout | undefined;
  let closeTimer: NodeJS.Timeout | undefined;
  /** Keepalive ticks since the peer was last heard from: a pong, a message, or an answer the client took. */
  let silentTicks = 0;
  /** Reading stopped for backpressure. */
  let paused = false;
  let open = true;
  /**
   * Messages read that wait for their turn: reading pauses at `max_in_flight_messages`, but the WebSocket library
   * still delivers what it had read from the socket by then (at most one read's worth, or one message).
   */
  const waiting: Buffer[] = [];
  /** Messages being processed (mapped, committed), not answered yet. */
  let processing = 0;
  /** Messages read whose answer is not written yet, and the bytes they and their answers hold. */
  let messages = 0;
  let held = 0;
  /** Of `held`, what was taken from the server's byte budget. */
  let budgetHeld = 0;
  let finishing: { code: number; reason: string; refusal: SignalhouseError } | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  telemetry.websocketConnections.inc();

  function refuseConnection(err: SignalhouseError): void {
    host.counters.failed(err.statusCode);
    socket.close(err.code === 'FORBIDDEN_ORIGIN' ? CLOSE.FORBIDDEN : CLOSE.UNAUTHENTICATED, closeReason(err.message));
  }

  function authenticate(key: string | undefined): void {
    try {
      writer = requireWritePrincipal(host.tenants, key, origin);
    } catch (err) {
      if (!(err instanceof SignalhouseError)) throw err;
      refuseConnection(err);
      return;
    }
    clearTimeout(authTimer);
    socket.send(host.readyText);
  }

  const key = upgradeKey(request);
  if (key !== undefined) authenticate(key);
  else {
    authTimer = setTimeout(() => {
      host.counters.failed(401);
      socket.close(CLOSE.AUTH_TIMEOUT, `no auth message within ${config.auth_timeout} ms: ${FIRST_MESSAGE}`);
    }, config.auth_timeout);
  }

  function onFirstMessage(bytes: Buffer, isBinary: boolean): void {
    let key: unknown;
    if (!isBinary) {
      try {
        const msg: unknown = JSON.parse(bytes.toString('utf8'));
        if (isObject(msg) && msg.type === 'auth') key = msg.key;
      } catch {
        // not an auth message: refused below
      }
    }
    if (typeof key === 'string' && key !== '') authenticate(key);
    else refuseConnection(new SignalhouseError('UNAUTHENTICATED', FIRST_MESSAGE));
  }

  function hold(bytes: number, count: number): void {
    held += bytes;
    messages += count;
    telemetry.websocketInFlightBytes.inc(bytes);
    if (count > 0) telemetry.websocketInFlightMessages.inc(count);
    if (open && !paused && (messages >= config.max_in_flight_messages || held >= config.max_in_flight_bytes)) {
      paused = true;
      telemetry.websocketPausedConnections.inc();
      telemetry.websocketPauses.inc();
      socket.pause();
    }
  }

  function release(bytes: number, fromBudget: number): void {
    held -= bytes;
    messages--;
    telemetry.websocketInFlightBytes.dec(bytes);
    if (fromBudget > 0) {
      budgetHeld -= fromBudget;
      budget.give(fromBudget);
    }
    if (paused && messages < config.max_in_flight_messages && held < config.max_in_flight_bytes) {
      paused = false;
      telemetry.websocketPausedConnections.dec();
      if (finishing === undefined) socket.resume();
    }
  }

  /** Writes a message's answer; the message's bytes and the answer's return once it is written (or cannot be). */
  function answer(messageBytes: number, fromBudget: number, text: string): void {
    processing--;
    telemetry.websocketInFlightMessages.dec();
    const bytes = Buffer.byteLength(text);
    hold(bytes, 0);
    socket.send(text, (err) => {
      if (!err) silentTicks = 0;
      release(messageBytes + bytes, fromBudget);
    });
    pump();
    if (finishing !== undefined && processing === 0) closeNow();
  }

  async function ingest(message: IngestMessage): Promise<string> {
    const tenant = writer!.tenant.id;
    for (const e of message.events) checkTenant(e, tenant);
    await admitRequest(host.rateLimits, writer!, message.events.length);
    const ctx: EnvelopeContext = requestContext(RECEIVER, config, message.sentAt, 'sent_at');
    ctx.defaultSource = 'voice_ws';
    const outcome = await ingestProductEvents(host.records, host.pipeline, tenant, message.events, (e, index) => {
      const event = envelopeEvent(e, ctx);
      // The message id names its events when they carry no id of their own, so a message sent again (after a
      // reconnect) is recognized as a repeat by dedupe, event by event.
      if (event.eventId === '') event.eventId = `${message.id}:${index}`;
      return event;
    });
    return ackText(message.id, message.batchId, outcome);
  }

  async function handle(bytes: Buffer, refusal: SignalhouseError | undefined): Promise<string> {
    let id: string | null = null;
    try {
      const parsed = parseMessage(bytes.toString('utf8'), config.max_batch_events);
      if (parsed.type === 'ping') {
        return JSON.stringify({ type: 'pong', id: typeof parsed.id === 'string' && parsed.id.length <= MAX_MESSAGE_ID_LENGTH ? parsed.id : undefined });
      }
      if (parsed.type === 'auth') throw new SignalhouseError('BAD_REQUEST', 'this connection is authenticated already');
      id = parsed.message.id;
      if (refusal !== undefined) throw refusal;
      return await ingest(parsed.message);
    } catch (err) {
      const r = errorReply(err, request.log);
      host.counters.failed(r.err.statusCode);
      return errorText(err instanceof MessageRefused ? err.messageId : id, r);
    }
  }

  socket.on('message', (data, isBinary) => {
    // The default binaryType: a message arrives as one Buffer, fragments joined.
    const bytes = data as Buffer;
    silentTicks = 0;
    if (socket.readyState !== socket.OPEN) return;
    if (writer === undefined) return onFirstMessage(bytes, isBinary);
    if (isBinary) {
      host.counters.failed(415);
      void finish(CLOSE.UNSUPPORTED_DATA, 'binary frames are not supported: send JSON text', new SignalhouseError('BAD_REQUEST', 'the connection is closing'));
      return;
    }
    hold(bytes.length, 1);
    waiting.push(bytes);
    pump();
  });

  /** Starts the messages waiting, up to `max_in_flight_messages` at once. */
  function pump(): void {
    while (waiting.length > 0 && processing < config.max_in_flight_messages) {
      const bytes = waiting.shift()!;
      const size = bytes.length;
      let refusal = finishing?.refusal;
      let fromBudget = 0;
      if (refusal === undefined) {
        if (budget.tryTake(size, budgetHeld)) {
          fromBudget = size;
          budgetHeld += size;
        } else {
          refusal = new SignalhouseError('OVERLOADED', `messages and request bodies in flight exceed ${budget.limit} bytes, retry later`, {
            retryAfterSeconds: 1,
          });
        }
      }
      processing++;
      void handle(bytes, refusal).then((text) => answer(size, fromBudget, text));
    }
  }

  socket.on('pong', () => {
    silentTicks = 0;
  });

  socket.on('close', (code) => {
    open = false;
    // Messages not started are not answered now: the client sends them again.
    for (const bytes of waiting.splice(0)) {
      telemetry.websocketInFlightMessages.dec();
      release(bytes.length, 0);
    }
    clearTimeout(authTimer);
    clearTimeout(closeTimer);
    if (paused) telemetry.websocketPausedConnections.dec();
    paused = false;
    telemetry.websocketConnections.dec();
    telemetry.websocketClosedConnections.inc({ code: String(code) });
    resolveClosed();
  });

  function closeNow(): void {
    socket.close(finishing!.code, closeReason(finishing!.reason));
    closeTimer = setTimeout(() => socket.terminate(), CLOSE_WAIT_MS);
    closeTimer.unref();
  }

  function finish(code: number, reason: string, refusal: SignalhouseError): Promise<void> {
    if (finishing !== undefined || socket.readyState !== socket.OPEN) return closed;
    finishing = { code, reason, refusal };
    clearTimeout(authTimer);
    socket.pause();
    if (processing === 0) closeNow();
    return closed;
  }

  return {
    keepalive() {
      // While messages are being committed the client waits on the server, whose reading may be paused.
      if (processing > 0) silentTicks = 0;
      else if (++silentTicks > 2) return socket.terminate();
      socket.ping();
    },
    finish,
    terminate: () => socket.terminate(),
    closed,
  };
}
