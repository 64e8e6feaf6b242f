// The client's content download: a version's files fetched by hash into a local cache (resumable, verified), then laid out under a work folder.

import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, copyFile, link, mkdir, open, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import { CONTENT_PATHS, type ContentFileInfo, type ContentVersionResponse, type ErrorBody } from '../api/contract.js';
import { ClientError, type ApiClient, type DownloadResponse } from './api-client.js';
import { lockCacheFile } from './cache-lock.js';

/** One file of a fetched version. */
export interface DownloadedFile {
  /** Relative path with forward slashes, as the server lists it. */
  path: string;
  size: number;
  sha256: string;
  /** Where the file is now: under `DownloadedContent.dir`. */
  localPath: string;
}

/** A fetched content version: its metadata and the folder holding its files. */
export interface DownloadedContent {
  id: string;
  versionNo: number;
  name: string;
  purpose: string;
  type: string;
  installationCommandLine: string | null;
  /** `<workDir>/<id>/<versionNo>`: the files at their relative paths (hard links to the cache, or copies). */
  dir: string;
  files: DownloadedFile[];
}

/** Progress of a fetch, for a progress bar: bytes across the whole version (cached files count as received at once). */
export interface DownloadProgress {
  /** The file being received (its relative path). */
  file: string;
  received: number;
  total: number;
  /** Average rate of the bytes actually downloaded so far in this fetch. */
  bytesPerSecond: number;
}

/** Where fetched content goes, and how to follow or stop it. */
export interface FetchOptions {
  /** Files by hash: `<cacheDir>/<sha256>`, with `<sha256>.partial` and `<sha256>.lock` while downloading (clients may share the folder). */
  cacheDir: string;
  /** The version's folder is made under it. */
  workDir: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Files downloaded at the same time (a folder of many small files). */
const PARALLEL_FILES = 4;
/** Attempts per file when the connection fails (each resumes from what was written). */
const ATTEMPTS = 3;
const RETRY_DELAYS_MS = [1000, 3000];
const READ_CHUNK = 4 * 1024 * 1024;
const PROGRESS_INTERVAL_MS = 100;
/** Files at least this big are hashed by a worker thread reading behind the writer, so hashing does not slow the receiving thread. */
const WORKER_HASH_MIN = 32 * 1024 * 1024;
/** While a large file is written, its data is flushed to disk every so often, so the final fsync has little left to do. */
const SYNC_EVERY = 128 * 1024 * 1024;

/** Cache files already hashed by this process, keyed by path, with the identity they had then. */
const verifiedCache = new Map<string, string>();
/** Downloads in flight in this process, by cache path (two files, or two fetches, with one hash share one download). */
const inFlight = new Map<string, Promise<void>>();

/** Splits `<guid>` or `<guid>:<version>`. */
function parseReference(reference: string): { id: string; versionNo: number | 'active' } {
  const [id = '', ver, extra] = reference.trim().split(':');
  if (!GUID.test(id) || extra !== undefined || (ver !== undefined && !/^[1-9][0-9]{0,8}$/.test(ver))) {
    throw new ClientError('INPUT', `"${reference}" is not a content reference; use <guid> or <guid>:<version>.`);
  }
  return { id: id.toLowerCase(), versionNo: ver === undefined ? 'active' : Number(ver) };
}

/** The file's place under `dir`, refusing any path that could leave it. */
function placeUnder(dir: string, path: string): string {
  const parts = path.split('/');
  if (path.length === 0 || path.length > 4096 || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\') || /[\0-\x1f]/.test(p) || /^[A-Za-z]:/.test(p))) {
    throw new ClientError('PROTOCOL', `The server listed a file with an unsafe path (${JSON.stringify(path.slice(0, 200))}); not fetching this content.`);
  }
  const target = resolve(dir, ...parts);
  if (!target.startsWith(resolve(dir) + sep)) throw new ClientError('PROTOCOL', `The server listed a file outside the content folder (${JSON.stringify(path)}).`);
  return target;
}

function checkMetadata(meta: ContentVersionResponse): void {
  if (!meta || !Array.isArray(meta.files) || typeof meta.versionNo !== 'number') throw new ClientError('PROTOCOL', 'The server sent a content version without a file list.');
  for (const f of meta.files) {
    if (typeof f.path !== 'string' || typeof f.sha256 !== 'string' || !SHA256_HEX.test(f.sha256) || !Number.isSafeInteger(f.size) || f.size < 0) {
      throw new ClientError('PROTOCOL', `The server listed a malformed file in "${meta.name}" version ${meta.versionNo}.`);
    }
  }
}

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function diskFull(file: string, needed: number): ClientError {
  return new ClientError('INPUT', `Not enough disk space to download ${file} (${needed} bytes needed)`);
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Waits `ms`, or rejects when `signal` aborts. */
function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolveDelay, rejectDelay) => {
    const onAbort = (): void => { clearTimeout(timer); rejectDelay(abortError(signal)); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolveDelay(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('The download was cancelled.'), { name: 'AbortError' });
}

/** Hashes the first `length` bytes of a file. */
async function hashPrefix(fh: FileHandle, length: number, hash: Hash): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(length, 1)));
  let position = 0;
  while (position < length) {
    const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, length - position), position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
}

