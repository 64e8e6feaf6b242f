// The service's structured logger (pino), with every place a secret could sit redacted.

import { pino, type Logger } from 'pino';
import type { LogFormat } from '../config/service-config.js';
import { isPretty, prettyDestination } from './log-format.js';

/** Paths pino removes from every log line: passcodes, tokens, authorization headers, keys. */
export const REDACT_PATHS = [
  'passcode', '*.passcode', '*.*.passcode', 'body.passcode', 'req.body', 'accessToken', '*.accessToken', 'token', '*.token',
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'privateJwk', '*.privateJwk', 'hash', '*.hash',
  'verify', '*.verify', 'generated', '*.generated',
];

/** Makes the service logger writing JSON lines to standard output (or `destination`). */
export function createLogger(level: string, destination?: NodeJS.WritableStream | { write(chunk: string): boolean }): Logger {
  return pino({ level, base: { service: 'deployr' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination as never);
}

/** The service logger in `format`: readable lines on standard output when it is a terminal (or `pretty`), else JSON lines. */
export function createServiceLogger(level: string, format: LogFormat): Logger {
  return createLogger(level, isPretty(format, process.stdout) ? prettyDestination(process.stdout) : undefined);
}
