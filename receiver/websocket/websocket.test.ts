/**
 * WebSocket ingest against a real server and the `ws` client: each message is acknowledged once its events are
 * committed (a group-commit delay of 200 ms makes an early ack visible as missing rows), with the envelope batch
 * reply's per-event results; a message sent again under its id, or an event under its id, is stored once; events
 * default to `source: voice_ws`; authentication by header, subprotocol or first message, refused with clear close
 * codes; hostile messages answered one by one while the connection and the server stay up; keepalive.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';
import { connectWs, type ServerMessage, type WsClient } from '../../test/helpers/websocket.ts';

const ORIGIN = 'https://shop.acme.test';
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({
    tenants: [
      { id: 'acme', write_keys: [ACME_KEY], allowed_origins: [ORIGIN] },
      { id: 'globex', write_keys: [GLOBEX_KEY] },
    ],
    receivers: { websocket: { auth_timeout: '500ms', ping_interval: '1s', max_message_size: '64KiB', max_batch_events: 50 } },
    exporters: { clickhouse: { batch: { max_delay: '200ms' } } },
  });
});
afterAll(async () => {
  await svc?.close();
});

/** A connection authenticated with the acme key in the Authorization header, once the server said `ready`. */
async function ready(opts: Parameters<typeof connectWs>[1] = { key: ACME_KEY }): Promise<WsClient> {
  const client = await connectWs(svc.url, opts);
  await client.next((m) => m.type === 'ready');
  return client;
}

async function storedCounts(ids: readonly string[]): Promise<Record<string, number>> {
  const rows = await svc.rows<{ id: string; n: string }>(
    'SELECT EventId AS id, count() AS n FROM signalhouse.otel_logs WHERE EventId IN {ids:Array(String)} GROUP BY id',
    { ids },
  );
  const out: Record<string, number> = Object.fromEntries(ids.map((id) => [id, 0]));
  for (const r of rows) out[r.id] = Number(r.n);
  return out;
}

