// How commands write: lines to standard output, and one-line errors with a stable code.

import { ClientError } from '../client/api-client.js';
import { DeployrError } from '../domain/errors.js';
import { describeForMessage } from '../domain/input-description.js';

export { describeDuration, plural } from '../domain/duration-text.js';

/** Where a command writes. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

/** The process's own streams. */
export const processIo: CommandIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Parses durations such as `90d`, `2h`, `30m`, `45s` or `0` into seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new Error(`the value given (${describeForMessage(text)}) is not a duration; use for example 30m, 2h or 90d.`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** `parseDuration` for a command-line flag: a bad value is an INVALID_INPUT error that names the flag. */
export function parseDurationFlag(text: string, flag: string): number {
  try { return parseDuration(text); } catch (err) { throw new DeployrError('INVALID_INPUT', `${flag}: ${(err as Error).message}`); }
}

/** Formats seconds as the largest whole unit (90d, 2h, 30m, 45s). */
export function formatDuration(seconds: number): string {
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= n && seconds % n === 0) return `${seconds / n}${unit}`;
  }
  return `${seconds}s`;
}

/**
 * Runs a command body and turns any failure into one line on standard error (`error: MESSAGE [CODE]`)
 * and a non-zero exit code: 3 for a server certificate that is not trusted, otherwise 1.
 */
export async function commandExit(body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (err) {
    const message = err instanceof DeployrError || err instanceof ClientError ? err.message : (err as Error).message ?? String(err);
    const code = err instanceof DeployrError ? err.code : err instanceof ClientError ? err.code : 'ERROR';
    process.stderr.write(`error: ${message.split('\n')[0]} [${code}]\n`);
    process.exitCode = err instanceof ClientError && err.code === 'UNTRUSTED' ? 3 : 1;
  }
}

/** A reader that stops early (`deployr audit | head`) is not an error: the process ends quietly. */
export function endQuietlyOnClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw err; });
  }
}
