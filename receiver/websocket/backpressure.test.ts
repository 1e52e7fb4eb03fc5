/**
 * WebSocket backpressure, on a server with small budgets: a client sending faster than commits go gets its
 * connection paused (not an unbounded queue) and every message acknowledged and stored; a client that stops
 * reading its acks is paused with the bytes it holds within its budget, while another connection's messages get
 * a retryable OVERLOADED from the server's byte budget, and everything goes through once the first reads again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { metricValue } from '../../test/helpers/metrics.ts';
import { ACME_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';
import { connectWs, type ServerMessage, type WsClient } from '../../test/helpers/websocket.ts';

const PER_CONNECTION_BYTES = 1024 * 1024;
const MAX_MESSAGE = 32 * 1024;
const SERVER_BUDGET = 32 * 1024;
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({
    receivers: { websocket: { max_in_flight_messages: 8, max_in_flight_bytes: PER_CONNECTION_BYTES, max_message_size: MAX_MESSAGE, max_batch_events: 1000 } },
    service: { http: { max_in_flight_bytes: SERVER_BUDGET } },
  });
});
afterAll(async () => {
  await svc?.close();
});

const metric = (name: string) => metricValue(svc.url, `signalhouse_${name}`);

async function ready(): Promise<WsClient> {
  const client = await connectWs(svc.url, { key: ACME_KEY });
  await client.next((m) => m.type === 'ready');
  return client;
}

async function storedCount(eventName: string): Promise<number> {
  const [row] = await svc.rows<{ n: string }>('SELECT count() AS n FROM signalhouse.otel_logs WHERE EventName = {name:String}', { name: eventName });
  return Number(row.n);
}

/** Waits until every connection is closed on the server's side and everything it held is given back. */
async function released(): Promise<{ connections: number; bytes: number; messages: number; budget: number }> {
  for (;;) {
    const now = {
      connections: await metric('websocket_connections'),
      bytes: await metric('websocket_in_flight_bytes'),
      messages: await metric('websocket_in_flight_messages'),
      budget: await metric('http_in_flight_body_bytes'),
    };
    if (now.connections === 0 && now.bytes === 0 && now.messages === 0 && now.budget === 0) return now;
    await sleep(20);
  }
}

it('pauses a connection that sends faster than commits go, and acknowledges and stores every message', async () => {
  const pausesBefore = await metric('websocket_pauses_total');
  const client = await ready();
  const messages = 300;
  const ids = Array.from({ length: messages }, (_, i) => `fast-${i}`);
  // All at once: the server reads them far faster than it commits them.
  for (const id of ids) client.send({ type: 'batch', id, events: Array.from({ length: 5 }, () => ({ event_name: 'ws.fast', user_id: 'u' })) });
  const acks = await Promise.all(ids.map((id) => client.answer(id)));
  expect(acks.filter((a) => a.type === 'ack' && a.accepted === 5)).toHaveLength(messages);
  expect((await metric('websocket_pauses_total')) - pausesBefore).toBeGreaterThan(0);
  expect(await storedCount('ws.fast')).toBe(messages * 5);
  client.socket.close();
  await client.closed;
  expect(await released()).toEqual({ connections: 0, bytes: 0, messages: 0, budget: 0 });
});

it('pauses a client that stops reading its acks, within its byte budget; others get a retryable OVERLOADED until it reads again', async () => {
  const slow = await ready();
  slow.socket.pause(); // reads nothing from now on: the server's acks pile up
  // Each message holds ~8 KB of the server's byte budget until its ack is written, and its ack (~60 KB, a result
  // per refused event) fills the socket's buffers, so that acks stop being written and messages stop returning.
  const message = (id: string) => ({
    type: 'batch',
    id,
    events: [{ event_name: 'ws.slow', user_id: 'u', attributes: { pad: 'x'.repeat(6000) } }, ...Array.from({ length: 999 }, () => 0)],
  });
  const sent: string[] = [];
  const samples: number[] = [];
  let paused = 0;
  let processing = 0;
  let budget = 0;
  // Until the server has paused the connection with the budget full and every message read answered (a few
  // dozen messages), or gives up.
  for (let round = 0; round < 3000; round++) {
    samples.push(await metric('websocket_in_flight_bytes'));
    paused = await metric('websocket_paused_connections');
    processing = await metric('websocket_in_flight_messages');
    budget = await metric('http_in_flight_body_bytes');
    // Paused with nothing left to process: what it holds waits for the client to read, so it stays.
    if (paused === 1 && processing === 0 && budget >= SERVER_BUDGET) break;
    // A few at a time (the sockets' buffers would take thousands): once the server stops reading, they wait.
    for (let i = 0; i < 4 && sent.length < 1000; i++) {
      const id = `slow-${sent.length}`;
      sent.push(id);
      slow.send(message(id));
    }
    await sleep(10);
  }
  expect({ paused, processing, budgetFull: budget >= SERVER_BUDGET }).toEqual({ paused: 1, processing: 0, budgetFull: true });
  // What the connection holds stays within its budget, plus what was already read when reading paused.
  const bound = PER_CONNECTION_BYTES + MAX_MESSAGE + 64 * 1024;
  samples.push(await metric('websocket_in_flight_bytes'));
  expect(samples.filter((s) => s > bound)).toEqual([]);
  expect(Math.max(...samples)).toBeGreaterThan(0);

  const other = await ready();
  other.send({ type: 'event', id: 'other-1', event: { event_name: 'ws.other', user_id: 'u' } });
  expect(await other.answer('other-1')).toEqual({
    type: 'error',
    id: 'other-1',
    error: 'OVERLOADED',
    message: `messages and request bodies in flight exceed ${SERVER_BUDGET} bytes, retry later`,
    retryable: true,
    retry_after_ms: 1000,
  });

  slow.socket.resume();
  const acks: ServerMessage[] = await Promise.all(sent.map((id) => slow.answer(id)));
  expect(acks.filter((a) => a.type === 'ack' && a.accepted === 1 && a.rejected === 999)).toHaveLength(sent.length);
  other.send({ type: 'event', id: 'other-1', event: { event_name: 'ws.other', user_id: 'u' } });
  expect(await other.answer('other-1')).toMatchObject({ type: 'ack', accepted: 1 });
  expect(await storedCount('ws.slow')).toBe(sent.length);
  expect(await storedCount('ws.other')).toBe(1);
  slow.socket.close();
  other.socket.close();
  await Promise.all([slow.closed, other.closed]);
  expect(await released()).toEqual({ connections: 0, bytes: 0, messages: 0, budget: 0 });
});

it('answers a flood of invalid messages one by one and stays up', async () => {
  const client = await ready();
  const flood = 2000;
  for (let i = 0; i < flood; i++) client.send(`{"type":"batch","id":"flood-${i}",`);
  client.send({ type: 'event', id: 'after-flood', event: { event_name: 'ws.after_flood', user_id: 'u' } });
  expect(await client.answer('after-flood')).toMatchObject({ type: 'ack', accepted: 1 });
  await client.next(() => client.received.filter((m) => m.type === 'error').length === flood);
  expect(client.received.filter((m) => m.type === 'error' && m.error === 'BAD_REQUEST')).toHaveLength(flood);
  expect((await fetch(`${svc.url}/health`)).status).toBe(200);
  client.socket.close();
});
