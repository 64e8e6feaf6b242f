// SHA-256 of content files: of a whole file, or running while a download is written (inline, or by a worker thread reading behind the writer).

import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

const READ_CHUNK = 4 * 1024 * 1024;
/** Files at least this big are hashed by a worker thread reading behind the writer, so hashing does not slow the receiving thread. */
export const WORKER_HASH_MIN = 32 * 1024 * 1024;

/** Hashes the first `length` bytes of a file. */
export async function hashPrefix(fh: FileHandle, length: number, hash: Hash): Promise<void> {
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
export async function hashFile(path: string, size: number): Promise<string> {
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

/** The SHA-256 of a file being written: fed inline, or computed by a worker thread that reads the file behind the writer. */
export interface RunningHash {
  /** `buffers` were just written, and bytes [0, upTo) of the file are now in place. */
  wrote(buffers: Buffer[], upTo: number): void;
  /** The digest of the first `size` bytes, once they are written. */
  digest(size: number): Promise<string>;
  /** Stops hashing (the download failed). */
  cancel(): void;
}

/** Hashes on this thread: the first `existing` bytes are read back from the file, later bytes as they are written. */
export async function inlineHash(fh: FileHandle, existing: number): Promise<RunningHash> {
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
const state = new BigInt64Array(workerData.state); // [written, final size or -1, cancelled, wake me when written reaches this (0: awake)]
const hash = createHash('sha256');
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
// Reads of at least 1 MiB (except at the end): fewer wake-ups, system calls and hash calls.
const MIN_READ = 1024 * 1024;
let fd = -1;
let pos = 0;
try {
  fd = openSync(workerData.path, 'r');
  for (;;) {
    if (Atomics.load(state, 2) !== 0n) break;
    const written = Number(Atomics.load(state, 0));
    const size = Atomics.load(state, 1);
    if (written - pos >= MIN_READ || (size >= 0n && pos < written)) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, written - pos), pos);
      if (n === 0) throw new Error('the file is shorter than was written');
      hash.update(buf.subarray(0, n));
      pos += n;
      continue;
    }
    if (size >= 0n && pos >= Number(size)) { parentPort.postMessage({ digest: hash.digest('hex') }); break; }
    // Ask to be woken once a whole read is there; the writer then notifies (and only then).
    Atomics.store(state, 3, BigInt(pos + MIN_READ));
    const now = Atomics.load(state, 0);
    if (Number(now) - pos < MIN_READ && Atomics.load(state, 1) < 0n) Atomics.wait(state, 0, now, 200);
    Atomics.store(state, 3, 0n);
  }
} catch (err) {
  parentPort.postMessage({ error: String((err && err.message) || err) });
} finally {
  if (fd >= 0) closeSync(fd);
}
`;

/** Hashes `path` in a worker thread that follows the writer (it starts with the first `existing` bytes). */
export function workerHash(path: string, existing: number): RunningHash {
  const state = new BigInt64Array(new SharedArrayBuffer(4 * 8));
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
    wrote: (_buffers, upTo) => {
      Atomics.store(state, 0, BigInt(upTo));
      // A futex wake per write cost more than the hash itself; the worker says when it wants one.
      const want = Atomics.load(state, 3);
      if (want > 0n && BigInt(upTo) >= want) Atomics.notify(state, 0);
    },
    digest: async (size) => {
      Atomics.store(state, 1, BigInt(size));
      Atomics.notify(state, 0);
      try { return await result; } finally { void worker.terminate(); }
    },
    cancel: () => { Atomics.store(state, 2, 1n); Atomics.notify(state, 0); void worker.terminate(); },
  };
}
