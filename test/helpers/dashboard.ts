/**
 * Driving the built-in dashboard in real Chromium: a page on the service's own origin (it serves the dashboard),
 * signed in through the form with a read token, and what its screens show read from the DOM (data attributes on
 * the rendered values, never pixels). Each page records script errors and Content-Security-Policy violations, so
 * a test can check there were none.
 */
import type { Browser, Locator, Page } from 'playwright-core';

export interface DashboardPage {
  readonly page: Page;
  /** Uncaught script errors and CSP violations so far. */
  readonly problems: string[];
  /** Every URL the page requested. */
  readonly requested: string[];
}

export async function openDashboard(browser: Browser, url: string, colorScheme: 'light' | 'dark' = 'light'): Promise<DashboardPage> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme });
  const problems: string[] = [];
  const requested: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('request', (r) => requested.push(r.url()));
  await page.exposeFunction('reportCspViolation', (v: string) => problems.push(`CSP violation: ${v}`));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      (window as unknown as { reportCspViolation(v: string): void }).reportCspViolation(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  await page.goto(`${url}/`);
  return { page, problems, requested };
}

/** Types the token into the sign-in form and presses Enter, as a user would. */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Read token').fill(token);
  await page.getByLabel('Read token').press('Enter');
}

/** Waits until the screen shows its numbers for the range on screen: no scope line is busy any more. */
export async function settled(page: Page, timeout = 20_000): Promise<void> {
  await page.waitForFunction(
    () => document.querySelector('[data-testid=scope]') !== null && document.querySelector('[data-testid=scope][data-busy=true]') === null,
    null,
    { timeout },
  );
}

/** The range and site a screen says it shows. */
export async function scopeOf(page: Page): Promise<{ from: number; to: number; site: string }> {
  const scope = page.getByTestId('scope').first();
  await scope.waitFor();
  return {
    from: Number(await scope.getAttribute('data-from')),
    to: Number(await scope.getAttribute('data-to')),
    site: (await scope.getAttribute('data-site')) ?? '',
  };
}

/** The text a user reads in an element: its text with runs of white space as one space. */
export const textOf = async (l: Locator) => ((await l.textContent()) ?? '').replace(/\s+/g, ' ').trim();

/** A `data-value` as the API gives it: a number, or null for an empty one. */
export const numberOf = (text: string | null) => (text === null || text === '' ? null : Number(text));

/** POSTs to the query API with a read token and returns the JSON body. */
export async function api<T = Record<string, unknown>>(url: string, path: string, body: unknown, token = 'rt_acme_test_token'): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
