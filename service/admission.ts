/**
 * Admission control shared by the HTTP and gRPC listeners, so that memory stays bounded whichever way requests
 * come: one cap on requests in flight (`service.http.max_concurrent_requests`, HTTP requests and gRPC calls
 * together), one in-flight byte budget for their bodies and messages (core/byte-budget.ts), and the drain: once
 * shutdown begins every new request is refused as SHUTTING_DOWN (retryable) while those admitted finish.
 */
import { type ByteBudget, createByteBudget } from '../core/byte-budget.ts';
import { SignalhouseError } from '../core/errors.ts';
import type { Telemetry } from '../core/telemetry.ts';

export interface Admission {
  readonly budget: ByteBudget;
  /** Shutdown has begun: new requests are refused. */
  readonly draining: boolean;
  /** Why a request would be refused now (SHUTTING_DOWN, OVERLOADED; both retryable), without taking a slot. */
  refusal(): SignalhouseError | undefined;
  /** Takes a slot for one request, or says why not (as `refusal`). */
  admit(): SignalhouseError | undefined;
  /** Gives back a slot `admit` gave. */
  leave(): void;
  /** Refuses every request from now on; resolves once the admitted ones have left. */
  stopAdmitting(): Promise<void>;
}

export function createAdmission(options: { maxConcurrent: number; maxInFlightBytes: number; telemetry: Telemetry }): Admission {
  const { maxConcurrent, telemetry } = options;
  const budget = createByteBudget(options.maxInFlightBytes, (used) => telemetry.inFlightBodyBytes.set(used));
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | undefined;
  const refusal = () => {
    if (draining) return new SignalhouseError('SHUTTING_DOWN', 'server is shutting down, retry against another instance', { retryAfterSeconds: 1 });
    if (inFlight >= maxConcurrent) return new SignalhouseError('OVERLOADED', 'too many concurrent requests, retry later', { retryAfterSeconds: 1 });
    return undefined;
  };
  return {
    budget,
    get draining() {
      return draining;
    },
    refusal,
    admit() {
      const refused = refusal();
      if (refused) return refused;
      inFlight++;
      telemetry.inFlightRequests.set(inFlight);
      return undefined;
    },
    leave() {
      inFlight--;
      telemetry.inFlightRequests.set(inFlight);
      if (inFlight === 0) drained?.();
    },
    stopAdmitting() {
      draining = true;
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        drained = resolve;
      });
    },
  };
}
