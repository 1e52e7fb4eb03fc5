/**
 * The rate limits at a receiver's admission (core/rate-limit/limiter.ts): once a request's key and its number of
 * events are known (before the events are mapped or processed), it is admitted or refused whole. A refusal is a
 * thrown RATE_LIMITED, answered by the receiver's one error path in its own wire format (429 + `Retry-After`
 * and `X-RateLimit-*` on HTTP, RESOURCE_EXHAUSTED with RetryInfo on gRPC, a nack on WebSocket); a request let
 * through carries the `X-RateLimit-*` headers of its tightest bucket when it has a limit.
 */
import type { FastifyReply } from 'fastify';
import type { RateLimiter } from '../../core/rate-limit/limiter.ts';
import type { Principal } from '../../core/tenants.ts';

export async function admitRequest(limits: RateLimiter, caller: Principal, events: number, reply?: FastifyReply): Promise<void> {
  const decided = limits.admit(caller, events);
  const headers = decided instanceof Promise ? await decided : decided;
  if (headers !== undefined && reply !== undefined) reply.headers(headers);
}