describe('acknowledgement', () => {
  it('acknowledges each message once its events are committed: a query right after the ack sees them, with a result per event', async () => {
    const client = await ready();
    const batch = [
      { event_id: 'ack-new', event_name: 'ws.ack', occurred_at: new Date().toISOString(), user_id: 'u' },
      { event_id: 'ack-consent', event_name: 'ws.ack', user_id: 'u', context: { consent: { analytics: false } } },
      { event_id: 'ack-malformed', event_name: '' },
      { event_id: 'ack-invalid', event_name: 'voice.first_response' },
      { event_id: 'ack-new', event_name: 'ws.ack', user_id: 'u' },
    ];
    client.send({ type: 'batch', id: 'ack-1', batch_id: 'b-1', events: batch });
    client.send({ type: 'event', id: 'ack-2', event: { event_id: 'ack-single', event_name: 'ws.ack' } });
    // Each ack's events are read the moment it arrives, while the other message may still be committing.
    const readAfter = async (id: string, ids: string[]) => {
      const ack = await client.answer(id);
      return { ack, stored: await storedCounts(ids) };
    };
    const [first, second] = await Promise.all([
      readAfter('ack-1', ['ack-new', 'ack-consent', 'ack-malformed', 'ack-invalid']),
      readAfter('ack-2', ['ack-single']),
    ]);
    expect(first.ack).toEqual({
      type: 'ack',
      id: 'ack-1',
      batch_id: 'b-1',
      accepted: 2,
      dropped: 1,
      rejected: 2,
      results: [
        { index: 0, event_id: 'ack-new', status: 'accepted' },
        { index: 1, event_id: 'ack-consent', status: 'dropped', reason: 'consent' },
        { index: 2, status: 'rejected', error: 'event_name must be a non-empty string' },
        { index: 3, event_id: 'ack-invalid', status: 'rejected', error: expect.stringContaining('voice.first_response') },
        { index: 4, event_id: 'ack-new', status: 'accepted', duplicate: true },
      ],
    });
    expect(first.stored).toEqual({ 'ack-new': 1, 'ack-consent': 0, 'ack-malformed': 0, 'ack-invalid': 0 });
    expect(second.ack).toEqual({
      type: 'ack',
      id: 'ack-2',
      accepted: 1,
      dropped: 0,
      rejected: 0,
      results: [{ index: 0, event_id: 'ack-single', status: 'accepted' }],
    });
    expect(second.stored).toEqual({ 'ack-single': 1 });
    client.socket.close();
  });

  it('stores a message sent again under its id once, on the same or another connection, and an event sent again under its id', async () => {
    const events = [
      { event_name: 'ws.dup', user_id: 'u' },
      { event_name: 'ws.dup', user_id: 'u', attributes: { n: 2 } },
      { event_id: 'dup-explicit', event_name: 'ws.dup', user_id: 'u' },
    ];
    const first = await ready();
    first.send({ type: 'batch', id: 'dup-msg', events });
    expect((await first.answer('dup-msg')).results).toEqual([
      { index: 0, event_id: 'dup-msg:0', status: 'accepted' },
      { index: 1, event_id: 'dup-msg:1', status: 'accepted' },
      { index: 2, event_id: 'dup-explicit', status: 'accepted' },
    ]);
    first.send({ type: 'batch', id: 'dup-msg', events });
    const again = await first.answer('dup-msg');
    first.socket.close();
    const second = await ready();
    second.send({ type: 'batch', id: 'dup-msg', events });
    second.send({ type: 'event', id: 'dup-other', event: events[2] });
    const [elsewhere, other] = await Promise.all([second.answer('dup-msg'), second.answer('dup-other')]);
    const repeats = ['dup-msg:0', 'dup-msg:1', 'dup-explicit'].map((event_id, index) => ({ index, event_id, status: 'accepted', duplicate: true }));
    expect(again).toMatchObject({ accepted: 3, dropped: 0, rejected: 0, results: repeats });
    expect(elsewhere).toMatchObject({ accepted: 3, dropped: 0, rejected: 0, results: repeats });
    expect(other.results).toEqual([{ index: 0, event_id: 'dup-explicit', status: 'accepted', duplicate: true }]);
    expect(await storedCounts(['dup-msg:0', 'dup-msg:1', 'dup-explicit'])).toEqual({ 'dup-msg:0': 1, 'dup-msg:1': 1, 'dup-explicit': 1 });
    second.socket.close();
  });

  it('tags events without a source as voice_ws, keeps a source they name, refuses an unknown one', async () => {
    const client = await ready();
    client.send({
      type: 'batch',
      id: 'src',
      events: [
        { event_id: 'src-default', event_name: 'ws.voice_gateway' },
        { event_id: 'src-web', event_name: 'ws.source', source: 'web' },
        { event_id: 'src-bad', event_name: 'ws.source', source: 'carrier-pigeon' },
      ],
    });
    expect((await client.answer('src')).results[2]).toEqual({ index: 2, status: 'rejected', error: 'source must be one of web, widget, voice_ws, server' });
    const rows = await svc.rows<{ id: string; source: string; scope: string }>(
      "SELECT EventId AS id, LogAttributes['event.source'] AS source, ScopeName AS scope FROM signalhouse.otel_logs WHERE EventId LIKE 'src-%' ORDER BY id",
    );
    expect(rows).toEqual([
      { id: 'src-default', source: 'voice_ws', scope: 'signalhouse/websocket' },
      { id: 'src-web', source: 'web', scope: 'signalhouse/websocket' },
    ]);
    client.socket.close();
  });
});

