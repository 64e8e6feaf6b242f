// Sends a byte range of a stored blob as a response body through a pool of reused read buffers, so serving a file makes no garbage.

import type { ServerResponse } from 'node:http';
import type { BlobReader } from '../engine/ports.js';

/** Bytes read from the blob, and written to the connection, at a time (large writes keep TLS efficient). */
export const SEND_CHUNK = 1024 * 1024;
/** Idle buffers kept for the next responses; more are allocated while more responses are running. */
const POOL_MAX = 32;

/**
 * Idle read buffers. A fresh 1 MiB buffer per chunk (what a read stream does) makes V8 run a full
 * mark of the heap for about every 64 MiB sent, which cost more CPU than the TLS encryption itself.
 */
const pool: Buffer[] = [];

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(SEND_CHUNK);
}

function giveBuffer(buffer: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buffer);
}

/** Idle buffers in the pool (for tests). */
export function pooledBuffers(): number {
  return pool.length;
}

/**
 * Writes bytes `start`..`end` (inclusive) of `reader` to `res`, ends it and closes the reader. The
 * next chunk is read while the previous one is written; a buffer returns to the pool only once its
 * write has completed, and only the bytes read into it are ever written. A read error, or a file
 * shorter than `end`, destroys the connection (the client sees a short body and resumes with Range);
 * `onError` hears why. A connection closed by the client stops it.
 */
export function sendBlob(res: ServerResponse, reader: BlobReader, start: number, end: number, onError: (err: Error) => void): void {
  new BlobSender(res, reader, start, end + 1, onError).start();
}

/** One response's read-ahead-by-one pump. */
class BlobSender {
  /** The next file position to read. */
  private position: number;
  /** A chunk read and not yet written. */
  private ready: { buffer: Buffer; length: number } | null = null;
  private reading = false;
  private writing = false;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly reader: BlobReader,
    start: number,
    /** Exclusive. */
    private readonly end: number,
    private readonly onError: (err: Error) => void,
  ) {
    this.position = start;
    res.once('close', () => this.finish());
  }

  start(): void {
    if (this.position >= this.end) { this.res.end(); this.finish(); return; }
    this.readAhead();
  }

  private readAhead(): void {
    if (this.done || this.reading || this.ready || this.position >= this.end) return;
    this.reading = true;
    const buffer = takeBuffer();
    this.reader.read(buffer, Math.min(buffer.length, this.end - this.position), this.position).then((length) => {
      this.reading = false;
      if (this.done) { giveBuffer(buffer); return; }
      if (length <= 0) { giveBuffer(buffer); this.fail(new Error(`the content file ended at byte ${this.position}, before the ${this.end} bytes announced`)); return; }
      this.position += length;
      this.ready = { buffer, length };
      this.writeReady();
    }, (err: Error) => {
      this.reading = false;
      giveBuffer(buffer);
      this.fail(err);
    });
  }

  private writeReady(): void {
    if (this.done || this.writing || !this.ready) return;
    const { buffer, length } = this.ready;
    this.ready = null;
    this.writing = true;
    this.res.write(buffer.subarray(0, length), (err) => {
      this.writing = false;
      // A failed write may still hold the buffer somewhere: it is left to the garbage collector.
      if (err) { this.finish(); return; }
      giveBuffer(buffer);
      if (this.position >= this.end && !this.reading && !this.ready) { this.res.end(); this.finish(); return; }
      this.writeReady();
      this.readAhead();
    });
    this.readAhead();
  }

  private fail(err: Error): void {
    if (this.done) return;
    this.onError(err);
    this.res.destroy(err);
    this.finish();
  }

  /** Stops and closes the reader (idempotent: also on the response's close). */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.ready) { giveBuffer(this.ready.buffer); this.ready = null; }
    this.reader.close().catch(() => undefined);
  }
}
