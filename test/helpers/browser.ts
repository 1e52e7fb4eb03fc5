/**
 * Real headless Chromium (Debian's `chromium`, driven by playwright-core) and a customer's site to load in it: an
 * HTTP server on another loopback port than Signalhouse, which makes it another origin, as a real site is.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A file the site serves: its content type and body. */
export interface SiteFile {
  readonly type: string;
  readonly body: string | Buffer;
}

export interface BrowserSite {
  readonly browser: Browser;
  /** The site's origin, e.g. `http://127.0.0.1:40123`. */
  readonly origin: string;
  /** Adds or replaces a file the site serves at `path` (e.g. `/index.html`). */
  serve(path: string, file: SiteFile): void;
  close(): Promise<void>;
}

const EMPTY_PAGE: SiteFile = { type: 'text/html', body: '<!doctype html><title>site</title>' };

/** Starts Chromium and the site; `/` serves an empty page until replaced. Unknown paths answer 404. */
export async function startBrowserSite(files: Record<string, SiteFile> = {}): Promise<BrowserSite> {
  const served = new Map<string, SiteFile>(Object.entries({ '/': EMPTY_PAGE, ...files }));
  const site: Server = createServer((req, res) => {
    const file = served.get(new URL(req.url ?? '/', 'http://site').pathname);
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
  return {
    browser,
    origin,
    serve: (path, file) => void served.set(path, file),
    async close() {
      await browser.close();
      await new Promise((resolve) => site.close(resolve));
    },
  };
}
