// Apply image: writes a raw disk image content item (as stored, or compressed with gzip or zstd) onto `TargetDevice` (a block device or a file), streamed from the server or read from the cache, hashed while written, then fsync.

import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { open, stat } from 'node:fs/promises';
import type { ContentFileInfo } from '../../api/contract.js';
import { ClientError } from '../api-client.js';
import { ImageWriteError, WRITE_BLOCK, writeImage, type ImageCompression } from '../content/image-writer.js';
import { refuseTarget } from './image-target.js';
import { contentSlot, failed, setting, type StepExecutor } from './types.js';

export { refuseTarget } from './image-target.js';

/** Room kept free in the cache beyond the image itself before Apply image prefers the cache to streaming. */
const CACHE_MARGIN = 64 * 1024 * 1024;
const PROGRESS_INTERVAL_MS = 100;

/**
 * How the image file is stored. The step's `Compression` setting wins (`none`, `gzip`, `zstd`; or a
 * format name `raw`, `raw+gzip`, `raw+zst`); empty: the content version's format; none stated: the
 * file's name (`.gz`, `.zst`); otherwise not compressed.
 */
export function imageCompression(settingValue: string, format: string | null | undefined, path: string): ImageCompression | { error: string } {
  const v = settingValue.trim().toLowerCase();
  const named: Record<string, ImageCompression> = { none: 'none', raw: 'none', gzip: 'gzip', 'raw+gzip': 'gzip', zstd: 'zstd', zst: 'zstd', 'raw+zst': 'zstd' };
  if (v !== '') {
    return named[v] ?? { error: `Compression "${settingValue.trim()}" is not supported (none, gzip or zstd; empty: the content's format, else from the file name)` };
  }
  if (format) {
    const fromFormat = named[format.toLowerCase()];
    if (!fromFormat) return { error: `the content's format "${format}" is not a disk image format this client knows (raw, raw+gzip, raw+zst)` };
    return fromFormat;
  }
  if (/\.gz$/i.test(path)) return 'gzip';
  if (/\.zstd?$/i.test(path)) return 'zstd';
  return 'none';
}

/** `DEPLOYR_APPLY_STREAM`: `1`/`yes`/`true`/`always` always streams, `0`/`no`/`false`/`never` never does; empty or `auto` decides. */
export function streamSetting(value: string | undefined): 'always' | 'never' | 'auto' | { error: string } {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'auto') return 'auto';
  if (['1', 'yes', 'true', 'always', 'on'].includes(v)) return 'always';
  if (['0', 'no', 'false', 'never', 'off'].includes(v)) return 'never';
  return { error: `DEPLOYR_APPLY_STREAM="${value ?? ''}" is not understood (1/always, 0/never, or auto)` };
}

