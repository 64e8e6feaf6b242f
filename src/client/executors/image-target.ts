// Which targets Apply image refuses: a directory, a device holding a mounted filesystem (or a partition of it), swap, LVM/RAID/dm members, a device smaller than the image.

import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';

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
