// The content library's file store on local disk: each file at <root>/blobs/<aa>/<sha256>, written to a temp file, fsynced, then renamed.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DeployrError } from '../domain/errors.js';
import type { BlobInfo, BlobReader, ContentBlobStore } from '../engine/ports.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Bytes read and written per step when copying a file in. */
const COPY_CHUNK = 4 * 1024 * 1024;

/** Opens (creating when needed) a blob store under `root` (normally `<home>/content`). */
export function createFsBlobStore(root: string): FsBlobStore {
  return new FsBlobStore(root);
}

/** Fsyncs a folder so a rename inside it survives a crash (best effort where folders cannot be opened). */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | null = null;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms cannot fsync a folder; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

/** A content-addressed store in a local folder. */
export class FsBlobStore implements ContentBlobStore {
  private readonly blobsDir: string;
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs');
    this.tmpDir = join(root, 'tmp');
  }

  /** The final file of a blob; refuses anything but 64 lower-case hex digits, so no other path can be named. */
  private blobFile(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new DeployrError('INVALID_INPUT', 'A content hash is 64 lower-case hex digits.');
    return join(this.blobsDir, sha256.slice(0, 2), sha256);
  }

  async putFile(sourcePath: string): Promise<BlobInfo> {
    const source = await open(sourcePath, 'r');
    try {
      const info = await source.stat();
      if (!info.isFile()) throw new DeployrError('INVALID_INPUT', `${sourcePath} is not a regular file.`);
      return await this.write(async (sink) => {
        const buffer = Buffer.allocUnsafe(COPY_CHUNK);
        for (;;) {
          const { bytesRead } = await source.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) break;
          await sink(buffer.subarray(0, bytesRead));
        }
      });
    } finally {
      await source.close();
    }
  }

  async putStream(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<BlobInfo> {
    return this.write(async (sink) => {
      for await (const chunk of source) await sink(chunk);
    });
  }

  /** Writes to a temp file while hashing, fsyncs, then renames it to its hash (or drops it when already stored). */
  private async write(produce: (sink: (chunk: Uint8Array) => Promise<void>) => Promise<void>): Promise<BlobInfo> {
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    const tmp = join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
    const hash = createHash('sha256');
    let size = 0;
    // Owner-only, like everything under the home (the service reads the library; nobody else needs to).
    const out = await open(tmp, 'wx', 0o600);
    let renamed = false;
    try {
      await produce(async (chunk) => {
        hash.update(chunk);
        size += chunk.length;
        let offset = 0;
        while (offset < chunk.length) {
          const { bytesWritten } = await out.write(chunk, offset, chunk.length - offset, null);
          offset += bytesWritten;
        }
      });
      await out.sync();
      await out.close();
      const sha256 = hash.digest('hex');
      const final = this.blobFile(sha256);
      const existing = await stat(final).catch(() => null);
      if (existing?.isFile() && existing.size === size) {
        // Added again: its time moves on, so that a garbage collection running meanwhile keeps it.
        const now = new Date();
        await utimes(final, now, now);
        return { sha256, size };
      }
      await mkdir(dirname(final), { recursive: true, mode: 0o700 });
      await rename(tmp, final);
      renamed = true;
      await syncDir(dirname(final));
      return { sha256, size };
    } catch (err) {
      await out.close().catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new DeployrError('UNAVAILABLE', `Not enough disk space in the content library (${this.root}).`);
      throw err;
    } finally {
      if (!renamed) await rm(tmp, { force: true });
    }
  }

  async stat(sha256: string): Promise<{ size: number } | null> {
    try {
      const s = await stat(this.blobFile(sha256));
      return s.isFile() ? { size: s.size } : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async exists(sha256: string): Promise<boolean> {
    return (await this.stat(sha256)) !== null;
  }

  async openReader(sha256: string): Promise<BlobReader> {
    const fh = await open(this.blobFile(sha256), 'r');
    return {
      read: async (buffer, length, position) => (await fh.read(buffer, 0, length, position)).bytesRead,
      close: () => fh.close(),
    };
  }

  /** The blob's file under the store's folder (whether or not it exists). */
  localPath(sha256: string): string {
    return this.blobFile(sha256);
  }

  async list(): Promise<{ sha256: string; size: number; modifiedAt: number }[]> {
    const found: { sha256: string; size: number; modifiedAt: number }[] = [];
    for (const prefix of await readdir(this.blobsDir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const name of await readdir(join(this.blobsDir, prefix)).catch(() => [] as string[])) {
        if (!SHA256_HEX.test(name) || !name.startsWith(prefix)) continue;
        const s = await stat(join(this.blobsDir, prefix, name)).catch(() => null);
        if (s?.isFile()) found.push({ sha256: name, size: s.size, modifiedAt: s.mtimeMs });
      }
    }
    return found;
  }

  async remove(sha256: string, unlessSince: number): Promise<boolean> {
    const file = this.blobFile(sha256);
    const s = await stat(file).catch(() => null);
    if (!s?.isFile() || s.mtimeMs >= unlessSince) return false;
    await rm(file, { force: true });
    return true;
  }

  async removeAbandoned(before: number): Promise<{ files: number; bytes: number }> {
    let files = 0;
    let bytes = 0;
    for (const name of await readdir(this.tmpDir).catch(() => [] as string[])) {
      if (!name.endsWith('.tmp')) continue;
      const path = join(this.tmpDir, name);
      const s = await stat(path).catch(() => null);
      if (!s?.isFile() || s.mtimeMs >= before) continue;
      await rm(path, { force: true });
      files += 1;
      bytes += s.size;
    }
    return { files, bytes };
  }
}
