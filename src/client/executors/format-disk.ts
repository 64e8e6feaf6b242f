// Format disk: writes a GPT or MBR partition table with sfdisk onto `TargetDevice` (a block device or a disk image file) and makes the filesystems, refusing a disk in use.

import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { refuseTarget } from './apply-image.js';
import { describeExit, failed, setting, type StepContext, type StepExecutor, type StepOutcome } from './types.js';

/** One partition of the layout. */
export interface PartitionSpec {
  /** Size in bytes, or null for the rest of the disk (the last partition only). */
  readonly size: number | null;
  /** A type name (efi, linux, swap, bios, data, lvm) or a raw sfdisk type (a GUID on GPT, hex on MBR). */
  readonly type: string;
  /** ext2, ext3, ext4, vfat or swap; null for none. */
  readonly filesystem: string | null;
  readonly label: string;
}

/** Partition types by name: [GPT, MBR] as sfdisk writes them. */
const TYPES: Readonly<Record<string, readonly [string, string | null]>> = {
  efi: ['C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'ef'],
  linux: ['0FC63DAF-8483-4772-8E79-3D69D8477DE4', '83'],
  swap: ['0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', '82'],
  bios: ['21686148-6449-6E6F-744E-656564454649', null],
  data: ['EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', '07'],
  lvm: ['E6D6D379-F507-44C2-A23C-238F2A3DF928', '8e'],
};

/** Filesystems this step makes (on a file target too: mkfs writes at the partition's offset). */
const FILESYSTEMS = ['ext2', 'ext3', 'ext4', 'vfat', 'swap'];

/** The layout when `Partitions` is empty. */
const DEFAULT_LAYOUT: Readonly<Record<'gpt' | 'mbr', string>> = { gpt: '512M:efi:vfat:EFI; *:linux:ext4:root', mbr: '*:linux:ext4:root' };

const UNITS: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * Parses a `Partitions` setting: entries `SIZE:TYPE[:FILESYSTEM[:LABEL]]` separated by `;` (or
 * `,`), SIZE a whole number with an optional K, M, G or T (binary units) or `*` for the rest of the
 * disk (the last entry only). Returns the partitions or a one-line error.
 */
export function parsePartitions(text: string, style: 'gpt' | 'mbr'): PartitionSpec[] | { error: string } {
  const entries = text.split(/[;,]/).map((e) => e.trim()).filter((e) => e !== '');
  if (entries.length === 0) return { error: 'Partitions names no partition' };
  if (style === 'mbr' && entries.length > 4) return { error: 'an MBR disk holds at most 4 primary partitions; use PartitionStyle GPT' };
  const out: PartitionSpec[] = [];
  for (const [i, entry] of entries.entries()) {
    const [sizeText = '', typeText = '', fsText = '', label = ''] = entry.split(':').map((p) => p.trim());
    const where = `Partitions entry ${i + 1} ("${entry}")`;
    let size: number | null;
    if (sizeText === '*' || sizeText.toLowerCase() === 'rest') {
      if (i !== entries.length - 1) return { error: `${where}: only the last partition can take the rest of the disk (*)` };
      size = null;
    } else {
      const m = /^([1-9][0-9]{0,15})\s*([KMGT]?)(?:i?B)?$/i.exec(sizeText);
      if (!m) return { error: `${where}: the size must be a whole number with K, M, G or T, or * for the rest` };
      size = Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] ?? 1);
      if (size < 1024 * 1024) return { error: `${where}: a partition must be at least 1M` };
    }
    const type = typeText.toLowerCase();
    const known = TYPES[type];
    if (known) {
      if (style === 'mbr' && known[1] === null) return { error: `${where}: type "${type}" exists only on GPT disks` };
    } else if (!(style === 'gpt' ? /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i : /^(0x)?[0-9a-f]{1,2}$/i).test(typeText)) {
      return { error: `${where}: the type must be one of ${Object.keys(TYPES).join(', ')}, or a raw ${style === 'gpt' ? 'GPT type GUID' : 'MBR type in hex'}` };
    }
    const fs = fsText.toLowerCase() === 'fat32' || fsText.toLowerCase() === 'fat' ? 'vfat' : fsText.toLowerCase();
    if (fs !== '' && fs !== 'none' && !FILESYSTEMS.includes(fs)) return { error: `${where}: filesystem "${fsText}" is not supported (${FILESYSTEMS.join(', ')} or none)` };
    if (!/^[A-Za-z0-9 _.-]{0,36}$/.test(label)) return { error: `${where}: a label has at most 36 letters, digits, spaces, "_", "." or "-"` };
    out.push({ size, type: typeText, filesystem: fs === '' || fs === 'none' ? null : fs, label });
  }
  return out;
}

