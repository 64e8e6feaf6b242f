// Apply image: writes a raw (or gzip-compressed) disk image content item onto `TargetDevice` (a block device or a file), hashing while writing, then fsync.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { contentSlot, failed, setting, type StepExecutor } from './types.js';

/** Bytes read and written at a time. */
const CHUNK = 4 * 1024 * 1024;

/** `major:minor` of a device number (Linux encoding). */
function majorMinor(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

async function readText(file: string): Promise<string | null> {
  try { return await readFile(file, 'utf8'); } catch { return null; }
}

/** The device and its partitions as `major:minor`, and whether any of them is held (LVM, RAID, dm-crypt). */
async function deviceFamily(dev: string): Promise<{ ids: Set<string>; held: boolean; sectors: number | null }> {
  const ids = new Set([dev]);
  const base = `/sys/dev/block/${dev}`;
  let held = ((await readdir(join(base, 'holders')).catch(() => [])).length > 0);
  const sectors = Number((await readText(join(base, 'size')))?.trim() ?? NaN);
  for (const entry of await readdir(base).catch(() => [] as string[])) {
    const id = (await readText(join(base, entry, 'dev')))?.trim();
    if (id && (await readText(join(base, entry, 'partition'))) !== null) {
      ids.add(id);
      if ((await readdir(join(base, entry, 'holders')).catch(() => [])).length > 0) held = true;
    }
  }
  return { ids, held, sectors: Number.isFinite(sectors) ? sectors : null };
}

/**
 * Why `target` must not be written, or null when it may be: a mounted filesystem's device (or a
 * partition of it), a device in use by LVM/RAID/dm or as swap, a directory, or a device smaller than the image.
 */
export async function refuseTarget(target: string, imageSize: number): Promise<string | null> {
  let st;
  try {
    st = await stat(target, { bigint: true });
  } catch {
    return null; // a new file
  }
  if (st.isDirectory()) return `the target ${target} is a directory`;
  if (!st.isBlockDevice()) return st.isFile() || st.isCharacterDevice() ? null : `the target ${target} is neither a file nor a block device`;
  if (process.platform !== 'linux') return null;
  const family = await deviceFamily(majorMinor(st.rdev));
  const mountinfo = (await readText('/proc/self/mountinfo')) ?? '';
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields[2] && family.ids.has(fields[2])) return `the target ${target} holds a mounted filesystem (${fields[4] ?? '?'}); unmount it first`;
  }
  const real = await realpath(target);
  for (const line of ((await readText('/proc/swaps')) ?? '').split('\n').slice(1)) {
    const dev = line.split(/\s+/)[0];
    if (dev && (dev === real || dev.startsWith(real))) return `the target ${target} is in use as swap`;
  }
  if (family.held) return `the target ${target} is in use (LVM, RAID or device-mapper)`;
  if (family.sectors !== null && family.sectors * 512 < imageSize) return `the target ${target} (${family.sectors * 512} bytes) is smaller than the image (${imageSize} bytes)`;
  return null;
}

/** How the image file is stored: the `Compression` setting (`none` or `gzip`), or by default gzip when its name ends in `.gz`. */
export function imageCompression(settingValue: string, path: string): 'none' | 'gzip' | { error: string } {
  const v = settingValue.trim().toLowerCase();
  if (v === '') return /\.gz$/i.test(path) ? 'gzip' : 'none';
  if (v === 'none' || v === 'gzip') return v;
  return { error: `Compression "${settingValue.trim()}" is not supported (none or gzip; empty: gzip when the file name ends in .gz)` };
}

/** Runs an Apply image step (`contentItems.Image`: a content item with one file; `TargetDevice`: where to write it). */
export const applyImage: StepExecutor = async (ctx) => {
  const target = setting(ctx.settings, 'TargetDevice').trim();
  if (target === '') return failed('the TargetDevice setting is empty');
  const slot = contentSlot(ctx.step, 'Image', true);
  if (!slot) return failed('no image content item is set (contentItems.Image)');
  const content = await ctx.services.fetchContent(slot[1]);
  const wanted = setting(ctx.settings, 'ImageFile').trim();
  const file = wanted !== '' ? content.files.find((f) => f.path === wanted) : content.files.length === 1 ? content.files[0] : undefined;
  if (!file) return failed(wanted !== '' ? `"${content.name}" has no file ${wanted}` : `"${content.name}" holds ${content.files.length} files; an image content item holds exactly one (or set ImageFile)`);
  const compression = imageCompression(setting(ctx.settings, 'Compression'), file.path);
  if (typeof compression !== 'string') return failed(compression.error);
  // A compressed image's size on the target is only known once it is written (a device too small then fails while writing).
  const refusal = await refuseTarget(target, compression === 'gzip' ? 0 : file.size);
  if (refusal) return failed(refusal);

  ctx.say(`Writing ${file.path} (${file.size} bytes${compression === 'gzip' ? ', gzip-compressed: decompressed while writing' : ''}) to ${target}`);
  const isBlock = await stat(target).then((s) => s.isBlockDevice(), () => false);
  const out = await open(target, isBlock ? 'r+' : 'w', 0o644);
  // The content file's SHA-256 is checked over the bytes read (compressed or not); gzip adds its own CRC-32 of the written bytes.
  const hash = createHash('sha256');
  const writtenHash = createHash('sha256');
  const started = Date.now();
  let read = 0;
  let written = 0;
  const source = createReadStream(file.localPath, { highWaterMark: CHUNK, signal: ctx.signal });
  const hashRead = async function* (data: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of data) {
      hash.update(chunk);
      read += chunk.length;
      yield chunk;
    }
  };
  const writeAll = async (data: AsyncIterable<Buffer>): Promise<void> => {
    for await (const buf of data) {
      writtenHash.update(buf);
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await out.write(buf, off, buf.length - off, written + off);
        off += bytesWritten;
      }
      written += buf.length;
      const seconds = (Date.now() - started) / 1000;
      ctx.progress({ file: `writing ${target}`, received: read, total: file.size, bytesPerSecond: seconds > 0 ? read / seconds : 0 });
    }
  };
  try {
    if (compression === 'gzip') await pipeline(source, hashRead, createGunzip({ chunkSize: CHUNK }), writeAll);
    else await pipeline(source, hashRead, writeAll);
    await out.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || /unexpected end of file/i.test((err as Error).message)) {
      return failed(`the compressed image is damaged (${(err as Error).message}) after ${written} bytes were written; the target is not usable`);
    }
    if (code === 'ENOSPC' || code === 'EFBIG') return failed(`the target ${target} is full after ${written} bytes: it is smaller than the image; the target is not usable`);
    throw err;
  } finally {
    await out.close();
  }
  const digest = hash.digest('hex');
  if (read !== file.size) return failed(`read ${read} bytes, but the image has ${file.size}`);
  if (digest !== file.sha256.toLowerCase()) return failed(`the image's SHA-256 does not match while writing (got ${digest}, expected ${file.sha256}); the target is not usable`);
  ctx.say(compression === 'gzip'
    ? `Wrote ${written} bytes (decompressed from ${read}) to ${target}; the image's SHA-256 ${digest} and gzip's CRC-32 verified; SHA-256 of what was written: ${writtenHash.digest('hex')}.`
    : `Wrote ${written} bytes to ${target}; SHA-256 ${digest} verified.`);
  return { status: 'succeeded', exitCode: 0 };
};