/** Picks the image file: `ImageFile` when set, otherwise the version's only file. */
function pickFile<T extends { path: string }>(name: string, files: readonly T[], wanted: string): T | string {
  const file = wanted !== '' ? files.find((f) => f.path === wanted) : files.length === 1 ? files[0] : undefined;
  if (file) return file;
  return wanted !== '' ? `"${name}" has no file ${wanted}` : `"${name}" holds ${files.length} files; an image content item holds exactly one (or set ImageFile)`;
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Runs an Apply image step (`contentItems.Image`: a content item with one file; `TargetDevice`:
 * where to write it). The image streams from the server straight onto the target, without the
 * cache, in a boot environment, when `DEPLOYR_APPLY_STREAM` says so, or when the cache lacks room;
 * otherwise it goes through the cache as other content does (and a cached copy is reused).
 */
export const applyImage: StepExecutor = async (ctx) => {
  const target = setting(ctx.settings, 'TargetDevice').trim();
  if (target === '') return failed('the TargetDevice setting is empty');
  const slot = contentSlot(ctx.step, 'Image', true);
  if (!slot) return failed('no image content item is set (contentItems.Image)');
  const mode = streamSetting(process.env.DEPLOYR_APPLY_STREAM);
  if (typeof mode !== 'string') return failed(mode.error);
  const wanted = setting(ctx.settings, 'ImageFile').trim();
  const port = ctx.services.streamContent;

  // Decide where the bytes come from: the server directly, or the cache.
  let image: { file: ContentFileInfo & { localPath?: string }; name: string; format: string | null | undefined } | null = null;
  let streamReason: string | null = null;
  if (port && mode !== 'never') {
    const meta = await port.version(slot[1]);
    const picked = pickFile(meta.name, meta.files, wanted);
    if (typeof picked === 'string') return failed(picked);
    image = { file: picked, name: meta.name, format: meta.format };
    const room = await port.cacheRoom(picked);
    if (mode === 'always') streamReason = 'DEPLOYR_APPLY_STREAM is set';
    else if (!room.cached && (ctx.variables.get('_DEPLOYRCONTEXT') ?? '').toLowerCase() === 'boot') streamReason = 'boot environment: the system is in RAM';
    else if (!room.cached && room.free !== null && room.free < picked.size - room.partial + CACHE_MARGIN) streamReason = `the cache has ${mib(room.free)} free, the image needs ${mib(picked.size)}`;
  }
  if (!streamReason || !image) {
    const content = await ctx.services.fetchContent(slot[1]);
    const picked = pickFile(content.name, content.files, wanted);
    if (typeof picked === 'string') return failed(picked);
    image = { file: picked, name: content.name, format: content.format };
    streamReason = null;
  }
  const { file, name } = image;
  const compression = imageCompression(setting(ctx.settings, 'Compression'), image.format, file.path);
  if (typeof compression !== 'string') return failed(compression.error);
  // A compressed image's size on the target is only known once it is written (a device too small then fails while writing).
  const refusal = await refuseTarget(target, compression === 'none' ? file.size : 0);
  if (refusal) return failed(refusal);

  const how = compression === 'none' ? '' : `, ${compression}-compressed: decompressed while writing`;
  ctx.say(`Writing ${file.path} of "${name}" (${file.size} bytes${how}) to ${target}, ${streamReason ? `streamed from the server (${streamReason})` : 'from the cache'}`);
  const source: Readable = streamReason && port
    ? port.stream(file, { signal: ctx.signal, onRetry: (line) => ctx.say(line) })
    : createReadStream(file.localPath as string, { highWaterMark: WRITE_BLOCK, signal: ctx.signal });
  // A device, or an existing file standing in for one, is written in place (a longer one keeps its tail); a new file is created.
  const exists = await stat(target).then(() => true, () => false);
  const out = await open(target, exists ? 'r+' : 'w', 0o644);
  const started = Date.now();
  let lastReport = 0;
  const report = (read: number, force = false): void => {
    const now = Date.now();
    if (!force && now - lastReport < PROGRESS_INTERVAL_MS) return;
    lastReport = now;
    const seconds = (now - started) / 1000;
    ctx.progress({ file: `writing ${target}`, received: read, total: file.size, bytesPerSecond: seconds > 0 ? read / seconds : 0 });
  };
  let result;
  try {
    result = await writeImage(source, out, { compression, onRead: (read) => report(read) });
  } catch (err) {
    if (err instanceof ImageWriteError) {
      if (err.kind === 'full') return failed(`${err.message.replace(/^the target/, `the target ${target}`)}; the target is not usable`);
      if (err.kind === 'no-zstd') return failed(err.message);
      return failed(`${err.message}; the target is not usable`);
    }
    if (err instanceof ClientError) return failed(`${err.message.replace(/\.$/, '')}; the target is not usable`);
    throw err;
  } finally {
    await out.close();
  }
  report(result.read, true);
  if (result.read !== file.size) return failed(`read ${result.read} bytes, but the image has ${file.size}; the target is not usable`);
  if (result.sha256 !== file.sha256.toLowerCase()) return failed(`the image's SHA-256 does not match (got ${result.sha256}, expected ${file.sha256}); the target is not usable`);
  ctx.say(compression === 'none'
    ? `Wrote ${result.written} bytes to ${target}; SHA-256 ${result.sha256} verified.`
    : `Wrote ${result.written} bytes (decompressed from ${result.read}) to ${target}; the image's SHA-256 ${result.sha256}${compression === 'gzip' ? " and gzip's CRC-32" : ''} verified.`);
  return { status: 'succeeded', exitCode: 0 };
};
