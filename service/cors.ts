/**
 * CORS, with `@fastify/cors`, per kind of route. Ingest paths answer any origin: write keys are public, browsers
 * send them from customers' pages, and the key's tenant decides whether the page's origin may send
 * (`tenants[].allowed_origins`, checked when the key is read). The query API answers only the origins in
 * `service.http.query_allowed_origins` (none by default: a read token is a secret). Operational paths (health,
 * metrics) answer no CORS at all. Preflights are answered for a day (browsers cap it lower), and a page may read
 * `Retry-After` and `X-Request-Id`, so a tracker can honour the one and report the other. A route with
 * parameters (`/v1/projects/:writeKey/settings`) is matched by its pattern, so that its preflights, which reach
 * the CORS plugin's own `OPTIONS *` route, are answered as its requests are.
 */
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';

export type CorsKind = 'ingest' | 'query';

export interface CorsRoutes {
  /** Registers `plugin`, recording its routes' paths as `kind`. */
  register<O extends object>(kind: CorsKind, plugin: FastifyPluginAsync<O>, options: O): Promise<void>;
}

const BASE = { methods: ['GET', 'POST', 'OPTIONS'], exposedHeaders: ['retry-after', 'x-request-id'], maxAge: 86_400, credentials: false };
// Built once: the delegator runs for every request.
const ALLOW = { ...BASE, origin: true };
const DENY = { ...BASE, origin: false };

/** A route pattern's path parameters (`:name`) as one path segment each; the rest matched literally. */
function patternOf(url: string): RegExp {
  const source = url
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

export async function installCors(app: FastifyInstance, queryAllowedOrigins: readonly string[]): Promise<CorsRoutes> {
  const kinds = new Map<string, CorsKind>();
  // Routes with parameters, by pattern (GET and its HEAD share one), tried only when no exact path matches.
  const patterns = new Map<string, { pattern: RegExp; kind: CorsKind }>();
  const queryOrigins = new Set(queryAllowedOrigins);
  const pathOf = (request: FastifyRequest) => {
    const q = request.url.indexOf('?');
    return q < 0 ? request.url : request.url.slice(0, q);
  };
  const kindOf = (path: string) => {
    const kind = kinds.get(path);
    if (kind !== undefined) return kind;
    for (const p of patterns.values()) if (p.pattern.test(path)) return p.kind;
    return undefined;
  };
  await app.register(cors, {
    delegator(request, callback) {
      const kind = kindOf(pathOf(request as FastifyRequest));
      const origin = request.headers.origin;
      const allowed = kind === 'ingest' || (kind === 'query' && origin !== undefined && queryOrigins.has(origin));
      callback(null, allowed ? ALLOW : DENY);
    },
  });
  return {
    async register(kind, plugin, options) {
      await app.register(async (scope) => {
        scope.addHook('onRoute', (route) => {
          if (route.url.includes('/:')) patterns.set(route.url, { pattern: patternOf(route.url), kind });
          else kinds.set(route.url, kind);
        });
        await scope.register(plugin, options);
      });
    },
  };
}
