// The writable end of a download: gathered positioned writes to the partial file, reported to the running hash, flushed to disk as it goes.

import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { ClientError } from '../api-client.js';
import type { RunningHash } from './running-hash.js';

/** While a large file is written, its data is flushed to disk every so often, so the final fsync has little left to do. */
const SYNC_EVERY = 128 * 1024 * 1024;
/** Bytes gathered before a write (the last write of a file may be shorter). */
const GATHER = 1024 * 1024;

/** A writable that writes chunks to `fh` at increasing positions (gathered writes), reports them to the hash, and flushes large files to disk as it goes. */
export class HashingFileSink extends Writable {
  /** The next file position (bytes written so far, counting the resumed prefix). */
  position: number;
  /** The local write error, when writing failed (as opposed to the network). */
  writeError: NodeJS.ErrnoException | null = null;

  private nextSync: number;
  private syncing: Promise<void> | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

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
    for (const { chunk } of chunks) { this.pending.push(chunk); this.pendingBytes += chunk.length; }
    if (this.position + this.pendingBytes > this.limit) { callback(new ClientError('PROTOCOL', `The server sent more bytes than the file has (${this.limit}).`)); return; }
    // Small TLS records are gathered into writes of at least GATHER bytes: fewer system calls, hash hand-overs and promises.
    if (this.pendingBytes < GATHER) { callback(); return; }
    this.flush().then(() => callback(), (err: Error) => callback(err));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.flush().then(() => callback(), (err: Error) => callback(err));
  }

  /** Writes what is gathered at the current position. */
  private async flush(): Promise<void> {
    const buffers = this.pending;
    const n = this.pendingBytes;
    if (n === 0) return;
    this.pending = [];
    this.pendingBytes = 0;
    const at = this.position;
    try {
      await writeAll(this.fh, buffers, at, n);
    } catch (err) {
      this.writeError = err as NodeJS.ErrnoException;
      throw err;
    }
    this.position = at + n;
    this.hash.wrote(buffers, this.position);
    if (this.position >= this.nextSync && !this.syncing) {
      this.nextSync = this.position + SYNC_EVERY;
      this.syncing = this.fh.datasync().finally(() => { this.syncing = null; });
      this.syncing.catch(() => undefined);
    }
    this.onBytes(n);
  }
}

/** Writes every byte of `buffers` at `position`, continuing after short writes. */
export async function writeAll(fh: FileHandle, buffers: Buffer[], position: number, total: number): Promise<void> {
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
