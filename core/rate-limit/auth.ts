/**
 * The Authenticator with the rate limits applied: every principal it returns has been admitted by the caller's
 * buckets (a query or admin call is a request without events). The HTTP query, alert-state, privacy and
 * experiments routes and the gRPC read methods all authenticate through it, so one read token has one limit
 * whichever listener it calls.
 */
import type { Authenticator } from '../auth.ts';
import type { RateLimiter } from './limiter.ts';

export function rateLimitedAuth(auth: Authenticator, rateLimits: RateLimiter): Authenticator {
  if (!rateLimits.active) return auth;
  return {
    async authenticate(authorization, role) {
      const principal = await auth.authenticate(authorization, role);
      await rateLimits.admit(principal, 0);
      return principal;
    },
  };
}
