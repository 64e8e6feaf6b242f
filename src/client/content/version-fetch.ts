// Fetching one content version's files into the client's cache: cached files reused, others downloaded (shared, locked, resumed with Range, verified, retried).

import { chmod, open, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CONTENT_PATHS, type ContentFileInfo } from '../../api/contract.js';
import { ClientError, type ApiClient, type DownloadResponse } from '../api-client.js';
import { lockCacheFile } from '../cache-lock.js';
import { abortError, aborted, delay, diskFull, errorMessage, isDiskFull } from './download-errors.js';
import { HashingFileSink } from './file-sink.js';
import { hashFile, inlineHash, workerHash, WORKER_HASH_MIN, type RunningHash } from './running-hash.js';
import type { FetchOptions } from './types.js';

/** Attempts per file when the connection fails (each resumes from what was written). */
const ATTEMPTS = 3;
const RETRY_DELAYS_MS = [1000, 3000];
const PROGRESS_INTERVAL_MS = 100;

/** Cache files already hashed by this process, keyed by path, with the identity they had then. */
const verifiedCache = new Map<string, string>();
/** Downloads in flight in this process, by cache path (two files, or two fetches, with one hash share one download). */
const inFlight = new Map<string, Promise<void>>();

function identity(s: { ino: number; size: number; mtimeMs: number }): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | null = null;
  try { fh = await open(dir, 'r'); await fh.sync(); } catch { /* best effort */ } finally { await fh?.close(); }
}

/** Fetches one version's files into the cache (one per `fetchContentVersion` call). */
export class VersionFetch {
  private received = 0;
  /** A file was renamed into the cache folder since the folder was last synced. */
  private renamed = false;
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

  /** Makes the renames of this fetch durable: one sync of the cache folder. */
  async finish(): Promise<void> {
    if (!this.renamed) return;
    this.renamed = false;
    await syncDir(this.options.cacheDir);
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
    // The folder is synced once per fetch (finish), not per file: a rename lost in a crash leaves a complete
    // `.partial` file, which the next fetch verifies and renames without downloading it again.
    this.renamed = true;
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
