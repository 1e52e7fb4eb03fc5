/**
 * A WebSocket ingest client for tests and benchmarks, on the `ws` library: connects to a server's
 * `/api/v1/analytics/ws`, keeps every message the server sends (parsed), and hands out the answer to each sent
 * message by its id, and the close code and reason.
 */
import { once } from 'node:events';
import WebSocket, { type ClientOptions } from 'ws';

// biome-ignore lint/suspicious/noExplicitAny: server messages of several types, asserted field by field
export type ServerMessage = Record<string, any>;

export interface Closed {
  code: number;
  reason: string;
}

export interface WsClient {
  readonly socket: WebSocket;
  /** Every message the server sent so far, in order. */
  readonly received: ServerMessage[];
  /**
   * The next answer (`ack` or `error`) to a message with this id, each answer handed out once (a message sent
   * twice under one id gets two); rejects if the connection closes first.
   */
  answer(id: string): Promise<ServerMessage>;
  /** The first message received (or to come) that matches. */
  next(match: (m: ServerMessage) => boolean): Promise<ServerMessage>;
  send(message: unknown): void;
  readonly closed: Promise<Closed>;
}

export interface ConnectOptions {
  /** Sent as `Authorization: Bearer <key>`. */
  key?: string;
  protocols?: string[];
  origin?: string;
  /** Options of the `ws` client (e.g. `autoPong: false`). */
  client?: ClientOptions;
}

export const wsUrl = (httpUrl: string) => `${httpUrl.replace(/^http/, 'ws')}/api/v1/analytics/ws`;

/** Opens a connection; resolves once it is open (authentication may still be under way). */
export async function connectWs(httpUrl: string, opts: ConnectOptions = {}): Promise<WsClient> {
  const headers: Record<string, string> = {};
  if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
  const socket = new WebSocket(wsUrl(httpUrl), opts.protocols ?? [], { headers, origin: opts.origin, ...opts.client });
  const received: ServerMessage[] = [];
  const answers = new Map<string, ServerMessage[]>();
  const waiting = new Map<string, Array<{ resolve(m: ServerMessage): void; reject(err: Error): void }>>();
  const watchers: Array<{ match: (m: ServerMessage) => boolean; resolve(m: ServerMessage): void; reject(err: Error): void }> = [];
  let closedWith: Closed | undefined;
  const closed = new Promise<Closed>((resolve) => {
    socket.on('close', (code, reason) => {
      closedWith = { code, reason: reason.toString() };
      const err = new Error(`connection closed (${code} ${closedWith.reason})`);
      for (const ws of waiting.values()) for (const w of ws) w.reject(err);
      for (const w of watchers) w.reject(err);
      waiting.clear();
      watchers.length = 0;
      resolve(closedWith);
    });
  });
  socket.on('error', () => undefined); // reported by 'close'
  socket.on('message', (data) => {
    const m = JSON.parse(data.toString()) as ServerMessage;
    received.push(m);
    if ((m.type === 'ack' || m.type === 'error') && typeof m.id === 'string') {
      const waiter = waiting.get(m.id)?.shift();
      if (waiter) waiter.resolve(m);
      else answers.set(m.id, [...(answers.get(m.id) ?? []), m]);
    }
    for (let i = watchers.length - 1; i >= 0; i--) {
      if (watchers[i].match(m)) {
        watchers[i].resolve(m);
        watchers.splice(i, 1);
      }
    }
  });
  await Promise.race([once(socket, 'open'), closed]);
  return {
    socket,
    received,
    answer(id) {
      const known = answers.get(id)?.shift();
      if (known) return Promise.resolve(known);
      if (closedWith) return Promise.reject(new Error(`connection closed (${closedWith.code} ${closedWith.reason})`));
      return new Promise((resolve, reject) => waiting.set(id, [...(waiting.get(id) ?? []), { resolve, reject }]));
    },
    next(match) {
      const known = received.find(match);
      if (known) return Promise.resolve(known);
      if (closedWith) return Promise.reject(new Error(`connection closed (${closedWith.code} ${closedWith.reason})`));
      return new Promise((resolve, reject) => watchers.push({ match, resolve, reject }));
    },
    send(message) {
      socket.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    closed,
  };
}
