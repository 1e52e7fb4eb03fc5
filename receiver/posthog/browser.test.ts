/**
 * The unmodified posthog-js in real Chromium, on a site served from another origin than Signalhouse, given only
 * `api_host`: the npm module bundled with esbuild, as a site's build does. It loads its remote config
 * (config.js, or the JSON when it may load no scripts), captures `$pageview`, an autocaptured click, a custom
 * event and `$identify`, and flushes what is queued with sendBeacon when the page is left; every event lands
 * under the key's tenant with posthog-js's session id, the page URL and, after identify, the user id. Every
 * request posthog-js sends to Signalhouse must succeed.
 *
 * posthog-js drops every event of a browser that looks automated (a `HeadlessChrome` user agent,
 * `navigator.webdriver`), so the browser presents itself as a user's Chrome instead of posthog-js being
 * configured off its defaults.
 */
import { build } from 'esbuild';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserSite, startBrowserSite } from '../../test/helpers/browser.ts';
import { ACME_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const WAIT_MS = 30_000;

let svc: TestService;
let site: BrowserSite;

beforeAll(async () => {
  // URLs are stored whole here (the redact processor keeps only their path by default), to compare with the page's.
  svc = await startTestService({ processors: { redact: { url_attributes: [] } } });
  const bundle = await build({
    stdin: { contents: "import posthog from 'posthog-js'; window.posthog = posthog;", resolveDir: process.cwd() },
    bundle: true,
    format: 'iife',
    write: false,
    logLevel: 'silent',
  });
  site = await startBrowserSite({ '/posthog.js': { type: 'text/javascript', body: Buffer.from(bundle.outputFiles[0].contents) } });
  site.serve('/thanks', { type: 'text/html', body: '<!doctype html><title>Thanks</title>' });
}, 120_000);
afterAll(async () => {
  await site?.close();
  await svc?.close();
});

/** A page of the site that loads posthog-js and calls `posthog.init(key, options)`; `api_host` is the server. */
function servePage(path: string, options: Record<string, unknown> = {}) {
  const init = JSON.stringify({ api_host: svc.url, ...options });
  site.serve(path, {
    type: 'text/html',
    body: `<!doctype html><title>Shop</title><button id="buy">Buy now</button><a id="done" href="/thanks">Done</a>
<script src="/posthog.js"></script><script>posthog.init(${JSON.stringify(ACME_KEY)}, ${init});</script>`,
  });
}

/**
 * A browser profile of its own (no posthog-js state from another test), looking like a user's Chrome. Each
 * `navigator.sendBeacon` call is also noted in the tab's sessionStorage (Playwright does not report beacons sent
 * while a page unloads), then made as it was.
 */
async function openContext(): Promise<BrowserContext> {
  const context = await site.browser.newContext({ userAgent: USER_AGENT });
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false });
    const send = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = (url, data) => {
      const queued = send(url, data);
      const beacons = JSON.parse(sessionStorage.getItem('beacons') ?? '[]') as unknown[];
      beacons.push({ url: String(url), type: data instanceof Blob ? data.type : typeof data, queued });
      sessionStorage.setItem('beacons', JSON.stringify(beacons));
      return queued;
    };
  });
  return context;
}
/** The beacons the tab has sent, with their URL's path and query, after Signalhouse's origin. */
const beaconsOf = async (page: Page) =>
  (await page.evaluate(() => JSON.parse(sessionStorage.getItem('beacons') ?? '[]') as Array<{ url: string; type: string; queued: boolean }>)).map((b) => ({
    ...b,
    url: b.url.startsWith(svc.url) ? b.url.slice(svc.url.length) : b.url,
  }));