describe('authentication', () => {
  async function tenantOf(eventId: string): Promise<string[]> {
    const rows = await svc.rows<{ t: string }>('SELECT TenantId AS t FROM signalhouse.otel_logs WHERE EventId = {id:String}', { id: eventId });
    return rows.map((r) => r.t);
  }

  it('takes the write key from the signalhouse.v1 subprotocol pair key.<write key>', async () => {
    const client = await ready({ protocols: ['signalhouse.v1', `key.${ACME_KEY}`] });
    expect(client.socket.protocol).toBe('signalhouse.v1');
    client.send({ type: 'event', id: 'auth-sub', event: { event_id: 'auth-sub', event_name: 'ws.auth' } });
    expect((await client.answer('auth-sub')).accepted).toBe(1);
    expect(await tenantOf('auth-sub')).toEqual(['acme']);
    client.socket.close();
  });

  it('takes the write key from a first auth message, then ingests for its tenant', async () => {
    const client = await connectWs(svc.url);
    client.send({ type: 'auth', key: GLOBEX_KEY });
    client.send({ type: 'event', id: 'auth-first', event: { event_id: 'auth-first', event_name: 'ws.auth' } });
    expect((await client.next((m) => m.type === 'ready')).limits).toMatchObject({ max_message_size: 64 * 1024, max_batch_events: 50 });
    expect((await client.answer('auth-first')).accepted).toBe(1);
    expect(await tenantOf('auth-first')).toEqual(['globex']);
    client.socket.close();
  });

  it.each([
    ['an unknown key in the header', { key: 'wk_nobody_at_all' }, undefined, { code: 4401, reason: 'unknown write key' }],
    ['an unknown key in the subprotocol', { protocols: ['signalhouse.v1', 'key.wk_nobody_at_all'] }, undefined, { code: 4401, reason: 'unknown write key' }],
    ['an unknown key in the auth message', {}, { type: 'auth', key: 'wk_nobody_at_all' }, { code: 4401, reason: 'unknown write key' }],
    [
      'a first message that is not auth',
      {},
      { type: 'event', id: 'auth-none', event: { event_id: 'auth-none', event_name: 'ws.auth' } },
      { code: 4401, reason: 'send {"type":"auth","key":"<write key>"} first' },
    ],
    ['no key within auth_timeout', {}, undefined, { code: 4408, reason: 'no auth message within 500 ms: send {"type":"auth","key":"<write key>"} first' }],
    [
      "another page's origin (header key)",
      { key: ACME_KEY, origin: 'https://globex.test' },
      undefined,
      { code: 4403, reason: 'origin "https://globex.test" may not send with this write key (tenants[].allowed_origins)' },
    ],
    [
      "another page's origin (auth message)",
      { origin: 'https://globex.test' },
      { type: 'auth', key: ACME_KEY },
      { code: 4403, reason: 'origin "https://globex.test" may not send with this write key (tenants[].allowed_origins)' },
    ],
  ])('closes a connection with %s', async (_name, opts, first, expected) => {
    const client = await connectWs(svc.url, opts);
    if (first) client.send(first);
    expect(await client.closed).toEqual(expected);
    expect(client.received).toEqual([]);
    expect(await storedCounts(['auth-none'])).toEqual({ 'auth-none': 0 });
  });

  it("accepts the tenant's own origin", async () => {
    const client = await ready({ key: ACME_KEY, origin: ORIGIN });
    client.send({ type: 'event', id: 'auth-origin', event: { event_id: 'auth-origin', event_name: 'ws.auth' } });
    expect((await client.answer('auth-origin')).accepted).toBe(1);
    client.socket.close();
  });

  it('refuses a message naming another tenant (FORBIDDEN_TENANT), stores none of it, and goes on', async () => {
    const client = await ready();
    client.send({
      type: 'batch',
      id: 'other-tenant',
      events: [
        { event_id: 'ot-1', event_name: 'ws.auth' },
        { event_id: 'ot-2', event_name: 'ws.auth', tenant_id: 'globex' },
      ],
    });
    client.send({ type: 'event', id: 'own-tenant', event: { event_id: 'ot-3', event_name: 'ws.auth', tenant_id: 'acme' } });
    expect(await client.answer('other-tenant')).toEqual({
      type: 'error',
      id: 'other-tenant',
      error: 'FORBIDDEN_TENANT',
      message: `tenant_id "globex" does not match the write key's tenant`,
      retryable: false,
    });
    expect((await client.answer('own-tenant')).accepted).toBe(1);
    expect(await storedCounts(['ot-1', 'ot-2', 'ot-3'])).toEqual({ 'ot-1': 0, 'ot-2': 0, 'ot-3': 1 });
    client.socket.close();
  });
});

