/**
 * Typed errors. Every failure that can reach a client carries a stable code, the HTTP status it maps to and
 * whether retrying the same request can succeed (OTLP's retryable / permanent split). HTTP mapping happens in
 * one place: `core/server.ts`'s error handler and the receivers' reply helpers read these fields only.
 */

export const ErrorCodes = {
  BAD_REQUEST: { statusCode: 400, retryable: false },
  UNDECODABLE_BODY: { statusCode: 400, retryable: false },
  UNAUTHENTICATED: { statusCode: 401, retryable: false },
  FORBIDDEN_TENANT: { statusCode: 403, retryable: false },
  NOT_FOUND: { statusCode: 404, retryable: false },
  PAYLOAD_TOO_LARGE: { statusCode: 413, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { statusCode: 415, retryable: false },
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

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SignalhouseError';
    this.code = code;
    this.statusCode = ErrorCodes[code].statusCode;
    this.retryable = ErrorCodes[code].retryable;
    this.retryAfterSeconds = this.retryable ? (options.retryAfterSeconds ?? 1) : undefined;
  }
}

/** Any thrown value as a SignalhouseError; unknown failures become INTERNAL (500, permanent). */
export function toSignalhouseError(err: unknown): SignalhouseError {
  if (err instanceof SignalhouseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SignalhouseError('INTERNAL', message, { cause: err });
}
