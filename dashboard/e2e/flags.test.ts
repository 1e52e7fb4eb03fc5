/**
 * The feature flags and experiments screens in real Chromium, on a real service: the flags screen lists the
 * tenant's flags with their state and rollout (read token), asks for an admin token at the first change (a read
 * token given there is refused with a clear message and asked for again), turns a flag off and changes its rollout
 * through the flags API (each change a new version in the history), and leaves a flag declared in the config
 * read-only; the experiments screen lists the
 * tenant's experiments and shows the results API's numbers per variant, with the sample-ratio-mismatch warning
 * only where the exposures do not match the allocations. Another tenant's flags and experiments never show.
 */
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH } from '../../test/helpers/browser.ts';
import { type DashboardPage, openDashboard, signIn, textOf } from '../../test/helpers/dashboard.ts';
import { callApi, capture, exposure, T0 } from '../../test/helpers/experiments.ts';
import { startTestService, type TestService } from '../../test/helpers/service.ts';

const ACME = { write: 'wk_acme_flags', read: 'rt_acme_flags', admin: 'at_acme_flags' };
const GLOBEX = { write: 'wk_globex_flags', read: 'rt_globex_flags', admin: 'at_globex_flags' };
let svc: TestService;
let browser: Browser;
const pages: DashboardPage[] = [];
const eventually = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000 });
const api = (method: string, path: string, token: string, payload?: unknown) => callApi(svc.url, method, path, token, payload);
const ids: Record<string, string> = {};

const experiment = (name: string, flagKey: string) => ({
  name,
  status: 'running',
  flagKey,
  startAt: new Date(T0).toISOString(),
  variants: [
    { id: 'control', name: 'Control', allocation: 50, isControl: true },
    { id: 'treatment', name: 'Treatment', allocation: 50 },
  ],
  metrics: [{ id: 'purchase', name: 'Purchase', type: 'conversion', event: 'purchase', aggregation: 'rate', isPrimary: true }],
});

