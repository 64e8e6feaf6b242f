// Errors with stable codes: every failure the product reports carries one of these codes.

/** Every stable error code; the HTTP layer maps each to one status (src/server/error-status.ts). */
export type ErrorCode =
  | 'AUTH_FAILED'
  | 'AUTH_THROTTLED'
  | 'AUTH_NOT_CONFIGURED'
  | 'TOKEN_INVALID'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'INVALID_INPUT'
  /** A request body that is not JSON (by its content type) sent to a JSON route. */
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'REQUEST_TIMEOUT'
  | 'CONFLICT'
  | 'PASSCODE_REJECTED'
  | 'UNAVAILABLE'
  | 'INTEGRITY'
  | 'INTERNAL';

/** An expected failure with a stable code and a one-line message safe to show to users. */
export class DeployrError extends Error {
  readonly code: ErrorCode;
  /** Extra, non-secret facts (for example `retryAfterSeconds`, or the path of a bad field). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'DeployrError';
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a DeployrError with the given code (or any code when none is given). */
export function isDeployrError(err: unknown, code?: ErrorCode): err is DeployrError {
  return err instanceof DeployrError && (code === undefined || err.code === code);
}
