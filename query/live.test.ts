/**
 * The live stream. Over HTTP against a real service: committed events arrive after their acknowledgement, as
 * stored (redaction included: the frame's attributes are the stored row's), filtered by name, scoped to the
 * token's tenant; refused, dropped and duplicate events never show. The feed itself: a subscriber's buffer is
 * bounded, what does not fit is dropped and announced, subscriptions are capped, and closing ends every stream.
 */
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testLogEvent } from '../test/helpers/events.ts';
import { ACME_KEY, GLOBEX_KEY, startTestService, TENANTS, type TestService } from '../test/helpers/service.ts';
import { openSse, type SseFrame, type SseStream } from '../test/helpers/sse.ts';
import type { LogBatch } from '../core/event.ts';
import { createLiveFeed, type LiveSink } from './live.ts';

let svc: TestService;
const streams: SseStream[] = [];
const open = async (query = '', token = 'rt_acme_test_token') => {
  const s = await openSse(`${svc.url}/api/v1/analytics/live${query}`, token);
  streams.push(s);
  return s;
};

beforeAll(async () => {
  // initech: a tenant of its own for the subscription cap, which the other tests' streams do not share.
  svc = await startTestService({ tenants: [...TENANTS, { id: 'initech', write_keys: ['wk_initech_key'], read_tokens: ['rt_initech_token'] }] });
});
afterAll(async () => {
  for (const s of streams) s.close();
  await svc?.close();
});