beforeAll(async () => {
  svc = await startTestService({
    tenants: [
      { id: 'acme', write_keys: [ACME.write], read_tokens: [ACME.read], admin_tokens: [ACME.admin] },
      { id: 'globex', write_keys: [GLOBEX.write], read_tokens: [GLOBEX.read], admin_tokens: [GLOBEX.admin] },
    ],
    flags: { acme: [{ key: 'from-config', name: 'From the config', rolloutPercentage: 20 }] },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
  expect((await api('POST', '/api/feature-flags/flags', ACME.admin, { key: 'new-checkout', name: 'New checkout', isEnabled: true })).status).toBe(201);
  expect((await api('POST', '/api/feature-flags/flags', GLOBEX.admin, { key: 'globex-only', name: 'Globex only', isEnabled: true })).status).toBe(201);
  // A balanced experiment with a planted lift (10% against 40%), and one whose exposures are 3 to 1 (an SRM).
  for (const [name, flag, perVariant] of [
    ['Balanced test', 'balanced', { control: 100, treatment: 100 }],
    ['Skewed test', 'skewed', { control: 150, treatment: 50 }],
  ] as const) {
    const created = await api('POST', '/api/feature-flags/ab-tests', ACME.admin, experiment(name, flag));
    expect(created.status).toBe(201);
    ids[flag] = created.body.abTest.id;
    const events = [];
    for (const [variant, n] of Object.entries(perVariant)) {
      for (let i = 0; i < n; i++) {
        const person = `${flag}-${variant}-${i}`;
        events.push(exposure(flag, person, variant, T0 + 60_000 + i));
        if (i < n * (variant === 'control' ? 0.1 : 0.4))
          events.push({ event: 'purchase', distinct_id: person, timestamp: new Date(T0 + 120_000 + i).toISOString() });
      }
    }
    await capture(svc.url, ACME.write, events);
  }
  expect((await api('POST', '/api/feature-flags/ab-tests', GLOBEX.admin, experiment('Globex test', 'globex-test'))).status).toBe(201);
});
afterAll(async () => {
  await browser?.close();
  await svc?.close();
});

async function screen(hash: string): Promise<Page> {
  const d = await openDashboard(browser, svc.url);
  pages.push(d);
  await signIn(d.page, ACME.read);
  await d.page.getByTestId('sign-out').waitFor();
  await d.page.goto(`${svc.url}/${hash}`);
  return d.page;
}

const flagRows = async (page: Page) =>
  Promise.all(
    (await page.getByTestId('flag').all()).map(async (r) => [
      await r.getAttribute('data-key'),
      await r.getAttribute('data-enabled'),
      await r.getAttribute('data-rollout'),
    ]),
  );

describe('feature flags screen', () => {
  it('lists only the tenant’s flags, with the read token', async () => {
    const page = await screen('#/flags');
    await page.getByTestId('flags').waitFor();
    const rows = await flagRows(page);
    expect(rows.map((r) => r[0]).sort()).toEqual(['balanced', 'from-config', 'new-checkout', 'skewed']);
    expect(rows).toContainEqual(['new-checkout', 'true', '100']);
    expect(rows).toContainEqual(['from-config', 'true', '20']);
  });

  it('asks for an admin token at the first change, refuses a read token, then turns a flag off and changes its rollout', async () => {
    const page = await screen('#/flags');
    await page.getByRole('link', { name: 'New checkout' }).click();
    const detail = page.getByTestId('flag-detail');
    await detail.waitFor();
    await page.getByLabel('Admin token').fill(ACME.read);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByTestId('flag-toggle').click();
    await eventually(() => textOf(page.getByTestId('error'))).toMatch(/this token was refused: .*Changes need an admin token/);
    // The refused token is dropped: the form is back, and nothing changed.
    await page.getByLabel('Admin token').waitFor();
    expect((await api('GET', '/api/feature-flags/flags/new-checkout', ACME.admin)).body.flag.version).toBe(1);

    await page.getByLabel('Admin token').fill(ACME.admin);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByTestId('flag-toggle').click();
    await eventually(() => detail.getAttribute('data-enabled')).toBe('false');
    await page.getByLabel('Rollout %').fill('30');
    await page.getByRole('button', { name: 'Save rollout' }).click();
    await eventually(() => detail.getAttribute('data-rollout')).toBe('30');
    const flag = (await api('GET', '/api/feature-flags/flags/new-checkout', ACME.admin)).body.flag;
    expect([flag.isEnabled, flag.rolloutPercentage, flag.version]).toEqual([false, 30, 3]);
    const history = await page.getByTestId('flag-version').all();
    expect(await Promise.all(history.map((r) => r.getAttribute('data-version')))).toEqual(['3', '2', '1']);
    expect(await Promise.all(history.map((r) => textOf(r.locator('td').nth(3))))).toEqual(['rollout 100% → 30%', 'turned off', 'created']);
    expect(await page.evaluate(() => Object.values(sessionStorage).sort())).toEqual([ACME.admin, ACME.read].sort());

    // A rollout out of range is refused by the form (0 to 100), and nothing changes.
    await page.getByLabel('Rollout %').fill('130');
    await page.getByRole('button', { name: 'Save rollout' }).click();
    expect(await page.getByLabel('Rollout %').evaluate((el) => (el as HTMLInputElement).validity.rangeOverflow)).toBe(true);
    expect((await api('GET', '/api/feature-flags/flags/new-checkout', ACME.admin)).body.flag.version).toBe(3);
  });

  it('shows a flag declared in the config as read-only', async () => {
    const page = await screen('#/flags?key=from-config');
    await page.getByTestId('flag-detail').waitFor();
    expect(await page.getByTestId('flag-toggle').count()).toBe(0);
    expect(await textOf(page.getByTestId('flag-detail'))).toContain('Declared in signalhouse.yaml');
  });
});

describe('experiments screen', () => {
  it('lists the tenant’s experiments only', async () => {
    const page = await screen('#/experiments');
    await page.getByTestId('experiments').waitFor();
    const rows = await page.getByTestId('experiment-row').all();
    expect((await Promise.all(rows.map((r) => r.getAttribute('data-id')))).sort()).toEqual([ids.balanced, ids.skewed].sort());
  });

  it('shows the results API’s numbers per variant, a significant planted lift and no SRM warning', async () => {
    const results = (await api('GET', `/api/feature-flags/ab-tests/${ids.balanced}/results`, ACME.read)).body;
    const page = await screen(`#/experiments?id=${ids.balanced}`);
    await page.getByTestId('experiment').waitFor();
    expect(await page.getByTestId('experiment').getAttribute('data-exposures')).toBe('200');
    expect(await page.getByTestId('srm-warning').count()).toBe(0);
    const variants = page.getByTestId('experiment-variant');
    expect(await variants.count()).toBe(2);
    const treatment = page.locator('[data-testid=experiment-variant][data-variant=treatment]');
    const fromApi = results.metrics[0].variants.find((v: { id: string }) => v.id === 'treatment');
    expect(Number(await treatment.getAttribute('data-exposures'))).toBe(fromApi.exposures);
    expect(Number(await treatment.getAttribute('data-lift'))).toBe(fromApi.lift.relative);
    expect(fromApi.lift.relative).toBeCloseTo(3, 5);
    expect(await textOf(treatment)).toContain('+300%');
    // Significant when the sequential interval (the one to read while a test runs) leaves out zero.
    const [lo, hi] = fromApi.lift.sequentialCi95;
    expect(await treatment.getAttribute('data-significant')).toBe(String(lo > 0 || hi < 0));
    expect(fromApi.lift.ci95[0]).toBeGreaterThan(0);
  });

  it('warns of a sample ratio mismatch', async () => {
    const page = await screen(`#/experiments?id=${ids.skewed}`);
    await page.getByTestId('experiment').waitFor();
    expect(await page.getByTestId('experiment').getAttribute('data-srm')).toBe('true');
    expect(await textOf(page.getByTestId('srm-warning'))).toMatch(
      /Sample ratio mismatch \(χ² 50, p < 0\.001\): exposures control 150 \(expected 100\), treatment 50 \(expected 100\) do not match the allocations\. Assignment/,
    );
  });

  it('never shows problems in the page', () => {
    expect(pages.flatMap((p) => p.problems)).toEqual([]);
  });
});
