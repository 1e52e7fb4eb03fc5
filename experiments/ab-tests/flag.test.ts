/**
 * An experiment and its flag on a real service: the experiments API writes the experiment's multivariate flag to
 * the flag store (its variants, allocations and configs, on only while running), the flags API shows it with the
 * experiment change's actor in its history, the PostHog API's `/flags` assigns people to its variants by the
 * flag's own bucketing, and the exposures those people then report are what the results count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, AB_TESTS, at, callApi, capture, definition, EXPERIMENT_TENANTS, exposure, GLOBEX, T0 } from '../../test/helpers/experiments.ts';
import { startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ tenants: EXPERIMENT_TENANTS });
});
afterAll(async () => {
  await svc?.close();
});
const api = (method: string, path: string, token: string | undefined, payload?: unknown) => callApi(svc.url, method, path, token, payload);

/** The variant `/flags?v=2` gives a person for `flag` (false when the flag is off for them). */
async function variantOf(flag: string, person: string): Promise<unknown> {
  const res = await fetch(`${svc.url}/flags/?v=2`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: ACME.write, distinct_id: person }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { featureFlags: Record<string, unknown> };
  return body.featureFlags[flag];
}

describe('an experiment keeps its flag in the flag store', () => {
  it('creates the multivariate flag, serves its variants through /flags, and turns it off when stopped', async () => {
    const created = await api('POST', AB_TESTS, ACME.admin, definition({ flagKey: 'wired-button', name: 'Wired button' }));
    expect(created.status).toBe(201);
    const flag = await api('GET', '/api/feature-flags/flags/wired-button', ACME.admin);
    expect(flag.status).toBe(200);
    expect(flag.body.flag).toMatchObject({
      key: 'wired-button',
      name: 'Wired button',
      type: 'multivariate',
      isEnabled: true,
      rolloutPercentage: 100,
      version: 1,
      variants: [
        { key: 'control', rolloutPercentage: 50, payload: { color: 'grey' } },
        { key: 'treatment', rolloutPercentage: 50, payload: { color: 'green' } },
      ],
    });
    // Another tenant sees neither the experiment nor its flag.
    expect((await api('GET', '/api/feature-flags/flags/wired-button', GLOBEX.admin)).status).toBe(404);

    // People are split between the variants by the flag's bucketing, about half each, the same on every call.
    const people = Array.from({ length: 200 }, (_, i) => `wired-${i}`);
    const variants = await Promise.all(people.map((p) => variantOf('wired-button', p)));
    expect(new Set(variants)).toEqual(new Set(['control', 'treatment']));
    const treated = variants.filter((v) => v === 'treatment').length;
    expect(treated).toBeGreaterThan(70);
    expect(treated).toBeLessThan(130);
    expect(await variantOf('wired-button', people[0])).toBe(variants[0]);

    // The exposures those people report are the results' exposures, per variant.
    await capture(
      svc.url,
      ACME.write,
      people.map((p, i) => exposure('wired-button', p, String(variants[i]), T0 + 60_000 + i)),
    );
    const results = await api('GET', `${AB_TESTS}/${created.body.abTest.id}/results`, ACME.read);
    expect(results.status).toBe(200);
    const primary = results.body.metrics.find((m: { isPrimary: boolean }) => m.isPrimary);
    expect(Object.fromEntries(primary.variants.map((v: { id: string; exposures: number }) => [v.id, v.exposures]))).toEqual({
      control: 200 - treated,
      treatment: treated,
    });

    const stopped = await api('PATCH', `${AB_TESTS}/${created.body.abTest.id}`, ACME.admin, { status: 'stopped', endAt: at(Date.now()) });
    expect(stopped.status).toBe(200);
    const off = await api('GET', '/api/feature-flags/flags/wired-button', ACME.admin);
    expect([off.body.flag.isEnabled, off.body.flag.version]).toEqual([false, 2]);
    expect(await variantOf('wired-button', people[0])).toBe(false);
    const history = await api('GET', '/api/feature-flags/flags/wired-button/history', ACME.admin);
    expect(history.body.versions.map((v: { version: number; requestId: string }) => [v.version, v.requestId])).toEqual([
      [2, stopped.requestId],
      [1, created.requestId],
    ]);
  });

  it('refuses a flag key or variant id the flag store would not take, and stores nothing', async () => {
    for (const [body, message] of [
      [definition({ flagKey: 'has:colon' }), /^flagKey: a flag key is a letter/],
      [definition({ flagKey: '9lives' }), /^flagKey: a flag key is a letter/],
      [
        definition({
          flagKey: 'fine-key',
          variants: [
            { id: '1st', name: 'A', allocation: 50, isControl: true },
            { id: 'b', name: 'B', allocation: 50 },
          ],
        }),
        /^variants\.0\.id: a flag key is a letter/,
      ],
    ] as const) {
      const r = await api('POST', AB_TESTS, ACME.admin, body);
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(message);
    }
    expect((await api('GET', '/api/feature-flags/flags/fine-key', ACME.admin)).status).toBe(404);
  });

  it('derives a flag key that starts with a letter from a name that does not', async () => {
    const r = await api('POST', AB_TESTS, ACME.admin, definition({ name: '2026 pricing', flagKey: undefined }));
    expect(r.status).toBe(201);
    expect(r.body.abTest.flagKey).toBe('experiment-2026-pricing');
    expect((await api('GET', '/api/feature-flags/flags/experiment-2026-pricing', ACME.admin)).body.flag.type).toBe('multivariate');
  });
});
