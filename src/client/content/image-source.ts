// Streaming a content file straight from the server, without the cache: a resumable byte source (HTTP Range after a break), and whether the cache could hold the file instead.

import { stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { CONTENT_PATHS, type ContentFileInfo, type ContentVersionResponse } from '../../api/contract.js';
import { ClientError, type ApiClient, type DownloadResponse } from '../api-client.js';
import { fetchVersionInfo } from '../content-download.js';
import { abortError, aborted, delay, errorMessage } from './download-errors.js';

/** Consecutive failed attempts (no byte received in between) before a stream gives up. */
const ATTEMPTS = 6;
/** Waits before the 2nd, 3rd, … attempt: about 45 s of patience in all, enough for a service restart or a short network outage. */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 15000];

/** Runs `fn` with a valid token (refreshed when needed). */
export type WithToken = <T>(fn: (token: string) => Promise<T>) => Promise<T>;

/** Whether the cache holds a file already, and how much room its file system has. */
export interface CacheRoom {
  /** `<cacheDir>/<sha256>` exists with the file's size (it is verified when used). */
  cached: boolean;
  /** Bytes free for an unprivileged writer where the cache is, or null when unknown. */
  free: number | null;
  /** Bytes of an earlier, partial download of the file in the cache. */
  partial: number;
}

/** What the streaming path of *Apply image* needs from the server and the cache. */
export interface ContentStreamPort {
  /** The version's metadata (Active, well-formed), without fetching any file. */
  version(reference: string): Promise<ContentVersionResponse>;
  /** The file's bytes from the server, in order, resuming with `Range` after a broken connection; `onRetry` is told each resume. */
  stream(file: ContentFileInfo, options: { signal: AbortSignal; onRetry: (line: string) => void }): Readable;
  /** Whether the cache holds the file, and the room left for it. */
  cacheRoom(file: ContentFileInfo): Promise<CacheRoom>;
}

/** A ContentStreamPort on `api`, with tokens from `withToken` and the cache in `cacheDir`. */
export function contentStreamPort(api: ApiClient, withToken: WithToken, cacheDir: string): ContentStreamPort {
  return {
    version: (reference) => withToken((t) => fetchVersionInfo(api, t, reference)),
    stream: (file, options) => streamContentFile(api, withToken, file, options),
    cacheRoom: (file) => cacheRoom(cacheDir, file),
  };
}

