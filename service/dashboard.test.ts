/**
 * Serving the dashboard's build (made by the test run's global setup): index.html at `/` with its
 * Content-Security-Policy and revalidation, hashed assets cached as immutable and sent compressed when asked,
 * other paths left to the API; and a clear message at `/` when there is no build.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP, DASHBOARD_DIR, dashboardRoutes } from './dashboard.ts';

const empty = mkdtempSync(join(tmpdir(), 'signalhouse-no-dashboard-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

async function serve(dir: string) {
  const app = Fastify();
  await app.register(dashboardRoutes, { dir });
  return app;
}

describe('the dashboard at /', () => {
  it('serves index.html with a CSP, revalidated on every load, and its hashed assets as immutable', async () => {
    const app = await serve(DASHBOARD_DIR);
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const js = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(page.body)?.[1];
    const css = /href="(\/assets\/app-[A-Z0-9]+\.css)"/.exec(page.body)?.[1];
    expect(js).toBeDefined();
    expect(css).toBeDefined();
    for (const [path, type] of [
      [js!, /javascript/],
      [css!, /^text\/css/],
    ] as const) {
      const asset = await app.inject({ url: path });
      expect(asset.statusCode, path).toBe(200);
      expect(asset.headers['content-type']).toMatch(type);
      expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      const br = await app.inject({ url: path, headers: { 'accept-encoding': 'br, gzip' } });
      expect(br.headers['content-encoding']).toBe('br');
      expect(Number(br.headers['content-length'])).toBeLessThan(Number(asset.headers['content-length']));
    }
    const gzipped = await app.inject({ url: '/', headers: { 'accept-encoding': 'gzip' } });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect((await app.inject({ url: '/assets/missing.js' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/../package.json' })).statusCode).toBe(404);
    await app.close();
  });

  it('says how to build it when there is no build', async () => {
    const app = await serve(empty);
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('npm run build:dashboard');
    await app.close();
  });
});
