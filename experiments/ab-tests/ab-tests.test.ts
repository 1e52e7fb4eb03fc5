/**
 * The experiments API end to end on the embedded store: experiments created and changed over HTTP, exposures and
 * conversions sent as PostHog events through the PostHog API, results computed in ClickHouse. Planted rates give
 * the expected counts and a significant lift; events before exposure do not count; a skewed split is flagged;
 * tenants are isolated; changes are versioned, audited and keep the experiment's flag in step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACME,
  AB_TESTS as BASE,
  at,
  callApi,
  capture as captureTo,
  definition,
  EXPERIMENT_TENANTS,
  exposure,
  GLOBEX,
  HOUR,
  type PosthogEvent,
  T0,
} from '../../test/helpers/experiments.ts';
import { seededRandom } from '../../test/helpers/random.ts';
import { startTestService, type TestService } from '../../test/helpers/service.ts';
import { createSchema, parseBody } from './definition.ts';
import type { ExperimentFlag } from './flags.ts';
import { createExperiments } from './service.ts';

const PERSONS = 2000;
const RATES = { control: 0.1, treatment: 0.2 };
const TURN = { 'voice.turn_id': 'turn-1' };

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ tenants: EXPERIMENT_TENANTS });
});
afterAll(async () => {
  await svc?.close();
});
const api = (method: string, path: string, token: string | undefined, payload?: unknown) => callApi(svc.url, method, path, token, payload);
const capture = (writeKey: string, events: PosthogEvent[]) => captureTo(svc.url, writeKey, events);

describe('a planted experiment', () => {
  let id: string;
  const expected = { control: { conversions: 0, revenue: 0 }, treatment: { conversions: 0, revenue: 0 } };
  beforeAll(async () => {
    const created = await api('POST', BASE, ACME.admin, definition());
    expect(created.status).toBe(201);
    id = created.body.abTest.id;
    const random = seededRandom(18);
    const events: PosthogEvent[] = [];
    for (let i = 0; i < PERSONS; i++) {
      const person = `p${i}`;
      const variant = i % 2 === 0 ? 'control' : 'treatment';
      const exposedAt = T0 + HOUR + i * 1000;
      // A purchase before exposure (every third person): it must not count, but it tells CUPED these persons buy
      // more often.
      const buyer = i % 3 === 0;
      if (buyer) events.push({ event: 'purchase', distinct_id: person, timestamp: at(exposedAt - 60_000), properties: { 'order.value': 1000 } });
      events.push(exposure('checkout-button', person, variant, exposedAt));
      if (random() < RATES[variant] + (buyer ? 0.4 : 0)) {
        const value = 10 + (i % 7);
        expected[variant].conversions++;
        expected[variant].revenue += value;
        events.push({ event: 'purchase', distinct_id: person, timestamp: at(exposedAt + 120_000), properties: { 'order.value': value } });
      }
      // Every fifth person interrupts the assistant after exposure, once in control and twice in treatment; those in
      // control did once before exposure too.
      if (i % 5 === 0) {
        for (let k = 0; k < (variant === 'control' ? 1 : 2); k++)
          events.push({ event: 'voice.barge_in', distinct_id: person, timestamp: at(exposedAt + 1000 + k), properties: TURN });
        if (variant === 'control') events.push({ event: 'voice.barge_in', distinct_id: person, timestamp: at(exposedAt - 1000), properties: TURN });
      }
    }
    // Ten persons later see the other variant too: they stay in their first.
    for (let i = 0; i < 10; i++) events.push(exposure('checkout-button', `p${i}`, i % 2 === 0 ? 'treatment' : 'control', T0 + 3 * HOUR));
    await capture(ACME.write, events);
    // Another tenant's events on the same flag key and the same person ids: never counted for acme.
    const foreign: PosthogEvent[] = [];
    for (let i = 0; i < 300; i++) {
      foreign.push(exposure('checkout-button', `p${i}`, 'treatment', T0 + HOUR));
      foreign.push({ event: 'purchase', distinct_id: `p${i}`, timestamp: at(T0 + 2 * HOUR), properties: { 'order.value': 5 } });
    }
    await capture(GLOBEX.write, foreign);
  });

  it('gives the planted counts per variant and a significant lift', async () => {
    const r = await api('GET', `${BASE}/${id}/results`, ACME.read);
    expect(r.status).toBe(200);
    const res = r.body;
    expect(res).toMatchObject({ id, name: 'Checkout button', status: 'running', flagKey: 'checkout-button', exposures: PERSONS, multipleVariantExposures: 10 });
    expect(res.srm).toMatchObject({
      observed: { control: 1000, treatment: 1000 },
      expected: { control: 1000, treatment: 1000 },
      chiSquare: 0,
      mismatch: false,
    });
    const [purchase, revenue, order, bargeIns] = res.metrics;
    expect(purchase).toMatchObject({ id: 'purchase', type: 'conversion', isPrimary: true });
    const [control, treatment] = purchase.variants;
    expect(control).toMatchObject({ id: 'control', isControl: true, exposures: 1000, conversions: expected.control.conversions });
    expect(control.rate).toBeCloseTo(expected.control.conversions / 1000, 12);
    expect(control.rateCi95[0]).toBeLessThan(control.rate);
    expect(control.lift).toBeUndefined();
    expect(treatment).toMatchObject({ id: 'treatment', isControl: false, exposures: 1000, conversions: expected.treatment.conversions });
    const lift = treatment.lift;
    expect(lift.relative).toBeCloseTo(expected.treatment.conversions / expected.control.conversions - 1, 10);
    expect(lift.pValue).toBeLessThan(0.001);
    expect(lift.ci95[0]).toBeGreaterThan(0);
    expect(lift.sequentialCi95[0]).toBeGreaterThan(0);
    expect(lift.chanceToBeatControl).toBeGreaterThan(0.999);
    // The purchases before exposure predict those after: CUPED removes part of the variance and keeps the lift.
    expect(lift.cuped.varianceReduction).toBeGreaterThan(0.05);
    expect(lift.cuped.ci95[1] - lift.cuped.ci95[0]).toBeLessThan(lift.ci95[1] - lift.ci95[0]);
    expect(lift.cuped.ci95[0]).toBeLessThan(lift.relative);
    expect(lift.cuped.ci95[1]).toBeGreaterThan(lift.relative);
    // Revenue: the sum of order values after exposure, per person (the 1,000s before exposure left out).
    const [rc, rt] = revenue.variants;
    expect(rc.mean).toBeCloseTo(expected.control.revenue / 1000, 10);
    expect(rt.mean).toBeCloseTo(expected.treatment.revenue / 1000, 10);
    expect(rt.lift.pValue).toBeLessThan(0.001);
    // Order value: the mean over the persons who bought after exposure only.
    const [oc, ot] = order.variants;
    expect(oc.mean).toBeCloseTo(expected.control.revenue / expected.control.conversions, 10);
    expect(ot.mean).toBeCloseTo(expected.treatment.revenue / expected.treatment.conversions, 10);
    // A catalog count per person: 200 persons of each variant interrupt, once (control) or twice (treatment).
    const [bc, bt] = bargeIns.variants;
    expect(bargeIns).toMatchObject({ type: 'catalog', isPrimary: false });
    expect(bc).toMatchObject({ exposures: 1000, mean: 0.2 });
    expect(bt).toMatchObject({ exposures: 1000, mean: 0.4 });
    expect(bt.lift.relative).toBeCloseTo(1, 10);
  });

  it('is read by admin tokens too, and is another tenant’s 404', async () => {
    expect((await api('GET', `${BASE}/${id}/results`, ACME.admin)).status).toBe(200);
    expect((await api('GET', `${BASE}/${id}`, ACME.read)).body.abTest.id).toBe(id);
    for (const path of [`${BASE}/${id}`, `${BASE}/${id}/results`]) expect((await api('GET', path, GLOBEX.read)).status).toBe(404);
    expect((await api('PATCH', `${BASE}/${id}`, GLOBEX.admin, { status: 'stopped' })).status).toBe(404);
    expect((await api('GET', BASE, GLOBEX.read)).body.abTests).toEqual([]);
  });

  it("counts only its own tenant's events: globex's experiment on the same flag key sees globex's", async () => {
    const g = await api('POST', BASE, GLOBEX.admin, definition());
    expect(g.status).toBe(201);
    const r = await api('GET', `${BASE}/${g.body.abTest.id}/results`, GLOBEX.read);
    expect(r.body.srm.observed).toEqual({ control: 0, treatment: 300 });
    expect(r.body.metrics[0].variants[1]).toMatchObject({ exposures: 300, conversions: 300 });
  });
});

describe('sample-ratio mismatch', () => {
  it('is flagged for 700 against 300 exposures on a 50/50 split', async () => {
    const created = await api('POST', BASE, ACME.admin, definition({ name: 'Skewed', flagKey: 'skewed' }));
    const events = Array.from({ length: 1000 }, (_, i) => exposure('skewed', `s${i}`, i < 700 ? 'control' : 'treatment', T0 + HOUR + i));
    await capture(ACME.write, events);
    const r = await api('GET', `${BASE}/${created.body.abTest.id}/results`, ACME.read);
    expect(r.body.srm).toMatchObject({
      observed: { control: 700, treatment: 300 },
      expected: { control: 500, treatment: 500 },
      chiSquare: 160,
      mismatch: true,
    });
    expect(r.body.srm.pValue).toBeLessThan(0.001);
  });
});

describe('changes', () => {
  it('are versioned, audited, and loaded again from the store', async () => {
    const created = await api('POST', BASE, ACME.admin, definition({ name: 'Pricing page', flagKey: undefined, status: 'draft', startAt: undefined }));
    expect(created.status).toBe(201);
    const e = created.body.abTest;
    expect(e).toMatchObject({ name: 'Pricing page', flagKey: 'pricing-page', status: 'draft', startAt: null, version: 1 });
    const started = await api('PATCH', `${BASE}/${e.id}`, ACME.admin, { status: 'running' });
    expect(started.status).toBe(200);
    expect(started.body.abTest).toMatchObject({ status: 'running', version: 2 });
    expect(started.body.abTest.startAt).toEqual(expect.any(String));
    const stopped = await api('PATCH', `${BASE}/${e.id}`, ACME.admin, { status: 'stopped' });
    expect(stopped.body.abTest).toMatchObject({ status: 'stopped', version: 3 });
    expect(stopped.body.abTest.endAt).toEqual(expect.any(String));
    const running = await api('PATCH', `${BASE}/${e.id}`, ACME.admin, { variants: definition().variants });
    expect(running.status).toBe(400);
    expect(running.body.message).toMatch(/^variants: /);

    const versions = await svc.rows<{ Version: number }>('SELECT Version FROM signalhouse.experiment_versions WHERE Id = {id:String} ORDER BY Version', {
      id: e.id,
    });
    expect(versions.map((v) => Number(v.Version))).toEqual([1, 2, 3]);
    const audit = await svc.rows<{ Action: string; Status: number; RequestId: string; Actor: string }>(
      "SELECT Action, Status, RequestId, Actor FROM signalhouse.audit_log WHERE TenantId = 'acme' AND Target = {id:String} ORDER BY Timestamp",
      { id: e.id },
    );
    expect(audit.map((a) => [a.Action, Number(a.Status)])).toEqual([
      ['experiment.create', 201],
      ['experiment.update', 200],
      ['experiment.update', 200],
      ['experiment.update', 400],
    ]);
    expect(audit[0].RequestId).toBe(created.requestId);

    const reloaded = createExperiments({ store: svc.service.store });
    await reloaded.load();
    expect(reloaded.get('acme', e.id)).toEqual(stopped.body.abTest);
    expect(() => reloaded.get('globex', e.id)).toThrow(/no experiment/);
  });

  it("keep the experiment's flag in step: its variants, allocations and configs, enabled only while running", async () => {
    const upserts: Array<{ tenantId: string; flag: ExperimentFlag; actor: string; requestId: string }> = [];
    const withFlags = createExperiments({
      store: svc.service.store,
      flags: { upsert: async (tenantId, flag, actor, requestId) => void upserts.push({ tenantId, flag, actor, requestId }) },
    });
    const input = parseBody(createSchema, definition({ flagKey: 'flagged', status: 'draft', startAt: undefined }));
    const created = await withFlags.create('acme', input, 'at_acme#1', 'req-1');
    await withFlags.update('acme', created.id, { status: 'running' }, 'at_acme#1', 'req-2');
    await withFlags.update('acme', created.id, { status: 'stopped' }, 'at_acme#2', 'req-3');
    expect(upserts.map((u) => [u.tenantId, u.flag.isEnabled, u.actor, u.requestId])).toEqual([
      ['acme', false, 'at_acme#1', 'req-1'],
      ['acme', true, 'at_acme#1', 'req-2'],
      ['acme', false, 'at_acme#2', 'req-3'],
    ]);
    expect(upserts[1].flag).toEqual({
      key: 'flagged',
      name: 'Checkout button',
      isEnabled: true,
      variants: [
        { key: 'control', name: 'Control', rolloutPercentage: 50, payload: { color: 'grey' } },
        { key: 'treatment', name: 'Green button', rolloutPercentage: 50, payload: { color: 'green' } },
      ],
    });
  });

  it('refuse a flag key another experiment has', async () => {
    const r = await api('POST', BASE, ACME.admin, definition());
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/^flagKey: "checkout-button" is the flag of experiment/);
  });
});
