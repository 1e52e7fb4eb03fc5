/**
 * CORS, with `@fastify/cors`, per kind of route. Ingest paths answer any origin: write keys are public, browsers
 * send them from customers' pages, and the key's tenant decides whether the page's origin may send
 * (`tenants[].allowed_origins`, checked when the key is read). The query API answers only the origins in
 * `service.http.query_allowed_origins` (none by default: a read token is a secret). Operational paths (health,
 * metrics) answer no CORS at all. Preflights are answered for a day (browsers cap it lower), and a page may read
 * `Retry-After`, `X-Request-Id` and `X-RateLimit-*`, so a tracker can honour, report and pace by them.
 */
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';

export type CorsKind = 'ingest' | 'query';

export interface CorsRoutes {
  /** Registers `plugin`, recording its routes' paths as `kind`. */
  register<O extends object>(kind: CorsKind, plugin: FastifyPluginAsync<O>, options: O): Promise<void>;
}

const BASE = {
  methods: ['GET', 'POST', 'OPTIONS'],
  exposedHeaders: ['retry-after', 'x-request-id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
  maxAge: 86_400,
  credentials: false,
};
// Built once: the delegator runs for every request.
const ALLOW = { ...BASE, origin: true };
const DENY = { ...BASE, origin: false };

/** A route path with parameters or a wildcard (`/projects/:key/settings`, `/array/*`) as a pattern of the paths it serves. */
function pathPattern(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

export async function installCors(app: FastifyInstance, queryAllowedOrigins: readonly string[]): Promise<CorsRoutes> {
  // Paths without parameters by exact match; the few with parameters or a wildcard (a key in the path) by pattern.
  const kinds = new Map<string, CorsKind>();
  // By route path, so that GET and its HEAD share one pattern.
  const patterns = new Map<string, [RegExp, CorsKind]>();
  const queryOrigins = new Set(queryAllowedOrigins);
  const kindOf = (request: FastifyRequest): CorsKind | undefined => {
    const q = request.url.indexOf('?');
    const path = q < 0 ? request.url : request.url.slice(0, q);
    const kind = kinds.get(path);
    if (kind !== undefined || patterns.size === 0) return kind;
    for (const [pattern, patternKind] of patterns.values()) if (pattern.test(path)) return patternKind;
    return undefined;
  };
  await app.register(cors, {
    delegator(request, callback) {
      const kind = kindOf(request as FastifyRequest);
      const origin = request.headers.origin;
      const allowed = kind === 'ingest' || (kind === 'query' && origin !== undefined && queryOrigins.has(origin));
      callback(null, allowed ? ALLOW : DENY);
    },
  });
  return {
    async register(kind, plugin, options) {
      await app.register(async (scope) => {
        scope.addHook('onRoute', (route) => {
          if (route.url.includes(':') || route.url.includes('*')) patterns.set(route.url, [pathPattern(route.url), kind]);
          else kinds.set(route.url, kind);
        });
        await scope.register(plugin, options);
      });
    },
  };
}
