/**
 * The unmodified posthog-js in real Chromium reads our flags: its remote config says the tenant has flags, it
 * asks `/flags`, and `isFeatureEnabled`, `getFeatureFlag` and `getFeatureFlagPayload` answer what the server's
 * evaluate API answers for the same person; the `$feature_flag_called` events it sends are stored.
 */
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BrowserSite, startBrowserSite } from '../../test/helpers/browser.ts';
import { startTestService, type TestService } from '../../test/helpers/service.ts';

const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const KEY = 'wk_acme_browser_flags';
const ADMIN = 'at_acme_browser_flags';
const PERSON = 'browser-person-7';

let svc: TestService;
let site: BrowserSite;

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${svc.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};

beforeAll(async () => {
  svc = await startTestService({
    receivers: { posthog: {} },
    tenants: [{ id: 'acme', write_keys: [KEY], read_tokens: ['rt_acme_browser_flags'], admin_tokens: [ADMIN] }],
  });
  const flags = [
    { key: 'new-checkout', rolloutPercentage: 100, payload: { color: 'green' } },
    {
      key: 'pricing-test',
      type: 'multivariate',
      variants: [
        { key: 'control', rolloutPercentage: 50, payload: { price: 10 } },
        { key: 'cheaper', rolloutPercentage: 50, payload: { price: 8 } },
      ],
    },
    { key: 'premium-only', conditions: [{ properties: [{ key: 'plan', value: 'premium' }] }] },
  ];
  for (const f of flags) expect((await api('POST', '/api/feature-flags/flags', f)).status).toBe(201);
  const bundle = await build({
    stdin: { contents: "import posthog from 'posthog-js'; window.posthog = posthog;", resolveDir: process.cwd() },
    bundle: true,
    format: 'iife',
    write: false,
    logLevel: 'silent',
  });
  site = await startBrowserSite({ '/posthog.js': { type: 'text/javascript', body: Buffer.from(bundle.outputFiles[0].contents) } });
  const init = JSON.stringify({ api_host: svc.url, bootstrap: { distinctID: PERSON, isIdentifiedID: true }, autocapture: false });
  site.serve('/', {
    type: 'text/html',
    body: `<!doctype html><title>Shop</title><script src="/posthog.js"></script><script>
window.flagsLoaded = new Promise((resolve) => { window.resolveFlags = resolve; });
posthog.init(${JSON.stringify(KEY)}, ${init});
posthog.onFeatureFlags(() => window.resolveFlags());
</script>`,
  });
}, 120_000);
afterAll(async () => {
  await site?.close();
  await svc?.close();
});

it('posthog-js sees the flags, variants and payloads the server gives that person', async () => {
  const context = await site.browser.newContext({ userAgent: USER_AGENT });
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false });
  });
  const page = await context.newPage();
  const paths: string[] = [];
  page.on('request', (r) => {
    if (r.url().startsWith(svc.url)) paths.push(new URL(r.url()).pathname);
  });
  try {
    await page.goto(site.origin);
    await page.waitForFunction(() => (window as unknown as { flagsLoaded: Promise<void> }).flagsLoaded.then(() => true), undefined, { timeout: 30_000 });
    const seen = await page.evaluate(() => {
      const ph = (window as unknown as { posthog: Record<string, (...a: unknown[]) => unknown> }).posthog;
      return {
        checkout: ph.isFeatureEnabled('new-checkout'),
        checkoutPayload: ph.getFeatureFlagPayload('new-checkout'),
        pricing: ph.getFeatureFlag('pricing-test'),
        pricingPayload: ph.getFeatureFlagPayload('pricing-test'),
        premium: ph.isFeatureEnabled('premium-only'),
      };
    });
    const server = (await api('POST', '/api/feature-flags/flags/pricing-test/evaluate', { userId: PERSON })).json;
    expect(seen).toEqual({
      checkout: true,
      checkoutPayload: { color: 'green' },
      pricing: server.variant,
      pricingPayload: server.payload,
      premium: false,
    });
    expect(paths.some((p) => p.startsWith('/flags'))).toBe(true);
    const config = await (await fetch(`${svc.url}/array/${KEY}/config`)).json();
    expect(config).toMatchObject({ hasFeatureFlags: true });
    // posthog-js reports the flags it read as $feature_flag_called events.
    await page.evaluate(() => (window as unknown as { posthog: { flush?: () => void } }).posthog.flush?.());
    const deadline = Date.now() + 30_000;
    let rows: Array<{ flag: string }> = [];
    while (Date.now() < deadline) {
      rows = await svc.rows<{ flag: string }>(
        "SELECT LogAttributes['$feature_flag'] AS flag FROM signalhouse.otel_logs WHERE EventName = '$feature_flag_called' AND UserId = {p:String} AND ScopeName = 'signalhouse/posthog' AND LogAttributes['library.name'] = 'web'",
        { p: PERSON },
      );
      if (rows.length >= 3) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(rows.map((r) => r.flag).sort()).toEqual(['new-checkout', 'premium-only', 'pricing-test']);
  } finally {
    await context.close();
  }
}, 90_000);