/** The SHA-256 of a whole file (a worker thread hashes large files, keeping this thread responsive). */
async function hashFile(path: string, size: number): Promise<string> {
  if (size >= WORKER_HASH_MIN) return workerHash(path, size).digest(size);
  const fh = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    await hashPrefix(fh, (await fh.stat()).size, hash);
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}

function identity(s: { ino: number; size: number; mtimeMs: number }): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

/** The SHA-256 of a file being written: fed inline, or computed by a worker thread that reads the file behind the writer. */
interface RunningHash {
  /** `buffers` were just written, and bytes [0, upTo) of the file are now in place. */
  wrote(buffers: Buffer[], upTo: number): void;
  /** The digest of the first `size` bytes, once they are written. */
  digest(size: number): Promise<string>;
  /** Stops hashing (the download failed). */
  cancel(): void;
}

/** Hashes on this thread: the first `existing` bytes are read back from the file, later bytes as they are written. */
async function inlineHash(fh: FileHandle, existing: number): Promise<RunningHash> {
  const hash = createHash('sha256');
  if (existing > 0) await hashPrefix(fh, existing, hash);
  return {
    wrote: (buffers) => { for (const b of buffers) hash.update(b); },
    digest: async () => hash.digest('hex'),
    cancel: () => undefined,
  };
}

