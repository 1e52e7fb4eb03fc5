/**
 * `npm run ui:screenshots`: a PNG of every dashboard screen for docs/dashboard.md, in docs/images/. Starts a real
 * service on a temporary store, sends the tests' data sets through the real APIs (the catalog's metrics, web
 * analytics), builds the dashboard, signs in in headless Chromium and captures each screen (the overview in dark
 * mode too).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { buildDashboard } from '../dashboard/build.ts';
import { CHROMIUM_PATH } from './helpers/browser.ts';
import { loadCatalogData } from './helpers/catalog-data.ts';
import { ACME_KEY, startTestService } from './helpers/service.ts';
import { loadWebData } from './helpers/web-data.ts';

const OUT = join(import.meta.dirname, '..', 'docs', 'images');
mkdirSync(OUT, { recursive: true });

await buildDashboard();
const svc = await startTestService();
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
try {
  await loadCatalogData(svc);
  await loadWebData(svc);
  // Docs images stay under 100 KB: the densest screens are cut to their top part.
  const shoot = async (page: Page, name: string, height = 760) => {
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: join(OUT, `dashboard-${name}.png`), clip: { x: 0, y: 0, width: 1200, height } });
    process.stdout.write(`docs/images/dashboard-${name}.png\n`);
  };
  for (const scheme of ['light', 'dark'] as const) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 760 }, colorScheme: scheme });
    await page.goto(`${svc.url}/`);
    if (scheme === 'light') await shoot(page, 'signin');
    await page.getByLabel('Read token').fill('rt_acme_test_token');
    await page.keyboard.press('Enter');
    await page.getByTestId('metric').first().waitFor();
    await page.locator('[data-testid=metric-value]').first().waitFor();
    await shoot(page, scheme === 'light' ? 'overview' : 'overview-dark');
    if (scheme === 'dark') break;

    await page.goto(`${svc.url}/#/explorer?metric=voice.first_response_ms.p95&compare=1`);
    await page.getByTestId('range-value').waitFor();
    await shoot(page, 'explorer');

    await page.goto(`${svc.url}/#/funnels`);
    const steps = page.getByTestId('funnel-step-input');
    await steps.nth(0).fill('page');
    await steps.nth(1).fill('signup');
    await page.getByTestId('add-step').click();
    await steps.nth(2).fill('purchase');
    await page.getByTestId('run-funnel').click();
    await page.getByTestId('funnel-result').waitFor();
    await shoot(page, 'funnels');

    await page.goto(`${svc.url}/#/product`);
    await page.getByTestId('total-events').waitFor();
    await shoot(page, 'product', 600);

    await page.goto(`${svc.url}/#/people?id=user-1`);
    await page.getByTestId('person').waitFor();
    await shoot(page, 'people', 600);

    await page.goto(`${svc.url}/#/live`);
    await page.locator('[data-testid=live-status][data-state=live]').waitFor();
    for (const [i, name] of ['signup', 'page', 'kb.search', 'purchase'].entries()) {
      await fetch(`${svc.url}/api/v1/analytics/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ACME_KEY}` },
        body: JSON.stringify({
          event_name: name,
          user_id: `user-${i + 1}`,
          site_id: 'shop',
          attributes: { email: `person${i}@example.com`, 'kb.results_count': 2, 'kb.search_latency_ms': 80 },
          context: { page: { url: 'https://shop.example/checkout?token=abc', path: '/checkout' }, ip: '81.2.69.160' },
        }),
      });
    }
    await page.getByTestId('live-event').nth(3).waitFor();
    await page.getByTestId('live-event').first().locator('summary').click();
    await shoot(page, 'live');
  }
} finally {
  await browser.close();
  await svc.close();
}
