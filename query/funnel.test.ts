/**
 * Funnels against events ingested through the Segment API: per person with identity stitching, the window from
 * the first step, out-of-order, repeated and out-of-window steps, the three modes, and breakdowns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../test/helpers/service.ts';

let svc: TestService;
const MIN = 60_000;
const BASE = Date.now() - 6 * 3_600_000;
const FROM = new Date(BASE - MIN).toISOString();
const TO = new Date(BASE + 5 * 3_600_000).toISOString();
let seq = 0;

type Who = { userId?: string; anonymousId?: string };
const track = (who: Who, event: string, minute: number, properties: Record<string, unknown> = {}) => ({
  type: 'track',
  ...who,
  event,
  messageId: `f-${++seq}`,
  timestamp: new Date(BASE + minute * MIN).toISOString(),
  properties,
});

beforeAll(async () => {
  svc = await startTestService();
  const batch = [
    // p1: view → cart → checkout in order, 10 and 30 minutes after the view.
    track({ userId: 'p1' }, 'commerce.view', 0, { country: 'DE' }),
    track({ userId: 'p1' }, 'commerce.add_to_cart', 10),
    track({ userId: 'p1' }, 'commerce.checkout', 30),
    // p2: out of order (checkout before cart), repeated views.
    track({ userId: 'p2' }, 'commerce.view', 0, { country: 'FR' }),
    track({ userId: 'p2' }, 'commerce.view', 1),
    track({ userId: 'p2' }, 'commerce.checkout', 5),
    track({ userId: 'p2' }, 'commerce.add_to_cart', 20),
    // p3: cart and checkout after the 1-hour window used below.
    track({ userId: 'p3' }, 'commerce.view', 0, { country: 'DE' }),
    track({ userId: 'p3' }, 'commerce.add_to_cart', 90),
    track({ userId: 'p3' }, 'commerce.checkout', 100),
    // p4: starts anonymously, identifies, finishes as a user: one person.
    track({ anonymousId: 'anon-4' }, 'commerce.view', 0, { country: 'DE' }),
    track({ anonymousId: 'anon-4' }, 'commerce.add_to_cart', 5),
    { type: 'identify', userId: 'p4', anonymousId: 'anon-4', messageId: `f-${++seq}`, timestamp: new Date(BASE + 6 * MIN).toISOString() },
    track({ userId: 'p4' }, 'commerce.checkout', 8),
    // p5: only a cart, no view: not in the funnel.
    track({ userId: 'p5' }, 'commerce.add_to_cart', 0),
    // p6: view, then an unrelated checkout... of another funnel step order: view, checkout, cart, checkout.
    track({ userId: 'p6' }, 'commerce.view', 0, { country: 'FR' }),
    track({ userId: 'p6' }, 'commerce.checkout', 2),
    track({ userId: 'p6' }, 'commerce.add_to_cart', 4),
    track({ userId: 'p6' }, 'commerce.checkout', 6),
    // p7: views again 100 minutes later and adds to the cart 30 minutes after that: its chain starts at the second view.
    track({ userId: 'p7' }, 'commerce.view', 0, { country: 'DE' }),
    track({ userId: 'p7' }, 'commerce.view', 100),
    track({ userId: 'p7' }, 'commerce.add_to_cart', 130),
  ];
  const res = await fetch(`${svc.url}/v1/batch`, {
    method: 'POST',
    body: JSON.stringify({ batch }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
  });
  expect(await res.json()).toEqual({ success: true });
  await svc.settle();
});
afterAll(async () => {
  await svc?.close();
});

async function funnel(body: Record<string, unknown>) {
  const res = await fetch(`${svc.url}/api/v1/analytics/reports/funnel`, {
    method: 'POST',
    body: JSON.stringify({ steps: ['commerce.view', 'commerce.add_to_cart', 'commerce.checkout'], from: FROM, to: TO, window: 3600, ...body }),
    headers: { 'content-type': 'application/json', authorization: 'Bearer rt_acme_test_token' },
  });
  return { status: res.status, body: await res.json() };
}

const counts = (steps: Array<{ count: number }>) => steps.map((s) => s.count);

describe('funnel', () => {
  it('counts people in order within the window from the first step, stitching anonymous ids to users', async () => {
    const { status, body } = await funnel({});
    expect(status).toBe(200);
    // Viewed: p1 p2 p3 p4 p6 p7. Cart after a view within 1 h: p1 p2 p4 p6 p7 (p3 too late; p7 from its second
    // view). Checkout after cart: p1 p4 p6 (p2's came before its cart).
    expect(counts(body.steps)).toEqual([6, 5, 3]);
    expect(body.steps.map((s: { conversion_rate: number }) => s.conversion_rate)).toEqual([1, 5 / 6, 0.5]);
    expect(body.steps[0]).toEqual({ name: 'commerce.view', count: 6, conversion_rate: 1, median_time_to_convert_s: 0 });
    // Time from the first view to the first cart: p1 600 s, p2 1200 s, p4 300 s, p6 240 s, p7 7800 s → median 600 s.
    expect(body.steps[1].median_time_to_convert_s).toBe(600);
  });

  it('widens and narrows with the window', async () => {
    expect(counts((await funnel({ window: 7200 })).body.steps)).toEqual([6, 6, 4]);
    expect(counts((await funnel({ window: 300 })).body.steps)).toEqual([6, 2, 0]);
  });

  it('strict mode breaks on an interleaved step; unordered mode accepts any order', async () => {
    // strict: p6's checkout between view and cart breaks its chain; p2's too (p7's repeated view does not).
    expect(counts((await funnel({ mode: 'strict' })).body.steps)).toEqual([6, 3, 2]);
    // unordered: every step within the hour after the first view, any order: p1 p2 p4 p6 have all three.
    expect(counts((await funnel({ mode: 'unordered' })).body.steps)).toEqual([6, 4, 4]);
  });

  it('breaks down by an attribute of the first step', async () => {
    const { body } = await funnel({ breakdown: 'country' });
    expect(counts(body.steps)).toEqual([6, 5, 3]);
    const by = Object.fromEntries(body.breakdown.map((g: { value: string; steps: Array<{ count: number }> }) => [g.value, counts(g.steps)]));
    expect(by).toEqual({ DE: [4, 3, 2], FR: [2, 2, 1] });
  });

  it("counts ordered chains exactly as ClickHouse's windowFunnel, on random data with ties and repeats", async () => {
    // 400 people with 0–8 random step events each over three hours, in the first 3 seconds of a minute so that
    // same-second ties between steps are common; for globex, apart from acme's fixture.
    let rnd = 7;
    const random = (n: number) => (rnd = (rnd * 1_103_515_245 + 12_345) % 2 ** 31) % n;
    const STEPS = ['commerce.view', 'commerce.add_to_cart', 'commerce.checkout'];
    const events = [];
    // From a whole second, so the same events fall into the same seconds on every run.
    const start = Math.ceil(BASE / 1000) * 1000;
    for (let p = 0; p < 400; p++) {
      for (let k = random(9); k > 0; k--) {
        const at = start + random(180) * MIN + random(3) * 1000 + random(1000);
        events.push({ type: 'track', userId: `r${p}`, event: STEPS[random(3)], messageId: `r-${++seq}`, timestamp: new Date(at).toISOString() });
      }
    }
    for (let i = 0; i < events.length; i += 400) {
      const res = await fetch(`${svc.url}/v1/batch`, {
        method: 'POST',
        body: JSON.stringify({ batch: events.slice(i, i + 400) }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${GLOBEX_KEY}` },
      });
      expect(res.status).toBe(200);
    }
    await svc.settle();
    const reachesLastStep: number[] = [];
    for (const window of [30, 120, 900, 3600]) {
      const res = await fetch(`${svc.url}/api/v1/analytics/reports/funnel`, {
        method: 'POST',
        body: JSON.stringify({ steps: STEPS, from: FROM, to: TO, window }),
        headers: { 'content-type': 'application/json', authorization: 'Bearer rt_globex_test_token' },
      });
      const reference = await svc.rows<{ c0: string; c1: string; c2: string }>(
        `SELECT countIf(l >= 1) AS c0, countIf(l >= 2) AS c1, countIf(l >= 3) AS c2 FROM (
          SELECT UserId, windowFunnel({window:UInt64})(toDateTime(Timestamp), EventName = {a:String}, EventName = {b:String}, EventName = {c:String}) AS l
          FROM signalhouse.otel_logs WHERE TenantId = 'globex' AND EventName IN ({a:String}, {b:String}, {c:String}) GROUP BY UserId)`,
        { window, a: STEPS[0], b: STEPS[1], c: STEPS[2] },
      );
      const expected = [reference[0].c0, reference[0].c1, reference[0].c2].map(Number);
      reachesLastStep.push(expected[2]);
      expect(counts((await res.json()).steps), `window ${window} s`).toEqual(expected);
    }
    // The data reaches the last step in the long windows, so that the equal counts above prove something.
    expect(reachesLastStep.slice(2).every((n) => n > 0)).toBe(true);
  });

  it('refuses bad requests with 400', async () => {
    expect((await funnel({ steps: ['only.one'] })).status).toBe(400);
    expect((await funnel({ mode: 'sideways' })).status).toBe(400);
    expect((await funnel({ window: -5 })).status).toBe(400);
  });
});