describe('hostile input', () => {
  it('answers each bad message with an error and keeps the connection', async () => {
    const client = await ready();
    const bad: Array<[string, unknown]> = [
      ['{"type":"batch",', { id: null, error: 'BAD_REQUEST', message: expect.stringMatching(/^invalid JSON: /) }],
      ['[1,2]', { id: null, error: 'BAD_REQUEST', message: 'a message is a JSON object: {"type": "event" | "batch" | "auth" | "ping", …}' }],
      ['{"type":"subscribe","id":"h-type"}', { id: 'h-type', error: 'BAD_REQUEST', message: 'unknown message type "subscribe" (event, batch, auth, ping)' }],
      ['{"id":"h-untyped"}', { id: 'h-untyped', error: 'BAD_REQUEST', message: 'a message needs a "type" (event, batch, auth, ping)' }],
      ['{"type":"batch","events":[]}', { id: null, error: 'BAD_REQUEST', message: 'a batch message needs an "id": a string of 1 to 128 characters' }],
      [JSON.stringify({ type: 'event', id: 'x'.repeat(129), event: {} }), { id: null, error: 'BAD_REQUEST' }],
      ['{"type":"batch","id":"h-events","events":"all"}', { id: 'h-events', message: 'a batch message carries its envelopes in "events": [...]' }],
      ['{"type":"event","id":"h-event"}', { id: 'h-event', message: 'an event message carries its envelope in "event": {"event_name": …}' }],
      [JSON.stringify({ type: 'batch', id: 'h-big', events: Array.from({ length: 51 }, () => ({})) }), { id: 'h-big', error: 'PAYLOAD_TOO_LARGE' }],
      [JSON.stringify({ type: 'batch', id: 'h-sent', sent_at: 'yesterday', events: [] }), { id: 'h-sent', message: 'sent_at is not a valid timestamp' }],
      [JSON.stringify({ type: 'auth', key: ACME_KEY }), { id: null, message: 'this connection is authenticated already' }],
    ];
    // One at a time: answers come in the order messages finish, and several of these have no id to match by.
    const answers: ServerMessage[] = [];
    for (const [text] of bad) {
      const before = client.received.length;
      client.send(text);
      answers.push(await client.next((m) => client.received.indexOf(m) >= before));
    }
    client.send({ type: 'ping', id: 'h-ping' });
    // Keys named like prototype members are data, in the message and in the event.
    client.send(
      '{"type":"event","id":"h-proto","__proto__":{"events":[1]},"event":{"event_id":"h-proto","event_name":"ws.proto","attributes":{"__proto__":"p","constructor":"c","toString":"t"}}}',
    );
    const proto = await client.answer('h-proto');
    for (const [i, [, expected]] of bad.entries()) expect(answers[i]).toMatchObject({ type: 'error', retryable: false, ...(expected as object) });
    expect(client.received.find((m) => m.type === 'pong')).toEqual({ type: 'pong', id: 'h-ping' });
    expect(proto).toMatchObject({ accepted: 1, rejected: 0 });
    const [row] = await svc.rows<{ a: Record<string, string> }>("SELECT LogAttributes AS a FROM signalhouse.otel_logs WHERE EventId = 'h-proto'");
    const named = Object.entries(row.a).filter(([k]) => ['__proto__', 'constructor', 'toString'].includes(k));
    expect(named.sort()).toEqual([
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['toString', 't'],
    ]);
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    client.socket.close();
  });

  it('closes with 1009 on a message over max_message_size, 1007 on invalid UTF-8, 1003 on a binary frame after answering what was in flight', async () => {
    const big = await ready();
    big.send(JSON.stringify({ type: 'event', id: 'h-huge', event: { event_name: 'ws.huge', attributes: { pad: 'x'.repeat(64 * 1024) } } }));
    expect((await big.closed).code).toBe(1009);

    const utf8 = await ready();
    utf8.socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await utf8.closed).code).toBe(1007);

    const binary = await ready();
    binary.send({ type: 'event', id: 'h-before-binary', event: { event_id: 'h-before-binary', event_name: 'ws.binary' } });
    binary.socket.send(Buffer.from('{"type":"ping"}'), { binary: true });
    expect(await binary.closed).toEqual({ code: 1003, reason: 'binary frames are not supported: send JSON text' });
    expect(binary.received.find((m) => m.id === 'h-before-binary')).toMatchObject({ type: 'ack', accepted: 1 });
    expect(await storedCounts(['h-huge', 'h-before-binary'])).toEqual({ 'h-huge': 0, 'h-before-binary': 1 });

    // The server is up and takes the next connection.
    const next = await ready();
    next.send({ type: 'event', id: 'h-after', event: { event_name: 'ws.after' } });
    expect((await next.answer('h-after')).accepted).toBe(1);
    next.socket.close();
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
  });

  it('answers a plain GET with 426 and refuses an upgrade on any other path', async () => {
    const res = await fetch(`${svc.url}/api/v1/analytics/ws`);
    expect(res.status).toBe(426);
    expect(await res.json()).toMatchObject({ error: 'UPGRADE_REQUIRED' });
    const elsewhere = new WebSocket(`${svc.url.replace('http', 'ws')}/health`);
    const status = await new Promise<number>((resolve) => elsewhere.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0)));
    expect(status).toBe(400);
  });
});

describe('keepalive', () => {
  it('pings every connection; one that answers stays open', async () => {
    const client = await ready();
    let pings = 0;
    await new Promise<void>((resolve) =>
      client.socket.on('ping', () => {
        if (++pings === 3) resolve();
      }),
    );
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    client.send({ type: 'event', id: 'k-alive', event: { event_name: 'ws.keepalive' } });
    expect((await client.answer('k-alive')).accepted).toBe(1);
    client.socket.close();
  });

  it('drops a peer that answers no ping', async () => {
    const silent = await ready({ key: ACME_KEY, client: { autoPong: false } });
    expect((await silent.closed).code).toBe(1006);
  });
});