let seq = 0;
async function send(key: string, events: Array<Record<string, unknown>>) {
  const res = await fetch(`${svc.url}/api/v1/analytics/events/batch`, {
    method: 'POST',
    body: JSON.stringify({ events: events.map((e) => ({ event_id: `live-${++seq}`, ...e })) }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  });
  expect(res.status).toBe(200);
  return res.json();
}
const named = (name: string) => (f: SseFrame) => f.event === 'event' && JSON.parse(f.data).event_name === name;
const ready = (f: SseFrame) => f.event === 'ready';

describe('GET /api/v1/analytics/live', () => {
  it('streams a committed event after its acknowledgement, exactly as stored (redaction included)', async () => {
    const stream = await open();
    expect(stream.status).toBe(200);
    expect(JSON.parse((await stream.waitFor(ready)).data)).toEqual({ event_names: null });
    await send(ACME_KEY, [
      {
        event_name: 'live.signup',
        user_id: 'u-live',
        site_id: 'shop',
        attributes: { email: 'ada@example.com', plan: 'pro' },
        context: { page: { url: 'https://shop.example/join?email=ada@example.com', path: '/join' } },
      },
    ]);
    const frame = JSON.parse((await stream.waitFor(named('live.signup'))).data);
    const [row] = await svc.rows<{ attrs: Record<string, string>; id: string }>(
      "SELECT LogAttributes AS attrs, EventId AS id FROM signalhouse.otel_logs WHERE EventName = 'live.signup'",
    );
    expect(frame).toMatchObject({ event_name: 'live.signup', event_id: row.id, user_id: 'u-live', site_id: 'shop', time: expect.any(String) });
    expect(frame.attributes).toEqual(row.attrs);
    expect(frame.attributes.email).toBe('****');
    expect(frame.attributes['url.full']).toBe('/join');
  });

  it('filters by event name, and shows no refused, consent-dropped or duplicate event', async () => {
    const stream = await open('?event_name=live.wanted&event_name=live.also');
    await stream.waitFor(ready);
    await send(ACME_KEY, [
      { event_name: 'live.other' },
      { event_name: 'live.wanted', event_id: 'dup-1', attributes: { n: 1 } },
      { event_name: 'live.wanted', context: { consent: { analytics: false } }, attributes: { n: 2 } },
      // Refused by validation (a known event without its required attribute).
      { event_name: 'voice.first_response', attributes: {} },
    ]);
    // A retry of the same event: a duplicate, stored once already.
    await send(ACME_KEY, [{ event_name: 'live.wanted', event_id: 'dup-1', attributes: { n: 1 } }]);
    await send(ACME_KEY, [{ event_name: 'live.also', attributes: { n: 3 } }]);
    await stream.waitFor(named('live.also'));
    // Frames arrive in commit order: everything sent before live.also has arrived by now if it ever will.
    const events = stream.frames.filter((f) => f.event === 'event').map((f) => [JSON.parse(f.data).event_name, JSON.parse(f.data).attributes.n]);
    expect(events).toEqual([
      ['live.wanted', '1'],
      ['live.also', '3'],
    ]);
  });

  it("never shows another tenant's events", async () => {
    const acme = await open();
    const globex = await open('', 'rt_globex_test_token');
    await Promise.all([acme.waitFor(ready), globex.waitFor(ready)]);
    await send(GLOBEX_KEY, [{ event_name: 'live.globex' }]);
    await send(ACME_KEY, [{ event_name: 'live.acme' }]);
    await Promise.all([acme.waitFor(named('live.acme')), globex.waitFor(named('live.globex'))]);
    expect(acme.frames.some(named('live.globex'))).toBe(false);
    // globex's stream is past acme's event too only if it was sent to it; its own event came first, then nothing.
    await send(GLOBEX_KEY, [{ event_name: 'live.globex.after' }]);
    await globex.waitFor(named('live.globex.after'));
    expect(globex.frames.some(named('live.acme'))).toBe(false);
  });

  it('refuses a missing or wrong token, a write key, bad parameters, and subscriptions past the cap', async () => {
    expect((await fetch(`${svc.url}/api/v1/analytics/live`)).status).toBe(401);
    expect((await open('', 'rt_wrong_token_000')).status).toBe(401);
    expect((await open('', ACME_KEY)).status).toBe(403);
    const bad = await fetch(`${svc.url}/api/v1/analytics/live?event_name=&since=1`, { headers: { authorization: 'Bearer rt_acme_test_token' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'BAD_REQUEST', message: expect.stringMatching(/event_name.*\(body\)|\(body\).*event_name/) });
    // 16 per tenant.
    for (let i = 0; i < 16; i++) {
      const s = await open('', 'rt_initech_token');
      expect(s.status).toBe(200);
      await s.waitFor(ready);
    }
    const refused = await fetch(`${svc.url}/api/v1/analytics/live`, { headers: { authorization: 'Bearer rt_initech_token' } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('10');
    expect((await refused.json()).message).toMatch(/too many live subscriptions/);
  });
});

/** A response stand-in that records what is written and can push back (write returns false until drained). */
function recordingSink() {
  const sink = Object.assign(new EventEmitter(), {
    written: [] as string[],
    ended: false,
    full: false,
    write(chunk: string) {
      sink.written.push(chunk);
      return !sink.full;
    },
    end() {
      sink.ended = true;
    },
  });
  return sink satisfies LiveSink;
}
const batch = (tenantId: string, names: string[]): LogBatch => ({
  tenantId,
  signal: 'logs',
  rejections: [],
  events: names.map((eventName, i) => testLogEvent({ eventName, eventId: `${eventName}-${i}`, timeUnixNano: 1_700_000_000_000_000_000n })),
});
const tick = () => new Promise((r) => setImmediate(r));
const framesOf = (sink: ReturnType<typeof recordingSink>) =>
  sink.written
    .join('')
    .split('\n\n')
    .filter(Boolean)
    .map((f) => (f.startsWith('event: event') ? JSON.parse(f.split('data: ')[1]).event_id : f));

describe('the live feed', () => {
  it('buffers a bounded number of events per subscriber and announces the ones it dropped', async () => {
    const feed = createLiveFeed({ maxBuffered: 3 });
    const sink = recordingSink();
    feed.subscribe('acme', undefined, sink);
    sink.full = true;
    feed.publish(batch('acme', ['a', 'a', 'a', 'a', 'a']));
    await tick();
    expect(framesOf(sink)).toEqual(['a-0', 'a-1', 'a-2', 'event: dropped\ndata: {"dropped":2}']);
    // The socket is full: nothing more is written until it drains, and the buffer stays bounded meanwhile.
    feed.publish(batch('acme', ['b', 'b', 'b', 'b']));
    feed.publish(batch('acme', ['c']));
    await tick();
    expect(sink.written).toHaveLength(1);
    sink.full = false;
    sink.emit('drain');
    await tick();
    expect(framesOf(sink).slice(4)).toEqual(['b-0', 'b-1', 'b-2', 'event: dropped\ndata: {"dropped":2}']);
  });

  it('keeps to the tenant and the names asked for; events before a subscription are not replayed', async () => {
    const feed = createLiveFeed();
    feed.publish(batch('acme', ['early']));
    const all = recordingSink();
    const some = recordingSink();
    const other = recordingSink();
    feed.subscribe('acme', undefined, all);
    feed.subscribe('acme', new Set(['x']), some);
    feed.subscribe('globex', undefined, other);
    feed.publish(batch('acme', ['x', 'y']));
    feed.publish({ ...batch('acme', []), signal: 'traces', events: [] });
    await tick();
    expect(framesOf(all)).toEqual(['x-0', 'y-1']);
    expect(framesOf(some)).toEqual(['x-0']);
    expect(other.written).toEqual([]);
  });

  it('caps subscriptions, frees a slot on close, and ends every stream when closed', () => {
    const feed = createLiveFeed({ maxSubscribersPerTenant: 1, maxSubscribers: 2 });
    const first = feed.subscribe('acme', undefined, recordingSink());
    expect(() => feed.subscribe('acme', undefined, recordingSink())).toThrow(/too many live subscriptions/);
    first.close();
    const sinks = [recordingSink(), recordingSink()];
    feed.subscribe('acme', undefined, sinks[0]);
    feed.subscribe('globex', undefined, sinks[1]);
    expect(() => feed.subscribe('initech', undefined, recordingSink())).toThrow(/2 in all/);
    expect(feed.size).toBe(2);
    feed.close();
    expect(sinks.map((s) => s.ended)).toEqual([true, true]);
    expect(feed.size).toBe(0);
  });
});
