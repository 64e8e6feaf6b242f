// Apply image: writes a raw disk image content item onto `TargetDevice` (a block device or a file), hashing while writing, then fsync.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
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
  const refusal = await refuseTarget(target, file.size);
  if (refusal) return failed(refusal);

  ctx.say(`Writing ${file.path} (${file.size} bytes) to ${target}`);
  const isBlock = await stat(target).then((s) => s.isBlockDevice(), () => false);
  const out = await open(target, isBlock ? 'r+' : 'w', 0o644);
  const hash = createHash('sha256');
  const started = Date.now();
  let written = 0;
  try {
    for await (const chunk of createReadStream(file.localPath, { highWaterMark: CHUNK, signal: ctx.signal })) {
      const buf = chunk as Buffer;
      hash.update(buf);
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await out.write(buf, off, buf.length - off, written + off);
        off += bytesWritten;
      }
      written += buf.length;
      const seconds = (Date.now() - started) / 1000;
      ctx.progress({ file: `writing ${target}`, received: written, total: file.size, bytesPerSecond: seconds > 0 ? written / seconds : 0 });
    }
    await out.sync();
  } finally {
    await out.close();
  }
  const digest = hash.digest('hex');
  if (written !== file.size) return failed(`wrote ${written} bytes, but the image has ${file.size}`);
  if (digest !== file.sha256.toLowerCase()) return failed(`the image's SHA-256 does not match while writing (got ${digest}, expected ${file.sha256}); the target is not usable`);
  ctx.say(`Wrote ${written} bytes to ${target}; SHA-256 ${digest} verified.`);
  return { status: 'succeeded', exitCode: 0 };
};
