/**
 * What the tracker's browser tests share: one service and one Chromium site per file with a fresh browser context
 * per test, a page of the customer's site (another origin than Signalhouse) that loads the tracker from
 * `/sdk/signalhouse.js` with the snippet, the requests the page sends to Signalhouse, and a bounded wait for
 * stored rows.
 */
import type { BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { snippet } from '../../sdk/browser/src/snippet.ts';
import type { TrackerOptions } from '../../sdk/browser/src/types.ts';
import { type BrowserSite, startBrowserSite } from './browser.ts';
import { ACME_KEY, startTestService, type TestService } from './service.ts';

export interface TrackerWorld {
  readonly svc: TestService;
  readonly site: BrowserSite;
  /** A fresh browser context for each test (its own storage, cookies and network routes). */
  readonly context: BrowserContext;
}

/** Registers the file's hooks: the service and the site for the whole file, a new browser context per test. */
export function trackerWorld(): TrackerWorld {
  const world = {} as { svc: TestService; site: BrowserSite; context: BrowserContext };
  beforeAll(async () => {
    world.svc = await startTestService();
    world.site = await startBrowserSite();
  }, 120_000);
  afterAll(async () => {
    await world.site?.close();
    await world.svc?.close();
  });
  beforeEach(async () => {
    world.context = await world.site.browser.newContext();
  });
  afterEach(async () => {
    await world.context?.close();
  });
  return world;
}

export interface PageSpec {
  /** Served at this path of the site (default `/`). */
  path?: string;
  title?: string;
  options?: TrackerOptions;
  /** Script run after `init` in the page's head (the stub queues its calls until the tracker has loaded). */
  head?: string;
  body?: string;
  /** false: the page loads the tracker but does not call `init`. */
  init?: boolean;
}

export function trackerHtml(svc: TestService, spec: PageSpec = {}): string {
  const init = spec.init === false ? '' : `signalhouse.init(${JSON.stringify(ACME_KEY)}, ${JSON.stringify({ host: svc.url, ...spec.options })});`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>${spec.title ?? 'Shop'}</title>
<script>${snippet(`${svc.url}/sdk/signalhouse.js`)}
${init}
${spec.head ?? ''}</script></head><body>${spec.body ?? '<main><h1>Shop</h1></main>'}</body></html>`;
}

/** Serves the page on the site and opens it in `context` (a fresh one per test keeps storage apart). */
export async function openTrackerPage(site: BrowserSite, svc: TestService, context: BrowserContext, spec: PageSpec = {}): Promise<Page> {
  const path = spec.path ?? '/';
  site.serve(path, { type: 'text/html', body: trackerHtml(svc, spec) });
  const page = await context.newPage();
  await page.goto(`${site.origin}${path}`);
  await page.waitForFunction(() => (window as unknown as { signalhouse?: { _m?: unknown } }).signalhouse?._m !== undefined);
  return page;
}

/** Every request the context sends to Signalhouse (scripts and batches), as they leave the browser. */
export function requestsTo(context: BrowserContext, svc: TestService): Request[] {
  const seen: Request[] = [];
  context.on('request', (r) => {
    if (r.url().startsWith(svc.url)) seen.push(r);
  });
  return seen;
}

/** The events of the batches among `requests`, in the order they were sent. */
export function sentEvents(requests: readonly Request[]): Array<Record<string, unknown>> {
  return requests.filter((r) => r.method() === 'POST').flatMap((r) => (JSON.parse(r.postData() ?? '{}').events ?? []) as Array<Record<string, unknown>>);
}

export type TrackerRow = {
  EventId: string;
  EventName: string;
  UserId: string;
  AnonymousId: string;
  SessionId: string;
  LogAttributes: Record<string, string>;
};

/** The tenant's rows matching `where` (bound `params`), polled until `count` are there (bounded wait). */
export async function waitForRows(svc: TestService, where: string, params: Record<string, unknown>, count: number, timeout = 30_000): Promise<TrackerRow[]> {
  const read = () =>
    svc.rows<TrackerRow>(
      `SELECT EventId, EventName, UserId, AnonymousId, SessionId, LogAttributes FROM signalhouse.otel_logs
       WHERE TenantId = 'acme' AND ScopeName = 'signalhouse/tracker' AND ${where} ORDER BY Timestamp, EventId`,
      params,
    );
  await expect.poll(async () => (await read()).length, { timeout, interval: 200 }).toBeGreaterThanOrEqual(count);
  return read();
}
