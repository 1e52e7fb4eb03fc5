/**
 * What posthog-js asks for besides capture, so that one given only `api_host` works: its remote config
 * (`GET /array/<key>/config` and `/array/<key>/config.js`) and its flags (`POST /flags`, `/decide`, with or
 * without the trailing slash). The key is the write key: in the path for the config, in the body (`token`,
 * `api_key`) or an `Authorization` header for flags. An unknown key answers 401 and a page whose origin the
 * tenant does not allow 403, as on capture; posthog-js then carries on with its defaults (autocapture stays off
 * without a config) and still captures.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SignalhouseError } from '../../core/errors.ts';
import type { RateLimiter } from '../../core/rate-limit/limiter.ts';
import { credentialFromAuthorization, requireWritePrincipal, requireWriteTenant, type TenantRegistry } from '../../core/tenants.ts';
import { isObject } from '../product/common.ts';
import { admitRequest } from '../receiverhelper/rate-limit.ts';
import { decodePosthogBody, singleQueryParam } from './body.ts';
import type { PosthogReceiverConfig } from './config.ts';
import type { FlagsEvaluator } from '../../core/flags.ts';
import { type FlagsEndpoint, flagsAnswer, flagsRequest, flagsVersion } from './flags.ts';
import { baseRemoteConfig, decideConfig, remoteConfigFor, remoteConfigScript } from './remote-config.ts';

export interface SdkRoutesOptions {
  config: PosthogReceiverConfig;
  tenants: TenantRegistry;
  flags: FlagsEvaluator;
  /** Flags requests take a request token of their key; the remote config (static, cached by browsers) does not. */
  rateLimits: RateLimiter;
}

/** The config changes only with the server's config: browsers may keep it for five minutes. */
const CONFIG_CACHE = 'public, max-age=300';

export function posthogSdkRoutes(app: FastifyInstance, opts: SdkRoutesOptions): void {
  const { config, tenants, flags, rateLimits } = opts;
  const base = baseRemoteConfig(config);
  const decideBase = decideConfig(base);

  // A wildcard, not `/array/:key/config`: route parameters are capped at 100 characters, write keys are not.
  app.get('/array/*', async (request, reply) => {
    const path = (request.params as { '*': string })['*'];
    const slash = path.lastIndexOf('/');
    const key = path.slice(0, slash);
    const file = path.slice(slash + 1);
    if (slash < 0 || (file !== 'config' && file !== 'config.js')) {
      throw new SignalhouseError('NOT_FOUND', 'no such file: posthog-js asks for /array/<key>/config or /array/<key>/config.js');
    }
    const tenant = requireWriteTenant(tenants, key, request.headers.origin);
    const remote = remoteConfigFor(base, key, flags.hasFlags(tenant.id));
    reply.header('cache-control', CONFIG_CACHE);
    if (file === 'config') return reply.send(remote);
    return reply.type('application/javascript; charset=utf-8').send(remoteConfigScript(key, remote));
  });

  const answerFlags = (endpoint: FlagsEndpoint) => async (request: FastifyRequest, reply: FastifyReply) => {
    const version = flagsVersion(singleQueryParam(request, 'v'), endpoint);
    const withConfig = endpoint === 'decide' || singleQueryParam(request, 'config') === 'true';
    const body = await decodePosthogBody(request, config.max_event_size);
    if (!isObject(body)) throw new SignalhouseError('BAD_REQUEST', 'body must be a JSON object with token and distinct_id');
    const key =
      credentialFromAuthorization(request.headers.authorization) ?? [body.token, body.api_key].find((k): k is string => typeof k === 'string' && k !== '');
    const writer = requireWritePrincipal(tenants, key, request.headers.origin);
    const { tenant } = writer;
    await admitRequest(rateLimits, writer, 0, reply);
    const evaluated = body.disable_flags === true ? [] : await flags.evaluate(flagsRequest(tenant.id, body));
    const remote = withConfig ? { ...(endpoint === 'decide' ? decideBase : base), hasFeatureFlags: flags.hasFlags(tenant.id) } : undefined;
    return reply.send(flagsAnswer(endpoint, version, evaluated, remote));
  };
  for (const endpoint of ['flags', 'decide'] as const) {
    app.post(`/${endpoint}`, answerFlags(endpoint));
    app.post(`/${endpoint}/`, answerFlags(endpoint));
  }
}
