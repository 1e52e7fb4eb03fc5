/**
 * The in-flight byte budget: request-body bytes (as received, and again once decompressed) held by requests
 * that have not been answered yet. Rows are bounded by the exporter's queue, requests by the concurrency cap;
 * this bounds the bytes, so that a dozen large bodies at once cannot take the process past its memory: a
 * request whose bytes do not fit is refused with 503 + Retry-After, before its body is read when it declares
 * its length. A request's bytes return to the budget when its reply is sent.
 *
 * One request alone is always admitted (up to the body limits), so a body the limits allow can always get in.
 */
import { SignalhouseError } from './errors.ts';

export interface ByteBudget {
  readonly limit: number;
  /** Bytes held now. */
  readonly used: number;
  /** Takes `bytes` for a request already holding `held`; false (nothing taken) when they do not fit. */
  tryTake(bytes: number, held: number): boolean;
  give(bytes: number): void;
}

export function createByteBudget(limit: number, onChange?: (used: number) => void): ByteBudget {
  let used = 0;
  return {
    limit,
    get used() {
      return used;
    },
    tryTake(bytes, held) {
      if (used > held && used + bytes > limit) return false;
      used += bytes;
      onChange?.(used);
      return true;
    },
    give(bytes) {
      used -= bytes;
      onChange?.(used);
    },
  };
}

/** What one request holds of the budget; `release` gives it all back (once). */
export interface BodyReservation {
  readonly held: number;
  /** Takes `bytes` more, or throws OVERLOADED. */
  take(bytes: number): void;
  release(): void;
}

export function overBudget(budget: ByteBudget): SignalhouseError {
  return new SignalhouseError('OVERLOADED', `request bodies in flight exceed ${budget.limit} bytes, retry later`, { retryAfterSeconds: 1 });
}

export function reserveBody(budget: ByteBudget): BodyReservation {
  let held = 0;
  return {
    get held() {
      return held;
    },
    take(bytes) {
      if (!budget.tryTake(bytes, held)) throw overBudget(budget);
      held += bytes;
    },
    release() {
      budget.give(held);
      held = 0;
    },
  };
}
