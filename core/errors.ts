/**
 * Typed errors. Every failure that can reach a client carries a stable code, the HTTP status it maps to and
 * whether retrying the same request can succeed (OTLP's retryable / permanent split). `errorReply` maps any
 * thrown value to what a reply says, in one place; the server's error handler and OTLP's (which keeps its wire
 * format) only write that out.
 */
import { randomUUID } from 'node:crypto';

export const ErrorCodes = {
  BAD_REQUEST: { statusCode: 400, retryable: false },
  UNDECODABLE_BODY: { statusCode: 400, retryable: false },
  UNAUTHENTICATED: { statusCode: 401, retryable: false },
  FORBIDDEN_TENANT: { statusCode: 403, retryable: false },
  FORBIDDEN_ORIGIN: { statusCode: 403, retryable: false },
  FORBIDDEN_ROLE: { statusCode: 403, retryable: false },
  NOT_FOUND: { statusCode: 404, retryable: false },
  CONFLICT: { statusCode: 409, retryable: false },
  PAYLOAD_TOO_LARGE: { statusCode: 413, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { statusCode: 415, retryable: false },
  UPGRADE_REQUIRED: { statusCode: 426, retryable: false },
  RATE_LIMITED: { statusCode: 429, retryable: true },
  OVERLOADED: { statusCode: 503, retryable: true },
  STORAGE_UNAVAILABLE: { statusCode: 503, retryable: true },
  SHUTTING_DOWN: { statusCode: 503, retryable: true },
  STORAGE_REJECTED: { statusCode: 500, retryable: false },
  INTERNAL: { statusCode: 500, retryable: false },
} as const satisfies Record<string, { statusCode: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class SignalhouseError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly retryable: boolean;
  /** Seconds a client should wait before retrying (sent as `Retry-After`); only for retryable errors. */
  readonly retryAfterSeconds: number | undefined;
  /** Headers the reply carries besides `Retry-After` (a rate limit's `X-RateLimit-*`). */
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterSeconds?: number; headers?: Readonly<Record<string, string>> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SignalhouseError';
    this.code = code;
    this.statusCode = ErrorCodes[code].statusCode;
    this.retryable = ErrorCodes[code].retryable;
    this.retryAfterSeconds = this.retryable ? (options.retryAfterSeconds ?? 1) : undefined;
    this.headers = options.headers;
  }
}

/** Any thrown value as a SignalhouseError; unknown failures become INTERNAL (500, permanent). */
export function toSignalhouseError(err: unknown): SignalhouseError {
  if (err instanceof SignalhouseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SignalhouseError('INTERNAL', message, { cause: err });
}

/**
 * 5xx codes whose message can hold what clients must not see (SQL, storage and engine messages, any unexpected
 * error's text), with what clients get instead. The other 5xx (overload, shutdown) say only what we wrote.
 */
const CONCEALED_MESSAGES: Partial<Record<ErrorCode, string>> = {
  INTERNAL: 'internal error',
  STORAGE_REJECTED: 'storage refused the request',
  STORAGE_UNAVAILABLE: 'storage unavailable, retry later',
};

/** What a failed request's reply says: status, message and headers, whatever wire format carries them. */
export interface ErrorReply {
  readonly err: SignalhouseError;
  /** The message for the client: the error's own, or a fixed one for a concealed 5xx. */
  readonly message: string;
  /** Set for a concealed 5xx: the id its full error is logged under, also sent as `X-Request-Id`. */
  readonly requestId: string | undefined;
  /** `Retry-After`, `X-Request-Id` and the error's own headers (`X-RateLimit-*`), where they apply. */
  readonly headers: Readonly<Record<string, string>>;
}

interface ErrorLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The one mapping from a thrown value to a reply. Fastify's own errors (body too large, a bad content type, a
 * malformed request) keep their 4xx status; other unknown errors are INTERNAL. A 5xx whose message may carry
 * SQL or engine text is logged in full under a request id and answered with a fixed message and that id.
 * `describe` rewords Fastify's 4xx errors for a receiver's own limits.
 */
export function errorReply(error: unknown, log: ErrorLog, describe?: (statusCode: number, message: string) => SignalhouseError | undefined): ErrorReply {
  let err = toSignalhouseError(error);
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (!(error instanceof SignalhouseError) && typeof status === 'number' && status < 500) {
    const message = (error as Error).message;
    err =
      describe?.(status, message) ??
      new SignalhouseError(status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST', message);
  }
  const headers: Record<string, string> = { ...err.headers };
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  const concealed = err.statusCode >= 500 ? CONCEALED_MESSAGES[err.code] : undefined;
  if (concealed === undefined) return { err, message: err.message, requestId: undefined, headers };
  const requestId = randomUUID();
  log[err.retryable ? 'warn' : 'error']({ err: error, request_id: requestId }, 'request failed');
  headers['x-request-id'] = requestId;
  return { err, message: concealed, requestId, headers };
}
