/**
 * The built-in dashboard at `/`: the files `npm run build:dashboard` writes to dashboard/dist (index.html and
 * content-hashed assets), served with @fastify/static. index.html is revalidated on every load, so a new build
 * shows at once; the hashed assets are immutable and cached for a year. Gzip and brotli copies made by the build
 * go to clients that accept them. A Content-Security-Policy lets the page load only its own script and style
 * and talk only to this server (the public HTTP API, with the read token the user signs in with). Without a build
 * (a checkout where `npm install` has not run), `/` says how to make one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/dist/', import.meta.url));

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

export const NOT_BUILT_MESSAGE = 'The Signalhouse dashboard is not built. Run `npm run build:dashboard` (npm install runs it too), then restart Signalhouse.\n';

export async function dashboardRoutes(app: FastifyInstance, opts: { dir?: string } = {}): Promise<void> {
  const dir = opts.dir ?? DASHBOARD_DIR;
  if (!existsSync(join(dir, 'index.html'))) {
    app.get('/', async (_request, reply) => reply.code(503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(NOT_BUILT_MESSAGE));
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    // One route per file found at start (and `/` for index.html): other paths stay with the API's 404.
    wildcard: false,
    globIgnore: ['**/*.gz', '**/*.br'],
    preCompressed: true,
    cacheControl: false,
    setHeaders(reply: FastifyReply, path: string) {
      // `path` is the file sent: a compressed copy's ends in .gz or .br.
      if (/\.html(\.gz|\.br)?$/.test(path)) {
        reply.headers(PAGE_HEADERS);
        reply.header('cache-control', 'no-cache');
      } else {
        reply.header('x-content-type-options', 'nosniff');
        reply.header('cache-control', 'public, max-age=31536000, immutable');
      }
    },
  });
}
