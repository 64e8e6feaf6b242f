// End to end: DeployR's Format disk run for real by the client on sparse disk image files (sfdisk GPT/MBR, mkfs at the offsets), and its refusals (a mounted disk included, behind an sfdisk stand-in).

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runDeployr, setPasscode, startService, tempHome, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';
import { step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const PASSCODE = 'Tangerine-Lighthouse-42';
const FORMAT_DISK = '00000001-0000-0000-0000-00000000000e';
const MiB = 1024 * 1024;

/** `sfdisk --dump FILE` (sfdisk must succeed). */
function sfdiskDump(file: string): string {
  const r = spawnSync('sfdisk', ['--dump', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** The filesystem type blkid finds at a byte offset of a file (`blkid --probe --offset`). */
function fsTypeAt(file: string, offset: number): string {
  const r = spawnSync('blkid', ['--probe', '--offset', String(offset), '--output', 'export', file], { encoding: 'utf8' });
  return /^TYPE=(.*)$/m.exec(r.stdout)?.[1] ?? `none (${r.stderr.trim() || `exit ${r.status}`})`;
}

/** The partitions of `sfdisk --dump` output: start and size in sectors, type, name. */
function partitions(dump: string): { start: number; size: number; type: string; name: string | null }[] {
  return dump.split('\n').filter((l) => /^\S+ : start=/.test(l)).map((l) => ({
    start: Number(/start=\s*(\d+)/.exec(l)?.[1]),
    size: Number(/size=\s*(\d+)/.exec(l)?.[1]),
    type: /type=([0-9A-Fa-f-]+)/.exec(l)?.[1]?.toUpperCase() ?? '',
    name: /name="([^"]*)"/.exec(l)?.[1] ?? null,
  }));
}

/** The block device of a mounted filesystem (e.g. the root's), or null when there is none (an overlay root). */
function mountedBlockDevice(): string | null {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const id = line.split(' ')[2];
    if (!id || id.startsWith('0:')) continue;
    const uevent = (() => { try { return readFileSync(`/sys/dev/block/${id}/uevent`, 'utf8'); } catch { return ''; } })();
    const name = /^DEVNAME=(.*)$/m.exec(uevent)?.[1];
    if (name && existsSync(`/dev/${name}`)) return `/dev/${name}`;
  }
  return null;
}

const hasSfdisk = spawnSync('sfdisk', ['--version']).status === 0;

describe('Format disk with the real client and service', () => {
  const { home, cleanup } = tempHome('deployr-format-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-format-work-'));
  let svc: ServiceProcess;

  const cli = (args: string[]): Promise<CommandResult> => runDeployr(args, { home });
  const client = (args: string[], stateDir: string, env: Record<string, string> = {}): Promise<CommandResult> =>
    runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', stateDir, '--fullos', ...args], {
      env: { DEPLOYR_HOME: join(work, 'nowhere'), DEPLOYR_VAR_Passcode: PASSCODE, ...env },
    });

  async function importTs(ts: Json): Promise<string> {
    const file = join(work, `${ts.id as string}.json`);
    writeFileSync(file, JSON.stringify(ts));
    const r = await cli(['ts', 'import', file]);
    assert.equal(r.code, 0, r.stderr);
    return ts.id as string;
  }

  /** A sparse disk image file of `size` bytes. */
  function sparseDisk(name: string, size: number): string {
    const file = join(work, name);
    const fd = openSync(file, 'w');
    ftruncateSync(fd, size);
    closeSync(fd);
    return file;
  }

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    svc = await startService({ home });
  });

  after(async () => {
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('Format disk writes a GPT layout with sfdisk onto a sparse disk image file and makes the filesystems', { skip: hasSfdisk ? false : 'sfdisk is not installed (Debian package fdisk)' }, async () => {
    const disk = sparseDisk('gpt.img', 96 * MiB);
    const tsId = await importTs(taskSequence('Format GPT', [
      step('Format disk', FORMAT_DISK, { DiskIndex: '0', ScriptName: 'Format.ps1', TargetDevice: '%Disk%', PartitionStyle: 'GPT', Partitions: '16M:efi:vfat:EFI; 8M:swap:swap; *:linux:ext4:root' }),
    ]));
    const r = await client(['--ts', tsId, '--var', `Disk=${disk}`], join(work, 'state-gpt'));
    if (process.env.SHOW_OUTPUT) console.log(r.stdout);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const dump = sfdiskDump(disk);
    assert.match(dump, /^label: gpt$/m);
    const parts = partitions(dump);
    assert.deepEqual(parts.map((p) => [p.type, p.name]), [
      ['C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'EFI'],
      ['0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', null],
      ['0FC63DAF-8483-4772-8E79-3D69D8477DE4', 'root'],
    ]);
    assert.equal(parts[0]?.size, 16 * MiB / 512);
    assert.equal(parts[1]?.size, 8 * MiB / 512);
    assert.equal(fsTypeAt(disk, (parts[0]?.start ?? 0) * 512), 'vfat');
    assert.equal(fsTypeAt(disk, (parts[1]?.start ?? 0) * 512), 'swap');
    assert.equal(fsTypeAt(disk, (parts[2]?.start ?? 0) * 512), 'ext4');
  });

  test('Format disk writes an MBR layout; a bad layout, a missing target and a mounted disk are refused and change nothing', { skip: hasSfdisk ? false : 'sfdisk is not installed (Debian package fdisk)' }, async () => {
    const disk = sparseDisk('mbr.img', 64 * MiB);
    const tsId = await importTs(taskSequence('Format MBR', [
      step('Format disk', FORMAT_DISK, { TargetDevice: disk, PartitionStyle: 'MBR', Partitions: '24M:linux:ext4:boot; *:data:vfat:DATA' }),
    ]));
    const r = await client(['--ts', tsId], join(work, 'state-mbr'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const dump = sfdiskDump(disk);
    assert.match(dump, /^label: dos$/m);
    const parts = partitions(dump);
    assert.deepEqual(parts.map((p) => p.type), ['83', '7']);
    assert.equal(fsTypeAt(disk, (parts[0]?.start ?? 0) * 512), 'ext4');
    assert.equal(fsTypeAt(disk, (parts[1]?.start ?? 0) * 512), 'vfat');

    // Refusals: each run fails with a one-line reason, and the image keeps its MBR table.
    const before = readFileSync(disk);
    const refused = async (settings: Record<string, string>, reason: RegExp, env: Record<string, string> = {}): Promise<void> => {
      const id = await importTs(taskSequence('Format refused', [step('Format disk', FORMAT_DISK, settings)]));
      const run = await client(['--ts', id], join(work, `state-refused-${id}`), env);
      assert.notEqual(run.code, 0, run.stdout);
      assert.match(run.stdout, reason);
    };
    await refused({ TargetDevice: disk, PartitionStyle: 'GPT', Partitions: '*:linux:ext4; 8M:swap:swap' }, /only the last partition can take the rest of the disk/);
    await refused({ TargetDevice: disk, PartitionStyle: 'MBR', Partitions: '8M:bios' }, /type "bios" exists only on GPT disks/);
    await refused({ TargetDevice: disk, PartitionStyle: 'APM' }, /PartitionStyle "APM" is not GPT or MBR/);
    await refused({ TargetDevice: join(work, 'no-such-disk.img') }, /the target .*no-such-disk\.img does not exist/);
    await refused({ TargetDevice: work }, /is neither a block device nor a disk image file/);
    await refused({ DiskIndex: '0' }, /needs TargetDevice .*DiskIndex is a Windows disk number/);
    assert.ok(readFileSync(disk).equals(before), 'a refused format changed nothing');

    // A mounted disk. Safety net: an sfdisk stand-in first on PATH records any call and exits 1, so
    // even if the refusal broke, the real sfdisk would never touch the machine's disk.
    const mounted = mountedBlockDevice();
    if (mounted === null) return;
    const fake = join(work, 'fake-bin');
    mkdirSync(fake, { recursive: true });
    const record = join(work, 'sfdisk-called');
    writeFileSync(join(fake, 'sfdisk'), `#!/bin/sh\necho "$@" >> '${record}'\nexit 1\n`);
    chmodSync(join(fake, 'sfdisk'), 0o755);
    await refused({ TargetDevice: mounted }, /holds a mounted filesystem .*unmount it first/, { PATH: `${fake}:${process.env.PATH ?? ''}` });
    assert.equal(existsSync(record), false, 'sfdisk was never run on the mounted disk');
  });
});