interface Sent {
  method: string;
  path: string;
  contentType: string;
}
/** Every request the page sends to Signalhouse, and every one that failed (network, CORS) or got no 2xx. */
function watch(page: Page) {
  const sent: Sent[] = [];
  const failed: string[] = [];
  const toServer = (r: Request) => r.url().startsWith(svc.url);
  const describe = (r: Request) => `${r.method()} ${r.url().slice(svc.url.length)}`;
  page.on('request', (r) => {
    if (!toServer(r)) return;
    const url = new URL(r.url());
    sent.push({ method: r.method(), path: url.pathname + url.search, contentType: r.headers()['content-type'] ?? '' });
  });
  page.on('requestfailed', (r) => {
    if (toServer(r)) failed.push(`${describe(r)}: ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (toServer(r.request()) && r.status() >= 300) failed.push(`${describe(r.request())}: ${r.status()}`);
  });
  return { sent, failed };
}

interface Row {
  EventName: string;
  TenantId: string;
  SessionId: string;
  UserId: string;
  AnonymousId: string;
  LogAttributes: Record<string, string>;
}
/** The posthog events of a session, once `names` are all stored (bounded wait). */
async function sessionEvents(sessionId: string, names: readonly string[]): Promise<Row[]> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const rows = await svc.rows<Row>(
      `SELECT EventName, TenantId, SessionId, UserId, AnonymousId, LogAttributes FROM signalhouse.otel_logs
       WHERE ScopeName = 'signalhouse/posthog' AND SessionId = {s:String} ORDER BY Timestamp`,
      { s: sessionId },
    );
    if (names.every((n) => rows.some((r) => r.EventName === n)) || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
const named = (rows: Row[], name: string) => rows.filter((r) => r.EventName === name);

describe('posthog-js with only api_host', () => {
  let context: BrowserContext;
  let page: Page;
  let requests: ReturnType<typeof watch>;
  let sessionId: string;
  let deviceId: string;

  beforeAll(async () => {
    servePage('/');
    context = await openContext();
    page = await context.newPage();
    requests = watch(page);
    await page.goto(`${site.origin}/`);
    await page.waitForFunction(() => (window as unknown as { posthog: { __loaded: boolean } }).posthog.__loaded);
    [sessionId, deviceId] = await page.evaluate(() => {
      const ph = (window as unknown as { posthog: { get_session_id(): string; get_distinct_id(): string } }).posthog;
      return [ph.get_session_id(), ph.get_distinct_id()];
    });
  }, 60_000);
  afterAll(async () => {
    await context?.close();
  });

  it('loads its remote config from config.js and stores the $pageview under the key’s tenant, with its session', async () => {
    const [pageview] = named(await sessionEvents(sessionId, ['$pageview']), '$pageview');
    expect(pageview).toMatchObject({ TenantId: 'acme', SessionId: sessionId, UserId: '', AnonymousId: deviceId });
    expect(pageview.LogAttributes).toMatchObject({
      'url.full': `${site.origin}/`,
      'url.path': '/',
      'page.title': 'Shop',
      'page.referrer': '$direct',
      'user_agent.original': USER_AGENT,
      'library.name': 'web',
      $device_id: deviceId,
    });
    expect(requests.sent.map((r) => `${r.method} ${r.path}`)).toContain(`GET /array/${ACME_KEY}/config.js`);
  });

  it('autocaptures a click on a button, with its element chain', async () => {
    await page.click('#buy');
    const [click] = named(await sessionEvents(sessionId, ['$autocapture']), '$autocapture');
    expect(click).toMatchObject({ TenantId: 'acme', SessionId: sessionId, AnonymousId: deviceId });
    expect(click.LogAttributes).toMatchObject({ $event_type: 'click', $el_text: 'Buy now', 'url.full': `${site.origin}/` });
    expect(click.LogAttributes.$elements_chain).toMatch(/^button:.*attr__id="buy".*text="Buy now"/);
  });

  it('stores a custom event with its properties, sent gzipped as text/plain (no preflight), as the config offers', async () => {
    await page.evaluate(() =>
      (window as unknown as { posthog: { capture(n: string, p: object): void } }).posthog.capture('checkout started', { plan: 'pro', amount: 42 }),
    );
    const [custom] = named(await sessionEvents(sessionId, ['checkout started']), 'checkout started');
    expect(custom).toMatchObject({ TenantId: 'acme', SessionId: sessionId, UserId: '', AnonymousId: deviceId });
    expect(custom.LogAttributes).toMatchObject({ plan: 'pro', amount: '42', 'url.full': `${site.origin}/` });
    const captures = requests.sent.filter((r) => r.path.startsWith('/e/'));
    expect(captures.length).toBeGreaterThan(0);
    expect(new Set(captures.map((r) => `${r.method} ${r.path} ${r.contentType}`))).toEqual(new Set(['POST /e/ text/plain']));
  });

  it('stores $identify linking the anonymous id to the user, whose id the next events carry', async () => {
    await page.evaluate(() => {
      const ph = (window as unknown as { posthog: { identify(id: string, set: object): void; capture(n: string): void } }).posthog;
      ph.identify('user-1', { plan: 'team' });
      ph.capture('after identify');
    });
    const rows = await sessionEvents(sessionId, ['$identify', 'after identify']);
    expect(named(rows, '$identify')).toEqual([expect.objectContaining({ TenantId: 'acme', SessionId: sessionId, UserId: 'user-1', AnonymousId: deviceId })]);
    expect(named(rows, '$identify')[0].LogAttributes).toMatchObject({ 'traits.plan': 'team' });
    expect(named(rows, 'after identify')).toEqual([expect.objectContaining({ SessionId: sessionId, UserId: 'user-1', AnonymousId: deviceId })]);
    const links = await svc.rows('SELECT TenantId, AnonymousId, UserId FROM signalhouse.identity_links WHERE AnonymousId = {a:String}', { a: deviceId });
    expect(links).toEqual([{ TenantId: 'acme', AnonymousId: deviceId, UserId: 'user-1' }]);
  });

  it('sends what is queued with sendBeacon when the page is left', async () => {
    await Promise.all([
      page.waitForURL(`${site.origin}/thanks`),
      page.evaluate(() => {
        (window as unknown as { posthog: { capture(n: string): void } }).posthog.capture('leaving');
        location.href = '/thanks';
      }),
    ]);
    const [leaving] = named(await sessionEvents(sessionId, ['leaving']), 'leaving');
    expect(leaving).toMatchObject({ TenantId: 'acme', SessionId: sessionId, UserId: 'user-1' });
    expect(await beaconsOf(page)).toEqual([{ url: '/e/', type: 'text/plain', queued: true }]);
  });

  it('got a 2xx for every request it sent', () => {
    expect(requests.sent.length).toBeGreaterThan(0);
    expect(requests.failed).toEqual([]);
  });
});

describe('posthog-js without compression and external scripts', () => {
  // `disable_compression` sends JSON (a preflighted request) and beacons of base64 forms;
  // `disable_external_dependency_loading` makes posthog-js read the JSON remote config instead of config.js.
  it('reads the JSON config, sends preflighted JSON and a base64 beacon, and every event lands', async () => {
    servePage('/plain', { disable_compression: true, disable_external_dependency_loading: true });
    const context = await openContext();
    try {
      const page = await context.newPage();
      const requests = watch(page);
      await page.goto(`${site.origin}/plain`);
      await page.waitForFunction(() => (window as unknown as { posthog: { __loaded: boolean } }).posthog.__loaded);
      const sessionId = await page.evaluate(() => (window as unknown as { posthog: { get_session_id(): string } }).posthog.get_session_id());
      // Stored before the page is left: sent by fetch, as JSON.
      expect(named(await sessionEvents(sessionId, ['$pageview']), '$pageview')).toHaveLength(1);
      await page.click('#buy');
      await Promise.all([
        page.waitForURL(`${site.origin}/thanks`),
        page.evaluate(() => {
          (window as unknown as { posthog: { capture(n: string): void } }).posthog.capture('plain leaving');
          location.href = '/thanks';
        }),
      ]);
      const rows = await sessionEvents(sessionId, ['$pageview', '$autocapture', 'plain leaving']);
      expect(rows.map((r) => r.EventName).sort()).toEqual(['$autocapture', '$pageview', 'plain leaving']);
      expect(rows.every((r) => r.TenantId === 'acme' && r.SessionId === sessionId)).toBe(true);

      const paths = requests.sent.map((r) => `${r.method} ${r.path}`);
      expect(paths).toContain(`GET /array/${ACME_KEY}/config`);
      expect(paths).not.toContain(`GET /array/${ACME_KEY}/config.js`);
      expect(requests.sent.filter((r) => r.path.startsWith('/e/')).map((r) => r.contentType)).toContain('application/json');
      expect(await beaconsOf(page)).toEqual([{ url: '/e/?compression=base64', type: 'application/x-www-form-urlencoded', queued: true }]);
      expect(requests.failed).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);
});
