/**
 * Serves the web tracker at `/sdk/signalhouse.js` and its module files (`/sdk/signalhouse.<module>.js`) from
 * `sdk/browser/dist` (built by `npm run build:sdk`, which `npm install` runs), with `@fastify/static`: brotli or
 * gzip from the precompressed files when the browser accepts them, ETag and Last-Modified for revalidation, an
 * hour of caching (the names carry no version: a release reaches browsers within the hour), and the headers a
 * page on any origin needs to load it as a classic script or an ES module import (`Access-Control-Allow-Origin:
 * *`, `Cross-Origin-Resource-Policy: cross-origin`, so pages with COEP can load it too).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

export const SDK_DIST = fileURLToPath(new URL('../sdk/browser/dist/', import.meta.url));

/** The scripts served: the core and its modules, nothing else from dist/. */
const SERVED = /^\/signalhouse(\.(autocapture|vitals|errors))?\.js$/;

export async function sdkRoutes(app: FastifyInstance): Promise<void> {
  if (!existsSync(`${SDK_DIST}signalhouse.js`)) app.log.warn('the web tracker is not built (sdk/browser/dist): run `npm run build:sdk`');
  await app.register(async (scope) => {
    // The current name for JavaScript (RFC 9239), also for the precompressed files, which the plugin types itself.
    scope.addHook('onSend', async (_request, reply, payload) => {
      if (String(reply.getHeader('content-type')).startsWith('application/javascript')) reply.header('content-type', 'text/javascript; charset=utf-8');
      return payload;
    });
    await scope.register(fastifyStatic, {
      root: SDK_DIST,
      prefix: '/sdk/',
      decorateReply: false,
      suppressWarning: true,
      index: false,
      list: false,
      preCompressed: true,
      maxAge: 3_600_000,
      allowedPath: (path) => SERVED.test(path),
      setHeaders(reply) {
        reply.header('access-control-allow-origin', '*');
        reply.header('cross-origin-resource-policy', 'cross-origin');
        reply.header('x-content-type-options', 'nosniff');
      },
    });
  });
}