async function cacheRoom(cacheDir: string, file: ContentFileInfo): Promise<CacheRoom> {
  const cached = await stat(join(cacheDir, file.sha256)).then((s) => s.isFile() && s.size === file.size, () => false);
  const partial = await stat(join(cacheDir, `${file.sha256}.partial`)).then((s) => s.size, () => 0);
  // The cache folder may not exist yet: ask about the nearest folder that does.
  let dir = cacheDir;
  for (let i = 0; i < 64; i++) {
    try {
      const fs = await statfs(dir);
      return { cached, free: fs.bavail * fs.bsize, partial };
    } catch {
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return { cached, free: null, partial };
}

function retryable(err: unknown): boolean {
  if (err instanceof ClientError) return err.code === 'UNREACHABLE' || (err.code === 'HTTP' && (err.status ?? 0) >= 500);
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const message = (err as Error | null)?.message ?? '';
  return ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code) || /aborted|socket hang up/i.test(message);
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return (e?.code ?? e?.message ?? String(err)).split('\n')[0] ?? '';
}

/** GET the file from `offset` (with If-Range, so that the answer is the same file); only the exact continuation is accepted. */
async function request(api: ApiClient, token: string, file: ContentFileInfo, offset: number, signal: AbortSignal): Promise<DownloadResponse> {
  const etag = `"${file.sha256}"`;
  let res: DownloadResponse;
  try {
    res = await api.download(CONTENT_PATHS.blob(file.sha256), token, { ...(offset > 0 ? { range: `bytes=${offset}-`, ifRange: etag } : {}), signal });
  } catch (err) {
    if (aborted(signal)) throw abortError(signal);
    throw err;
  }
  if (res.status !== 200 && res.status !== 206) {
    const message = await errorMessage(res);
    throw new ClientError('HTTP', `Cannot download ${file.path}: ${message}`, res.status);
  }
  const tag = res.headers.etag;
  if (tag !== undefined && tag !== etag) {
    res.body.destroy();
    throw new ClientError('PROTOCOL', `The server sent ${file.path} with ETag ${tag}, not ${etag}.`);
  }
  if (offset > 0) {
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
    if (res.status !== 206 || !range || Number(range[1]) !== offset || Number(range[3]) !== file.size) {
      res.body.destroy();
      // What was written and hashed cannot be taken back: only the exact continuation will do.
      throw new ClientError('PROTOCOL', `The server cannot continue ${file.path} at byte ${offset} (it answered ${res.status}${range ? ` with ${range[0]}` : ''}); the stream cannot resume.`);
    }
  }
  const length = Number(res.headers['content-length'] ?? NaN);
  if (Number.isFinite(length) && length !== file.size - offset) {
    res.body.destroy();
    throw new ClientError('PROTOCOL', `The server is sending ${length} bytes of ${file.path} from byte ${offset}, but ${file.size - offset} were expected.`);
  }
  return res;
}

/**
 * The bytes of `file` from the server in order, exactly `file.size` of them, as a Readable (each
 * received buffer is passed on as it is, without a promise per buffer). A broken connection (or a
 * 5xx answer) is resumed at the exact byte reached, with `Range: bytes=N-` and
 * `If-Range: "<sha256>"`, after 1, 2, 4, 8, 15, 15 s; six attempts in a row without a byte received
 * end it with a one-line UNREACHABLE error. The caller hashes what it gets, so nothing is re-read.
 */
export class ContentFileStream extends Readable {
  private offset = 0;
  private failures = 0;
  private body: DownloadResponse['body'] | null = null;
  private connecting = false;

  constructor(private readonly api: ApiClient, private readonly withToken: WithToken, private readonly file: ContentFileInfo, private readonly options: { signal: AbortSignal; onRetry: (line: string) => void }) {
    super({ highWaterMark: 4 * 1024 * 1024 });
  }

  override _read(): void {
    if (this.body) { this.body.resume(); return; }
    if (this.connecting) return;
    if (this.file.size === 0 || this.offset >= this.file.size) { this.push(null); return; }
    this.connect();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const body = this.body;
    this.body = null;
    body?.destroy();
    callback(err);
  }

  private connect(): void {
    this.connecting = true;
    const { file, options: { signal } } = this;
    this.withToken((t) => request(this.api, t, file, this.offset, signal)).then((res) => {
      this.connecting = false;
      if (this.destroyed) { res.body.destroy(); return; }
      const body = res.body;
      this.body = body;
      let over = false;
      const fail = (err: unknown): void => {
        if (over) return;
        over = true;
        if (this.body === body) this.body = null;
        body.destroy();
        this.broken(err);
      };
      body.on('data', (chunk: Buffer) => {
        if (over) return;
        if (this.offset + chunk.length > file.size) { fail(new ClientError('PROTOCOL', `The server sent more bytes than ${file.path} has (${file.size}).`)); return; }
        this.offset += chunk.length;
        this.failures = 0;
        if (!this.push(chunk)) body.pause();
      });
      body.once('end', () => {
        if (over) return;
        if (this.offset < file.size) { fail(Object.assign(new Error('the connection ended early'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })); return; }
        over = true;
        this.body = null;
        this.push(null);
      });
      body.once('error', (err) => fail(err));
      body.once('close', () => { if (!body.complete) fail(Object.assign(new Error('the connection closed'), { code: 'ECONNRESET' })); });
    }, (err: unknown) => {
      this.connecting = false;
      this.broken(err);
    });
  }

  /** After a failed request or a broken body: wait and resume, or give up with one line. */
  private broken(err: unknown): void {
    if (this.destroyed) return;
    const { file, options: { signal } } = this;
    if (aborted(signal)) { this.destroy(abortError(signal)); return; }
    this.failures++;
    if (!retryable(err)) { this.destroy(err instanceof Error ? err : new Error(String(err))); return; }
    if (this.failures >= ATTEMPTS) {
      this.destroy(new ClientError('UNREACHABLE', `The download of ${file.path} was interrupted after ${this.offset} of ${file.size} bytes (${describe(err)}), and ${ATTEMPTS} attempts to resume failed.`));
      return;
    }
    const wait = RETRY_DELAYS_MS[this.failures - 1] ?? 15000;
    this.options.onRetry(`The connection broke after ${this.offset} of ${file.size} bytes (${describe(err)}); resuming at byte ${this.offset} in ${wait / 1000} s (attempt ${this.failures + 1} of ${ATTEMPTS}).`);
    this.connecting = true;
    delay(wait, signal).then(() => { this.connecting = false; if (!this.destroyed) this.connect(); }, (e: unknown) => { this.connecting = false; this.destroy(e instanceof Error ? e : abortError(signal)); });
  }
}

/** Streams `file` from the server (see ContentFileStream). */
export function streamContentFile(api: ApiClient, withToken: WithToken, file: ContentFileInfo, options: { signal: AbortSignal; onRetry: (line: string) => void }): Readable {
  return new ContentFileStream(api, withToken, file, options);
}
