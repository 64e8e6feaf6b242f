// Writing a disk image onto a device or file as it arrives: SHA-256 of the bytes as stored, decompression (gzip in-process, zstd by the zstd program), large aligned writes, flushed as it goes.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Duplex, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { writeAll } from './file-sink.js';

/** How the image's bytes are stored: as they go to the disk, or compressed. */
export type ImageCompression = 'none' | 'gzip' | 'zstd';

/** Bytes per write: writes start at multiples of it (only the last one is shorter). */
export const WRITE_BLOCK = 4 * 1024 * 1024;
/** Written data is flushed to the device every so often, so dirty pages (RAM, in a boot environment) stay bounded and the final fsync is short. */
const SYNC_EVERY = 256 * 1024 * 1024;

/** Why writing an image failed, for a one-line message: the target is full, a write failed, the compressed data is damaged, or the zstd program is missing. */
export class ImageWriteError extends Error {
  constructor(readonly kind: 'full' | 'write' | 'damaged' | 'no-zstd', message: string, readonly written: number) {
    super(message);
    this.name = 'ImageWriteError';
  }
}

/** What was written. */
export interface ImageWriteResult {
  /** Bytes read from the source (as stored: compressed or not). */
  read: number;
  /** Bytes written to the target. */
  written: number;
  /** SHA-256 (hex) of the bytes read, i.e. of the content file as the server stores and hashes it. */
  sha256: string;
}

/** A writable that writes at increasing positions from 0 in blocks of WRITE_BLOCK (gathered, without copying), flushing to the device every SYNC_EVERY bytes. */
class AlignedWriter extends Writable {
  position = 0;
  writeError: NodeJS.ErrnoException | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private nextSync = SYNC_EVERY;
  private syncing: Promise<void> | null = null;

  constructor(private readonly fh: FileHandle) {
    super({ highWaterMark: 4 * WRITE_BLOCK });
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    for (const { chunk } of chunks) { this.pending.push(chunk); this.pendingBytes += chunk.length; }
    const whole = this.pendingBytes - (this.pendingBytes % WRITE_BLOCK);
    if (whole === 0) { callback(); return; }
    this.flush(whole).then(() => callback(), (err: Error) => callback(err));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.flush(this.pendingBytes).then(() => this.syncing?.catch(() => undefined)).then(() => callback(), (err: Error) => callback(err));
  }

  /** Waits for a background flush still running. */
  async settle(): Promise<void> {
    await this.syncing?.catch(() => undefined);
  }

  /** Writes the first `n` pending bytes at the current position. */
  private async flush(n: number): Promise<void> {
    if (n === 0) return;
    const out: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const b = this.pending[0] as Buffer;
      if (b.length <= need) { out.push(b); this.pending.shift(); need -= b.length; } else { out.push(b.subarray(0, need)); this.pending[0] = b.subarray(need); need = 0; }
    }
    this.pendingBytes -= n;
    try {
      await writeAll(this.fh, out, this.position, n);
    } catch (err) {
      this.writeError = err as NodeJS.ErrnoException;
      throw err;
    }
    this.position += n;
    if (this.position >= this.nextSync && !this.syncing) {
      this.nextSync = this.position + SYNC_EVERY;
      this.syncing = this.fh.datasync().finally(() => { this.syncing = null; });
      this.syncing.catch(() => undefined);
    }
  }
}

function isFull(err: NodeJS.ErrnoException | null): boolean {
  return err?.code === 'ENOSPC' || err?.code === 'EFBIG' || err?.code === 'EDQUOT';
}

/** The `zstd -d` child as a duplex stream, with its exit and the start of what it says on standard error. */
function zstdDecoder(): { duplex: Duplex; exited: Promise<{ code: number | null; stderr: string; spawnError: NodeJS.ErrnoException | null }>; kill: () => void } {
  const child = spawn('zstd', ['-d', '-c', '-q', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let spawnError: NodeJS.ErrnoException | null = null;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (t: string) => { if (stderr.length < 2000) stderr += t; });
  child.stdin.on('error', () => undefined); // EPIPE when zstd stops early: its exit code says why
  const exited = new Promise<{ code: number | null; stderr: string; spawnError: NodeJS.ErrnoException | null }>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => { spawnError = err; resolve({ code: null, stderr, spawnError }); });
    child.once('close', (code) => resolve({ code, stderr, spawnError }));
  });
  return { duplex: Duplex.from({ writable: child.stdin, readable: child.stdout }), exited, kill: () => { child.kill('SIGKILL'); } };
}

