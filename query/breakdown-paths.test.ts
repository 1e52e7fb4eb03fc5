/**
 * Breakdowns on random data sent through the Segment API, checked against the same counts made here from the
 * data set (events; people stitched through identify and alias calls, the latest link winning), and against the
 * breakdown that reads every attribute from `LogAttributes` instead of the enriched columns. Random site and
 * event filters, limits, and events of another tenant in the same store. Each run writes ids of its own in ten
 * minutes of its own, so runs never see each other's events or links.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postReport } from '../test/helpers/catalog-data.ts';
import { ACME_KEY, GLOBEX_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { ATTRIBUTE_COLUMNS } from '../storage/attribute-columns.ts';
import { runBreakdown, type Breakdown } from './breakdown.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

// Ten minutes of its own for each run, in the last 23 hours (the receivers refuse events more than 24 h away).
const SLOT = 600_000;
const START = Math.floor((Date.now() - 23 * 3_600_000) / SLOT) * SLOT;
const ENRICHED = [...ATTRIBUTE_COLUMNS.keys()];
const FIELDS = [...ENRICHED, 'event_name', 'site_id', 'plan'];

interface Event {
  tenant: 'acme' | 'globex';
  kind: 'track' | 'identify' | 'alias';
  event: string;
  user?: string;
  anon?: string;
  site?: string;
  attributes: Record<string, string>;
}

const value = fc.constantFrom('', 'x', 'y', 'z z', 'Ünï');
const eventArb: fc.Arbitrary<Event> = fc.record({
  tenant: fc.constantFrom('acme', 'acme', 'globex'),
  kind: fc.constantFrom('track', 'track', 'track', 'identify', 'alias'),
  event: fc.constantFrom('page', 'signup', 'purchase'),
  // Half the events anonymous, from few ids: most runs link some of them, some twice (the latest link wins).
  user: fc.option(fc.constantFrom('u1', 'u2', 'u3'), { nil: undefined, freq: 2 }),
  anon: fc.option(fc.constantFrom('a1', 'a2', 'a3'), { nil: undefined, freq: 5 }),
  site: fc.option(fc.constantFrom('shop', 'docs'), { nil: undefined }),
  attributes: fc.dictionary(fc.constantFrom(...ENRICHED, 'plan'), value, { maxKeys: 6 }),
});
const requestArb = fc.record({
  fields: fc.uniqueArray(fc.constantFrom(...FIELDS), { minLength: 1, maxLength: 10 }),
  event_names: fc.option(fc.uniqueArray(fc.constantFrom('page', 'signup', 'identify', 'alias'), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  site_id: fc.option(fc.constantFrom('shop', 'docs'), { nil: undefined }),
  limit: fc.integer({ min: 1, max: 4 }),
});

type Request = typeof requestArb extends fc.Arbitrary<infer R> ? R : never;

/** The Segment message of an event, its ids prefixed by the run; `undefined` for a call Segment would refuse. */
function message(e: Event, run: number, i: number): Record<string, unknown> | undefined {
  const id = (v?: string) => (v === undefined ? undefined : `r${run}-${v}`);
  const base = { messageId: `r${run}-m${i}`, timestamp: new Date(START + run * SLOT + i * 1000).toISOString() };
  const properties = { ...e.attributes, ...(e.site ? { 'site.id': e.site } : {}) };
  if (e.kind === 'alias') return e.user && e.anon ? { ...base, type: 'alias', userId: id(e.user), previousId: id(e.anon) } : undefined;
  if (!e.user && !e.anon) return undefined;
  if (e.kind === 'identify') return { ...base, type: 'identify', userId: id(e.user), anonymousId: id(e.anon) };
  return { ...base, type: 'track', event: e.event, userId: id(e.user), anonymousId: id(e.anon), properties };
}

/** What the breakdown must answer for `tenant`, counted from the events sent. */
function expected(sent: Array<{ e: Event; m: Record<string, unknown> }>, tenant: string, req: Request): Breakdown {
  const own = sent.filter((s) => s.e.tenant === tenant);
  const links = new Map<string, string>();
  for (const { m } of own) {
    const anon = (m.type === 'alias' ? m.previousId : m.anonymousId) as string | undefined;
    if ((m.type === 'identify' || m.type === 'alias') && m.userId && anon) links.set(anon, m.userId as string);
  }
  const rows = own.flatMap(({ m }) => {
    const name = m.type === 'track' ? (m.event as string) : (m.type as string);
    const attrs = (m.properties ?? {}) as Record<string, string>;
    const anon = (m.anonymousId as string | undefined) ?? '';
    const person = (m.userId as string | undefined) ?? links.get(anon) ?? anon;
    const site = attrs['site.id'] ?? '';
    if (req.event_names && !(req.event_names as string[]).includes(name)) return [];
    if (req.site_id !== undefined && site !== req.site_id) return [];
    const of = (f: string) => (f === 'event_name' ? name : f === 'site_id' ? site : (attrs[f] ?? ''));
    return [{ person, of }];
  });
  const count = (list: typeof rows) => ({ events: list.length, people: new Set(list.map((r) => r.person).filter(Boolean)).size });
  return {
    total: count(rows),
    breakdowns: req.fields.map((field) => {
      const groups = new Map<string, typeof rows>();
      for (const r of rows) if (r.of(field) !== '') groups.set(r.of(field), [...(groups.get(r.of(field)) ?? []), r]);
      const out = [...groups].map(([v, list]) => ({ value: v, ...count(list) }));
      out.sort((a, b) => b.events - a.events || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
      return { field, rows: out.slice(0, req.limit) };
    }),
  };
}

async function send(key: string, batch: unknown[]): Promise<void> {
  if (batch.length === 0) return;
  const res = await fetch(`${svc.url}/v1/batch`, {
    method: 'POST',
    body: JSON.stringify({ batch }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  });
  expect(await res.json()).toEqual({ success: true });
}

describe('breakdown on random data', () => {
  it('answers the counts made from the data set, reading the enriched columns or the map alike', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 25 }), requestArb, async (events, req) => {
        run++;
        const sent = events.flatMap((e, i) => {
          const m = message(e, run, i);
          return m ? [{ e, m }] : [];
        });
        await send(
          ACME_KEY,
          sent.filter((s) => s.e.tenant === 'acme').map((s) => s.m),
        );
        await send(
          GLOBEX_KEY,
          sent.filter((s) => s.e.tenant === 'globex').map((s) => s.m),
        );
        await svc.settle();
        const range = { from: START + run * SLOT, to: START + (run + 1) * SLOT };
        const { status, body } = await postReport(svc.url, 'breakdown', { ...req, from: range.from, to: range.to });
        expect(status).toBe(200);
        expect(body).toEqual(expected(sent, 'acme', req));
        const fromMap = await runBreakdown(svc.service.store, 'acme', { ...req, ...range }, 'map');
        expect(fromMap).toEqual(body);
      }),
      { seed: 42, numRuns: 25, interruptAfterTimeLimit: 60_000 },
    );
    expect(run).toBeGreaterThan(5);
  });
});
