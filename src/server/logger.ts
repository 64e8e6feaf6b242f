// The service's structured logger (pino), with every place a secret could sit redacted.

import { pino, type Logger } from 'pino';

/** Paths pino removes from every log line: passcodes, tokens, authorization headers, keys. */
export const REDACT_PATHS = [
  'passcode', '*.passcode', '*.*.passcode', 'body.passcode', 'req.body', 'accessToken', '*.accessToken', 'token', '*.token',
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'privateJwk', '*.privateJwk', 'hash', '*.hash',
];

/** Makes the service logger writing JSON lines to standard output (or `destination`). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { service: 'deployr' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination as never);
}