function firstLine(text: string): string {
  return (text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '').replace(/^zstd:\s*/, '').replace(/^\/\*stdin\*\\?\s*:\s*/, '').slice(0, 300);
}

/**
 * Writes the image from `source` (its bytes as stored) onto `fh` from offset 0, decompressing
 * `gzip` in-process (node:zlib) or `zstd` with the `zstd` program, hashing what is read with
 * SHA-256 on the way, in writes of WRITE_BLOCK at block-aligned offsets, then `fsync`. Failures of
 * the target or of the compressed data are ImageWriteErrors; failures of the source (the network)
 * pass through as they are.
 */
export async function writeImage(source: Readable, fh: FileHandle, o: { compression: ImageCompression; onRead?: (read: number, written: number) => void }): Promise<ImageWriteResult> {
  const hash = createHash('sha256');
  let read = 0;
  const writer = new AlignedWriter(fh);
  // A second 'data' listener beside the pipe: every buffer is hashed as it passes, with no extra stage (and no promise) per buffer.
  source.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    read += chunk.length;
    o.onRead?.(read, writer.position);
  });
  const zstd = o.compression === 'zstd' ? zstdDecoder() : null;
  try {
    if (o.compression === 'none') await pipeline(source, writer);
    else if (o.compression === 'gzip') await pipeline(source, createGunzip({ chunkSize: 1024 * 1024 }), writer);
    else if (zstd) await pipeline(source, zstd.duplex, writer);
    if (zstd) {
      const end = await zstd.exited;
      if (end.code !== 0) throw new ImageWriteError('damaged', `the compressed image is damaged (zstd: ${firstLine(end.stderr) || `exit code ${end.code}`}) after ${writer.position} bytes were written`, writer.position);
    }
    await writer.settle();
    await fh.sync();
  } catch (err) {
    await writer.settle();
    if (err instanceof ImageWriteError) throw err;
    if (writer.writeError) {
      zstd?.kill();
      const e = writer.writeError;
      throw isFull(e)
        ? new ImageWriteError('full', `the target is full after ${writer.position} bytes were written (${e.code}): it is smaller than the image`, writer.position)
        : new ImageWriteError('write', `writing the target failed after ${writer.position} bytes (${e.code ?? e.message})`, writer.position);
    }
    if (isFull(err as NodeJS.ErrnoException)) {
      throw new ImageWriteError('full', `the target is full after ${writer.position} bytes were written (${(err as NodeJS.ErrnoException).code}): it is smaller than the image`, writer.position);
    }
    if (zstd) {
      // zstd may have stopped on damaged data (we then see EPIPE or an early end); give it a moment to say so.
      const end = await Promise.race([zstd.exited, new Promise<null>((r) => setTimeout(() => r(null), 2000).unref())]);
      zstd.kill();
      if (end?.spawnError?.code === 'ENOENT') throw new ImageWriteError('no-zstd', 'a raw+zst image needs the zstd program, which is not installed here (Debian/Ubuntu package zstd)', writer.position);
      if (end && end.code !== 0 && end.code !== null && end.stderr.trim() !== '') {
        throw new ImageWriteError('damaged', `the compressed image is damaged (zstd: ${firstLine(end.stderr)}) after ${writer.position} bytes were written`, writer.position);
      }
    }
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (o.compression === 'gzip' && (code.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/i.test((err as Error).message))) {
      throw new ImageWriteError('damaged', `the compressed image is damaged (${(err as Error).message}) after ${writer.position} bytes were written`, writer.position);
    }
    throw err;
  }
  return { read, written: writer.position, sha256: hash.digest('hex') };
}
