/**
 * The experiments API against callers and bodies it must refuse: only admin tokens change experiments (a write key
 * or a read token gets 403 and the attempt is audited, no token 401), and hostile bodies — allocations that do not
 * sum to 100, two controls, no primary metric, prototype keys, huge ones — get 400 naming their paths (413 past
 * the body limit), never a 500, and change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, AB_TESTS as BASE, at, callApi, definition, EXPERIMENT_TENANTS, HOUR, T0 } from '../../test/helpers/experiments.ts';
import { startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ tenants: EXPERIMENT_TENANTS });
  expect((await api('POST', BASE, ACME.admin, definition())).status).toBe(201);
});
afterAll(async () => {
  await svc?.close();
});
const api = (method: string, path: string, token: string | undefined, payload?: unknown) => callApi(svc.url, method, path, token, payload);

describe('who may', () => {
  it('change experiments: admin tokens only (write key and read token 403, none 401), refusals audited', async () => {
    for (const token of [ACME.write, ACME.read]) {
      expect((await api('POST', BASE, token, definition({ flagKey: 'nope' }))).status).toBe(403);
    }
    expect((await api('POST', BASE, undefined, definition({ flagKey: 'nope' }))).status).toBe(401);
    const [first] = (await api('GET', BASE, ACME.read)).body.abTests;
    expect((await api('PATCH', `${BASE}/${first.id}`, ACME.read, { status: 'stopped' })).status).toBe(403);
    expect((await api('GET', `${BASE}/${first.id}/results`, ACME.write)).status).toBe(403);
    expect((await api('GET', BASE, ACME.read)).body.abTests.map((e: { flagKey: string }) => e.flagKey)).not.toContain('nope');
    const refused = await svc.rows<{ n: string }>(
      "SELECT count() AS n FROM signalhouse.audit_log WHERE TenantId = 'acme' AND Action IN ('experiment.create', 'experiment.update') AND Status = 403 AND Role = 'read'",
    );
    expect(Number(refused[0].n)).toBe(2);
  });
});

describe('hostile bodies', () => {
  const variants = definition().variants;
  it.each([
    [
      'allocations that do not sum to 100',
      { variants: [{ ...variants[0], allocation: 60 }, variants[1]] },
      /^variants: allocations must sum to 100 \(they sum to 110\)/,
    ],
    ['two controls', { variants: [variants[0], { ...variants[1], isControl: true }] }, /^variants: exactly one variant must be the control/],
    ['no control', { variants: [{ ...variants[0], isControl: false }, variants[1]] }, /^variants: exactly one variant must be the control/],
    ['no primary metric', { metrics: [{ id: 'm', name: 'M', type: 'conversion', event: 'x' }] }, /^metrics: exactly one metric must be primary/],
    ['duplicate variant ids', { variants: [variants[0], { ...variants[1], id: 'control' }] }, /variants\.1\.id: duplicate id "control"/],
    ['an unknown metric type', { metrics: [{ id: 'm', name: 'M', type: 'median', isPrimary: true }] }, /^metrics\.0\.type: /],
    [
      'a catalog metric without events',
      { metrics: [{ id: 'm', name: 'M', type: 'catalog', metric: 'system.error_rate', isPrimary: true }] },
      /^metrics\.0\.metric: /,
    ],
    ['an unknown field', { owner: 'x' }, /^\(body\): Unrecognized key/],
    ['a bad status', { status: 'paused' }, /^status: /],
    [
      'a negative allocation',
      {
        variants: [
          { ...variants[0], allocation: -10 },
          { ...variants[1], allocation: 110 },
        ],
      },
      /^variants\.0\.allocation: /,
    ],
    ['a bad flag key', { flagKey: '../x y' }, /^flagKey: /],
    [
      'too many variants',
      { variants: Array.from({ length: 21 }, (_, i) => ({ ...variants[1], id: `v${i}`, isControl: i === 0, allocation: 100 / 21 })) },
      /^variants: /,
    ],
    [
      'a huge config',
      { variants: [{ ...variants[0], config: { blob: 'x'.repeat(20_000) } }, variants[1]] },
      /^variants\.0\.config: must be at most 16384 bytes/,
    ],
    ['endAt before startAt', { endAt: at(T0 - HOUR) }, /^endAt: must be after startAt/],
  ])('%s: 400 with the path', async (_what, overrides, message) => {
    const r = await api('POST', BASE, ACME.admin, definition({ flagKey: 'hostile', ...overrides }));
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(message);
  });

  it.each([
    ['a metric list without a primary', { metrics: [{ id: 'm', name: 'M', type: 'conversion', event: 'x' }] }, /^metrics: exactly one metric must be primary/],
    ['a bad status', { status: 'paused' }, /^status: /],
    ['a flag key (fixed at creation)', { flagKey: 'other' }, /^\(body\): Unrecognized key/],
    ['endAt before startAt', { endAt: at(T0 - HOUR) }, /^endAt: must be after startAt/],
    ['a name of the wrong type', { name: 42 }, /^name: /],
  ])('PATCH with %s: 400 with the path, nothing changed', async (_what, body, message) => {
    const [first] = (await api('GET', BASE, ACME.read)).body.abTests;
    const r = await api('PATCH', `${BASE}/${first.id}`, ACME.admin, body);
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(message);
    expect((await api('GET', `${BASE}/${first.id}`, ACME.read)).body.abTest).toEqual(first);
  });

  it('refuses prototype keys, a non-object body and a body over the limit without a 500', async () => {
    const proto = `{"name":"P","variants":[{"id":"a","name":"A","allocation":50,"isControl":true,"config":{"__proto__":{"x":1}}},{"id":"b","name":"B","allocation":50}],"metrics":[{"id":"m","name":"M","type":"conversion","isPrimary":true}]}`;
    const r = await api('POST', BASE, ACME.admin, proto);
    expect(r.status).toBe(400);
    const constructorKey = definition({ flagKey: 'ctor', variants: [{ ...variants[0], config: { constructor: 1 } }, variants[1]] });
    const c = await api('POST', BASE, ACME.admin, constructorKey);
    expect(c.status).toBe(400);
    expect(c.body.message).toMatch(/^variants\.0\.config\.constructor: /);
    expect((await api('POST', BASE, ACME.admin, '[1,2]')).status).toBe(400);
    expect((await api('POST', BASE, ACME.admin, 'null')).status).toBe(400);
    expect((await api('PATCH', `${BASE}/nope`, ACME.admin, { status: 'stopped' })).status).toBe(404);
    const huge = await api('POST', BASE, ACME.admin, definition({ name: 'x'.repeat(2 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect((await api('GET', BASE, ACME.read)).body.abTests.map((e: { flagKey: string }) => e.flagKey)).not.toContain('hostile');
  });
});