/** The sfdisk script for a layout (sizes in bytes, each partition 1 MiB-aligned by sfdisk). */
export function sfdiskScript(style: 'gpt' | 'mbr', parts: readonly PartitionSpec[]): string {
  const lines = [`label: ${style === 'gpt' ? 'gpt' : 'dos'}`, ''];
  for (const p of parts) {
    const known = TYPES[p.type.toLowerCase()];
    const type = known ? (style === 'gpt' ? known[0] : known[1]) : p.type.replace(/^0x/i, '');
    const fields = [p.size === null ? null : `size=${p.size / 1024}KiB`, `type=${type}`, style === 'gpt' && p.label !== '' ? `name="${p.label}"` : null];
    lines.push(fields.filter((f) => f !== null).join(', '));
  }
  return lines.join('\n') + '\n';
}

/** A string quoted for /bin/sh. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The partitions sfdisk reports (`sfdisk --json`): start and size in sectors. */
interface SfdiskPartition { start: number; size: number }

/** Makes one filesystem at the partition's byte offset inside `target` (a whole disk or a disk image file). */
async function makeFilesystem(ctx: StepContext, target: string, part: PartitionSpec, at: SfdiskPartition, sector: number, n: number): Promise<StepOutcome | null> {
  const offset = at.start * sector;
  const bytes = at.size * sector;
  const kib = Math.floor(bytes / 1024);
  const label = part.label;
  let result;
  if (part.filesystem === 'vfat') {
    const args = ['--offset', String(at.start), ...(label ? ['-n', label.toUpperCase().slice(0, 11)] : []), target, String(kib)];
    result = await ctx.services.runProgram('mkfs.vfat', args, { signal: ctx.signal });
  } else if (part.filesystem === 'swap') {
    // mkswap has no offset option here: make the swap header in a scratch file of the partition's size, then copy its first 64 KiB in place.
    const scratch = join(ctx.workDir, `swap-${n}.img`);
    const f = await open(scratch, 'w', 0o600);
    await f.truncate(bytes);
    await f.close();
    result = await ctx.services.runProgram('mkswap', [...(label ? ['-L', label] : []), scratch], { signal: ctx.signal });
    if (result.exitCode === 0) {
      const header = Buffer.alloc(64 * 1024);
      const src = await open(scratch, 'r');
      await src.read(header, 0, header.length, 0);
      await src.close();
      const out = await open(target, 'r+');
      try {
        await out.write(header, 0, header.length, offset);
        await out.sync();
      } finally {
        await out.close();
      }
    }
  } else {
    const args = ['-t', part.filesystem ?? 'ext4', '-F', '-q', '-E', `offset=${offset},nodiscard`, ...(label ? ['-L', label.slice(0, 16)] : []), target, `${kib}k`];
    result = await ctx.services.runProgram('mke2fs', args, { signal: ctx.signal });
  }
  if (result.exitCode === 0) return null;
  const tool = part.filesystem === 'vfat' ? 'mkfs.vfat' : part.filesystem === 'swap' ? 'mkswap' : 'mke2fs';
  return failed(`partition ${n}: ${tool} failed (${describeExit(result, 0)}); the disk is partitioned but not usable`, result.exitCode);
}

/**
 * Runs a Format disk step on `TargetDevice` (the setting, else the variable of that name): a block
 * device that holds no mounted filesystem, swap, LVM or RAID member, or a disk image file.
 * `PartitionStyle` GPT (default) or MBR; `Partitions` the layout (see `parsePartitions`; empty: an
 * EFI partition and a Linux ext4 root on GPT, one Linux ext4 partition on MBR). DeployR's
 * `DiskIndex` (a Windows disk number) is not mapped to a device.
 */
