/**
 * The source settings analytics.js (`@segment/analytics-next`) loads before it sends anything, from
 * `<cdnURL>/v1/projects/<writeKey>/settings`. Pointed at Signalhouse (`cdnURL`), it learns from them to send its
 * events here: `integrations['Segment.io']` carries `apiKey`, `apiHost` (this server's host and path + `/v1`)
 * and `protocol`. Nothing else is configured: no destinations, remote plugins or middleware; and
 * `metrics.sampleRate: 0`, since analytics.js otherwise reports its own counters to Segment's API
 * (`api.segment.io/v1/m`), whatever `apiHost` says.
 *
 * The address is `public_url` when configured, else the request's `Host` header with the connection's scheme.
 * Forwarded headers (`X-Forwarded-Host`, `X-Forwarded-Proto`) are never read: any client can send them, caches
 * do not key on them, and the document tells every browser that gets it where to send its events. Behind a
 * proxy or CDN, set `public_url`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SignalhouseError } from '../../core/errors.ts';
import { requireWriteTenant, type TenantRegistry } from '../../core/tenants.ts';

/** Where analytics.js sends: `${protocol}://${apiHost}/t`, `/p`, …, `/b` (batching). */
export interface ApiAddress {
  readonly apiHost: string;
  readonly protocol: 'http' | 'https';
}

/** How long browsers and caches may keep a settings document: a changed address reaches them within this. */
const SETTINGS_MAX_AGE_SECONDS = 300;

/** A host name, IPv4 address or bracketed IPv6 address, with an optional port: all a Host header may be. */
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The address in a configured public URL (validated by the config schema), its path kept as a prefix. */
export function addressOfUrl(publicUrl: string): ApiAddress {
  const u = new URL(publicUrl);
  return { apiHost: `${u.host}${u.pathname.replace(/\/+$/, '')}/v1`, protocol: u.protocol === 'https:' ? 'https' : 'http' };
}

/** The address a request reached this server at: its `Host` header and the connection's scheme. */
function addressOfRequest(request: FastifyRequest): ApiAddress {
  const host = request.headers.host;
  if (host === undefined || !HOST.test(host)) {
    throw new SignalhouseError('BAD_REQUEST', 'the Host header names no host this server can be reached at; set receivers.segment.public_url');
  }
  return { apiHost: `${host}/v1`, protocol: request.protocol === 'https' ? 'https' : 'http' };
}

function settingsDocument(writeKey: string, address: ApiAddress) {
  return {
    integrations: { 'Segment.io': { apiKey: writeKey, apiHost: address.apiHost, protocol: address.protocol } },
    metrics: { sampleRate: 0 },
  };
}

/**
 * `GET /v1/projects/<writeKey>/settings`: the document, or 404 for a key no tenant owns, or 403 for a page its
 * tenant's `allowed_origins` do not list (it could not send either).
 */
export function settingsRoute(app: FastifyInstance, tenants: TenantRegistry, publicUrl: string): void {
  const configured = publicUrl === '' ? undefined : addressOfUrl(publicUrl);
  app.get<{ Params: { writeKey: string } }>('/v1/projects/:writeKey/settings', async (request, reply) => {
    const { writeKey } = request.params;
    // Not cached: a key added to the config works at once.
    reply.header('cache-control', 'no-store');
    if (tenants.byWriteKey(writeKey) === undefined) throw new SignalhouseError('NOT_FOUND', 'unknown write key: no tenant has it in its write_keys');
    requireWriteTenant(tenants, writeKey, request.headers.origin);
    const document = settingsDocument(writeKey, configured ?? addressOfRequest(request));
    return reply.header('cache-control', `public, max-age=${SETTINGS_MAX_AGE_SECONDS}`).send(document);
  });
}
