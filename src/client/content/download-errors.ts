// Failures of a download the client reports in one line: a full disk, a cancelled fetch, the server's error message; and the waits between retries.

import type { ErrorBody } from '../../api/contract.js';
import { ClientError, type DownloadResponse } from '../api-client.js';

/** True for a full disk or quota. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** The one-line error of a full disk. */
export function diskFull(file: string, needed: number): ClientError {
  return new ClientError('INPUT', `Not enough disk space to download ${file} (${needed} bytes needed)`);
}

/** True when `signal` has aborted. */
export function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Waits `ms`, or rejects when `signal` aborts. */
export function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolveDelay, rejectDelay) => {
    const onAbort = (): void => { clearTimeout(timer); rejectDelay(abortError(signal)); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolveDelay(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error a cancelled fetch rejects with: the signal's reason, or an AbortError. */
export function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('The download was cancelled.'), { name: 'AbortError' });
}

/** The server's one-line message from an error answer, or `HTTP <status>`. */
export async function errorMessage(res: DownloadResponse): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of res.body) { chunks.push(c as Buffer); if (chunks.length > 64) break; }
  } catch { /* the message is best effort */ }
  try { return (JSON.parse(Buffer.concat(chunks).toString('utf8')) as ErrorBody).error.message; } catch { return `HTTP ${res.status}`; }
}