export const formatDisk: StepExecutor = async (ctx) => {
  const target = (setting(ctx.settings, 'TargetDevice').trim() || ctx.variables.get('TargetDevice')?.trim()) ?? '';
  if (target === '') {
    return failed(setting(ctx.settings, 'DiskIndex').trim() !== ''
      ? 'Format disk needs TargetDevice (a block device such as /dev/sda, or a disk image file) on Linux; DiskIndex is a Windows disk number, which this client does not map to a device'
      : 'Format disk needs TargetDevice (the setting or the variable): a block device such as /dev/sda, or a disk image file');
  }
  const styleText = setting(ctx.settings, 'PartitionStyle').trim().toLowerCase();
  const style = styleText === '' || styleText === 'gpt' ? 'gpt' : styleText === 'mbr' || styleText === 'dos' ? 'mbr' : null;
  if (style === null) return failed(`PartitionStyle "${setting(ctx.settings, 'PartitionStyle').trim()}" is not GPT or MBR`);
  const parts = parsePartitions(setting(ctx.settings, 'Partitions').trim() || DEFAULT_LAYOUT[style], style);
  if ('error' in parts) return failed(parts.error);

  const st = await stat(target).catch(() => null);
  if (st === null) return failed(`the target ${target} does not exist`);
  if (!st.isBlockDevice() && !st.isFile()) return failed(`the target ${target} is neither a block device nor a disk image file`);
  const refusal = await refuseTarget(target, 0);
  if (refusal) return failed(refusal);
  for (const tool of ['sfdisk', 'mke2fs', ...(parts.some((p) => p.filesystem === 'vfat') ? ['mkfs.vfat'] : []), ...(parts.some((p) => p.filesystem === 'swap') ? ['mkswap'] : [])]) {
    if (!(await ctx.services.findExecutable(tool))) return failed(`Format disk needs ${tool}, which is not on this machine's PATH`);
  }

  const scriptFile = join(ctx.workDir, 'layout.sfdisk');
  const script = sfdiskScript(style, parts);
  const f = await open(scriptFile, 'w', 0o600);
  await f.writeFile(script);
  await f.close();
  ctx.say(`Partitioning ${target} (${style.toUpperCase()}): ${parts.map((p) => `${p.size === null ? 'rest' : `${p.size / 1024 / 1024} MiB`} ${p.type}${p.filesystem ? ` ${p.filesystem}` : ''}${p.label ? ` "${p.label}"` : ''}`).join(', ')}`);
  const written = await ctx.services.runShell(`sfdisk --quiet --wipe always --wipe-partitions always -- ${shellQuote(target)} < ${shellQuote(scriptFile)}`, { signal: ctx.signal });
  if (written.exitCode !== 0) return failed(`sfdisk could not write the partition table (${describeExit(written, 0)})`, written.exitCode);

  const jsonFile = join(ctx.workDir, 'layout.json');
  const read = await ctx.services.runShell(`sfdisk --json -- ${shellQuote(target)} > ${shellQuote(jsonFile)}`, { signal: ctx.signal });
  if (read.exitCode !== 0) return failed(`sfdisk could not read back the partition table (${describeExit(read, 0)})`, read.exitCode);
  let table: { partitiontable?: { sectorsize?: number; partitions?: SfdiskPartition[] } };
  try { table = JSON.parse(await readFile(jsonFile, 'utf8')) as typeof table; } catch { return failed('sfdisk --json printed something that is not JSON'); }
  const laid = table.partitiontable?.partitions ?? [];
  const sector = table.partitiontable?.sectorsize ?? 512;
  if (laid.length !== parts.length) return failed(`sfdisk wrote ${laid.length} partitions instead of ${parts.length}`);
  for (const [i, part] of parts.entries()) {
    const at = laid[i] as SfdiskPartition;
    if (part.filesystem === null) continue;
    ctx.say(`Partition ${i + 1}: making ${part.filesystem}${part.label ? ` "${part.label}"` : ''} (${Math.floor((at.size * sector) / 1024 / 1024)} MiB)`);
    const problem = await makeFilesystem(ctx, target, part, at, sector, i + 1);
    if (problem) return problem;
  }
  ctx.variables.set('_DEPLOYRDISK', target);
  ctx.say(`Formatted ${target}: ${parts.length} partition${parts.length === 1 ? '' : 's'} (${style.toUpperCase()}).`);
  return { status: 'succeeded', exitCode: 0 };
};