/** The worker thread of `workerHash`: reads the file up to the shared `written` mark and hashes it. */
const HASH_WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const state = new BigInt64Array(workerData.state); // [written, final size or -1, cancelled]
const hash = createHash('sha256');
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
let fd = -1;
let pos = 0;
try {
  fd = openSync(workerData.path, 'r');
  for (;;) {
    if (Atomics.load(state, 2) !== 0n) break;
    const written = Number(Atomics.load(state, 0));
    if (pos < written) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, written - pos), pos);
      if (n === 0) throw new Error('the file is shorter than was written');
      hash.update(buf.subarray(0, n));
      pos += n;
      continue;
    }
    const size = Atomics.load(state, 1);
    if (size >= 0n && pos >= Number(size)) { parentPort.postMessage({ digest: hash.digest('hex') }); break; }
    Atomics.wait(state, 0, BigInt(written), 200);
  }
} catch (err) {
  parentPort.postMessage({ error: String((err && err.message) || err) });
} finally {
  if (fd >= 0) closeSync(fd);
}
`;

/** Hashes `path` in a worker thread that follows the writer (it starts with the first `existing` bytes). */
function workerHash(path: string, existing: number): RunningHash {
  const state = new BigInt64Array(new SharedArrayBuffer(3 * 8));
  state[0] = BigInt(existing);
  state[1] = -1n;
  const worker = new Worker(HASH_WORKER_SOURCE, { eval: true, workerData: { path, state: state.buffer } });
  const result = new Promise<string>((resolveDigest, rejectDigest) => {
    worker.once('message', (m: { digest?: string; error?: string }) => (m.digest ? resolveDigest(m.digest) : rejectDigest(new Error(m.error ?? 'hashing failed'))));
    worker.once('error', rejectDigest);
    worker.once('exit', () => rejectDigest(new Error('the hashing thread stopped')));
  });
  result.catch(() => undefined);
  return {
    wrote: (_buffers, upTo) => { Atomics.store(state, 0, BigInt(upTo)); Atomics.notify(state, 0); },
    digest: async (size) => {
      Atomics.store(state, 1, BigInt(size));
      Atomics.notify(state, 0);
      try { return await result; } finally { void worker.terminate(); }
    },
    cancel: () => { Atomics.store(state, 2, 1n); Atomics.notify(state, 0); void worker.terminate(); },
  };
}

/** A writable that writes chunks to `fh` at increasing positions (gathered writes), reports them to the hash, and flushes large files to disk as it goes. */
class HashingFileSink extends Writable {
  /** The next file position (bytes written so far, counting the resumed prefix). */
  position: number;
  /** The local write error, when writing failed (as opposed to the network). */
  writeError: NodeJS.ErrnoException | null = null;

  private nextSync: number;
  private syncing: Promise<void> | null = null;

  constructor(private readonly fh: FileHandle, start: number, private readonly hash: RunningHash, private readonly limit: number, private readonly onBytes: (n: number) => void) {
    super({ highWaterMark: 8 * 1024 * 1024 });
    this.position = start;
    this.nextSync = start + SYNC_EVERY;
  }

  /** Waits for a background flush still running. */
  async settle(): Promise<void> {
    await this.syncing?.catch(() => undefined);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    let n = 0;
    for (const b of buffers) n += b.length;
    if (this.position + n > this.limit) { callback(new ClientError('PROTOCOL', `The server sent more bytes than the file has (${this.limit}).`)); return; }
    const at = this.position;
    writeAll(this.fh, buffers, at, n).then(() => {
      this.position = at + n;
      this.hash.wrote(buffers, this.position);
      if (this.position >= this.nextSync && !this.syncing) {
        this.nextSync = this.position + SYNC_EVERY;
        this.syncing = this.fh.datasync().finally(() => { this.syncing = null; });
        this.syncing.catch(() => undefined);
      }
      this.onBytes(n);
      callback();
    }, (err: NodeJS.ErrnoException) => { this.writeError = err; callback(err); });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }
}

async function writeAll(fh: FileHandle, buffers: Buffer[], position: number, total: number): Promise<void> {
  let done = 0;
  let pending = buffers;
  while (done < total) {
    const { bytesWritten } = await fh.writev(pending, position + done);
    done += bytesWritten;
    if (done < total) {
      // A short write: continue with what is left.
      let skip = bytesWritten;
      const rest: Buffer[] = [];
      for (const b of pending) {
        if (skip >= b.length) { skip -= b.length; continue; }
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
      pending = rest;
    }
  }
}

async function errorMessage(res: DownloadResponse): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of res.body) { chunks.push(c as Buffer); if (chunks.length > 64) break; }
  } catch { /* the message is best effort */ }
  try { return (JSON.parse(Buffer.concat(chunks).toString('utf8')) as ErrorBody).error.message; } catch { return `HTTP ${res.status}`; }
}

async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | null = null;
  try { fh = await open(dir, 'r'); await fh.sync(); } catch { /* best effort */ } finally { await fh?.close(); }
}

/** Fetches one version's files into the cache (one per `fetchContentVersion` call). */
class VersionFetch {
  private received = 0;
  private downloaded = 0;
  private readonly startedAt = Date.now();
  private lastReport = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly token: string,
    private readonly options: FetchOptions,
    private readonly total: number,
  ) {}

  private progress(file: string, force = false): void {
    const cb = this.options.onProgress;
    if (!cb) return;
    const now = Date.now();
    if (!force && now - this.lastReport < PROGRESS_INTERVAL_MS) return;
    this.lastReport = now;
    const seconds = Math.max((now - this.startedAt) / 1000, 0.001);
    cb({ file, received: this.received, total: this.total, bytesPerSecond: Math.round(this.downloaded / seconds) });
  }

  /** Makes `<cacheDir>/<sha256>` hold the file, downloading what is missing. */
  async ensureCached(file: ContentFileInfo): Promise<string> {
    const final = join(this.options.cacheDir, file.sha256);
    let running = inFlight.get(final);
    if (!running) {
      running = this.fillCache(file, final).finally(() => inFlight.delete(final));
      inFlight.set(final, running);
      await running;
    } else {
      await running;
      this.received += file.size;
      this.progress(file.path, true);
    }
    return final;
  }

  private async fillCache(file: ContentFileInfo, final: string): Promise<void> {
    if (await this.takeCached(file, final)) return;
    // Another client sharing this cache folder may be downloading the same file: one at a time.
    const lock = await lockCacheFile(`${final}.lock`, {
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      // Said through the progress bar's label, so that the technician sees why nothing moves.
      onWait: () => this.options.onProgress?.({ file: `${file.path}: waiting for another client that is downloading it into this cache`, received: this.received, total: this.total, bytesPerSecond: 0 }),
    });
    try {
      if (await this.takeCached(file, final)) return; // the other client finished it meanwhile
      await this.download(file, final);
    } finally {
      await lock.release();
    }
  }

  /** True when `<cacheDir>/<sha256>` already holds the file (verified); a wrong one is removed. */
  private async takeCached(file: ContentFileInfo, final: string): Promise<boolean> {
    const cached = await stat(final).catch(() => null);
    if (cached?.isFile() && cached.size === file.size) {
      if (verifiedCache.get(final) === identity(cached) || (await hashFile(final, cached.size)) === file.sha256) {
        verifiedCache.set(final, identity(cached));
        this.received += file.size;
        this.progress(file.path, true);
        return true;
      }
    }
    if (cached) await rm(final, { force: true });
    verifiedCache.delete(final);
    return false;
  }

  /** Downloads into `<sha256>.partial` (resuming it), verifies, and renames into place; retries broken connections. */
  private async download(file: ContentFileInfo, final: string): Promise<void> {
    const partial = `${final}.partial`;
    let retriedFromScratch = false;
    for (let attempt = 1; ; attempt++) {
      const before = this.received;
      try {
        const outcome = await this.downloadOnce(file, partial);
        if (outcome === 'ok') break;
        // The hash did not match: delete the download. A resumed one may have had a stale prefix, so that gets one fresh try.
        await rm(partial, { force: true });
        this.received = before;
        if (outcome === 'mismatch-resumed' && !retriedFromScratch) { retriedFromScratch = true; continue; }
        throw new ClientError('PROTOCOL', `Content file ${file.path} failed verification: its SHA-256 does not match ${file.sha256} (the download was deleted).`);
      } catch (err) {
        this.received = before;
        const retryable = err instanceof ClientError && err.code === 'UNREACHABLE' && attempt < ATTEMPTS && !aborted(this.options.signal);
        if (!retryable) throw err;
        await delay(RETRY_DELAYS_MS[attempt - 1] ?? 3000, this.options.signal);
      }
    }
    // Read-only (and runnable, like files on installation media): the version folders hard-link to it.
    await chmod(partial, 0o555).catch(() => undefined);
    await rename(partial, final);
    await syncDir(this.options.cacheDir);
    verifiedCache.set(final, identity(await stat(final)));
  }

  /** One request: continue the partial file (re-hashing what it holds), stream to it while hashing, fsync, compare. */
  private async downloadOnce(file: ContentFileInfo, partial: string): Promise<'ok' | 'mismatch' | 'mismatch-resumed'> {
    let existing = (await stat(partial).catch(() => null))?.size ?? 0;
    if (existing > file.size) { await rm(partial, { force: true }); existing = 0; }
    await this.checkSpace(file, existing);
    const fh = await open(partial, existing > 0 ? 'r+' : 'w', 0o644);
    const startHash = async (from: number): Promise<RunningHash> => (file.size >= WORKER_HASH_MIN ? workerHash(partial, from) : inlineHash(fh, from));
    let hash: RunningHash | null = null;
    try {
      hash = await startHash(existing);
      this.received += existing;
      this.progress(file.path, true);
      if (existing === file.size) {
        await fh.sync();
        return (await hash.digest(file.size)) === file.sha256 ? 'ok' : 'mismatch-resumed';
      }
      let res = await this.request(file, existing > 0 ? existing : null);
      if (existing > 0 && res.status !== 206) {
        // 200: the server ignored the range (If-Range did not match); 416: it cannot continue this prefix. Start over.
        if (res.status === 416) { res.body.resume(); res = await this.request(file, null); }
        hash.cancel();
        await fh.truncate(0);
        this.received -= existing;
        existing = 0;
        hash = await startHash(0);
      } else if (existing > 0) {
        const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
        if (!range || Number(range[1]) !== existing || Number(range[3]) !== file.size) {
          res.body.destroy();
          throw new ClientError('PROTOCOL', `The server answered a resumed download of ${file.path} with a range that does not continue it.`);
        }
      }
      return await this.receive(fh, res, file, existing, hash, existing > 0);
    } catch (err) {
      hash?.cancel();
      throw err;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** GET the file (from `start` with If-Range); anything but 200/206/416 becomes a one-line error. */
  private async request(file: ContentFileInfo, start: number | null): Promise<DownloadResponse> {
    const etag = `"${file.sha256}"`;
    let res: DownloadResponse;
    try {
      res = await this.api.download(CONTENT_PATHS.blob(file.sha256), this.token, {
        ...(start !== null ? { range: `bytes=${start}-`, ifRange: etag } : {}),
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
    } catch (err) {
      if (aborted(this.options.signal)) throw abortError(this.options.signal);
      throw err;
    }
    if (res.status === 200 || res.status === 206 || (res.status === 416 && start !== null)) {
      const tag = res.headers.etag;
      if (res.status !== 416 && tag !== undefined && tag !== etag) {
        res.body.destroy();
        throw new ClientError('PROTOCOL', `The server sent ${file.path} with ETag ${tag}, not ${etag}.`);
      }
      return res;
    }
    const message = await errorMessage(res);
    throw new ClientError('HTTP', `Cannot download ${file.path}: ${message}`, res.status);
  }

  /** Streams the body into the partial file from `start`, then fsyncs and checks the hash. */
  private async receive(fh: FileHandle, res: DownloadResponse, file: ContentFileInfo, start: number, hash: RunningHash, resumed: boolean): Promise<'ok' | 'mismatch' | 'mismatch-resumed'> {
    const expected = file.size - start;
    const length = Number(res.headers['content-length'] ?? NaN);
    if (Number.isFinite(length) && length !== expected) {
      res.body.destroy();
      throw new ClientError('PROTOCOL', `The server is sending ${length} bytes of ${file.path}, but ${expected} were expected.`);
    }
    const sink = new HashingFileSink(fh, start, hash, file.size, (n) => {
      this.received += n;
      this.downloaded += n;
      this.progress(file.path);
    });
    try {
      await pipeline(res.body, sink);
      await sink.settle();
      await fh.sync();
    } catch (err) {
      await sink.settle();
      const local = sink.writeError ?? (isDiskFull(err) ? (err as NodeJS.ErrnoException) : null);
      if (local && isDiskFull(local)) throw diskFull(file.path, file.size - sink.position);
      if (local) throw new ClientError('INPUT', `Cannot write the download of ${file.path} in ${this.options.cacheDir} (${local.code ?? local.message}).`);
      if (aborted(this.options.signal)) throw abortError(this.options.signal);
      if (err instanceof ClientError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new ClientError('UNREACHABLE', `The download of ${file.path} was interrupted after ${sink.position} of ${file.size} bytes (${e.code ?? e.message}); run again to resume.`);
    }
    if (sink.position !== file.size) {
      throw new ClientError('UNREACHABLE', `The download of ${file.path} ended early (${sink.position} of ${file.size} bytes); run again to resume.`);
    }
    this.progress(file.path, true);
    let digest: string;
    try { digest = await hash.digest(file.size); } catch (err) {
      throw new ClientError('INPUT', `Cannot verify the download of ${file.path}: ${(err as Error).message}.`);
    }
    if (digest === file.sha256) return 'ok';
    return resumed ? 'mismatch-resumed' : 'mismatch';
  }

  /** Fails early when the cache's file system cannot hold the rest of the file. */
  private async checkSpace(file: ContentFileInfo, existing: number): Promise<void> {
    const needed = file.size - existing;
    if (needed <= 0) return;
    try {
      const fs = await statfs(this.options.cacheDir);
      if (fs.bavail * fs.bsize < needed) throw diskFull(file.path, needed);
    } catch (err) {
      if (err instanceof ClientError) throw err;
      // statfs is advisory; the writes report a full disk anyway.
    }
  }
}

/** Places the cached file at `target`: a hard link when possible, otherwise a copy. */
async function place(cached: string, target: string, file: ContentFileInfo): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  try {
    await link(cached, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') { await rm(target, { force: true }); return place(cached, target, file); }
    try {
      await copyFile(cached, target, fsConstants.COPYFILE_FICLONE);
    } catch (copyErr) {
      await rm(target, { force: true });
      if (isDiskFull(copyErr)) throw diskFull(file.path, file.size);
      throw copyErr;
    }
  }
}

/**
 * Fetches content version `reference` (`<guid>:<version>`, or `<guid>` for the highest active
 * version): every file is taken from the cache by hash or downloaded (resuming a partial download,
 * verifying its SHA-256), then the version's folder `<workDir>/<id>/<versionNo>` is made afresh with
 * the files at their relative paths. Inactive versions are refused. Failures are one-line ClientErrors
 * (a full disk: "Not enough disk space to download FILE (N bytes needed)"); a cancelled `signal` rejects
 * with its reason, leaving the partial download to resume next time.
 */
export async function fetchContentVersion(api: ApiClient, token: string, reference: string, options: FetchOptions): Promise<DownloadedContent> {
  const { id, versionNo } = parseReference(reference);
  const meta = await api.call<ContentVersionResponse>('GET', CONTENT_PATHS.version(id, versionNo), undefined, token);
  checkMetadata(meta);
  if (meta.status !== 'Active') {
    throw new ClientError('INPUT', `Content "${meta.name}" version ${meta.versionNo} is not active, so it is not deployed (activate it with: deployr content activate ${meta.contentItemId} ${meta.versionNo}).`);
  }
  if (meta.contentItemId?.toLowerCase() !== id || (versionNo !== 'active' && meta.versionNo !== versionNo) || !Number.isSafeInteger(meta.versionNo) || meta.versionNo < 1) {
    throw new ClientError('PROTOCOL', `The server answered for another content version than ${reference}.`);
  }
  const dir = resolve(options.workDir, id, String(meta.versionNo));
  const targets = meta.files.map((f) => ({ file: f, target: placeUnder(dir, f.path) }));
  await mkdir(options.cacheDir, { recursive: true });
  const total = meta.files.reduce((n, f) => n + f.size, 0);
  const fetcher = new VersionFetch(api, token, options, total);
  const cachedPaths = new Map<string, string>();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < meta.files.length) {
      if (aborted(options.signal)) throw abortError(options.signal);
      const file = meta.files[next++] as ContentFileInfo;
      cachedPaths.set(file.path, await fetcher.ensureCached(file));
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, meta.files.length) }, lane));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const files: DownloadedFile[] = [];
  for (const { file, target } of targets) {
    await place(cachedPaths.get(file.path) as string, target, file);
    files.push({ path: file.path, size: file.size, sha256: file.sha256, localPath: target });
  }
  return {
    id, versionNo: meta.versionNo, name: meta.name, purpose: meta.contentItemPurpose, type: meta.type,
    installationCommandLine: meta.installationCommandLine, dir, files,
  };
}
