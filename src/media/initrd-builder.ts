// Builds the boot environment's initrd by hand: busybox, Node.js with its libraries, the client bundle, drivers with their dependencies and firmware, and /init.

import { X509Certificate } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readdir, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { DeployrError } from '../domain/errors.js';
import { bootConf, INIT_SCRIPT, SYSTEMCTL_SHIM, UDHCPC_SCRIPT } from './boot-environment.js';
import type { KernelChoice } from './kernel.js';
import { requireTool, run } from './tools.js';

/**
 * Drivers a real machine needs for network and storage (plus what they pull in). Names that this
 * kernel does not have, or has built in, are skipped.
 */
export const BOOT_MODULES: readonly string[] = [
  // virtual machines
  'virtio_pci', 'virtio_net', 'virtio_blk', 'virtio_scsi', 'vmxnet3', 'vmw_pvscsi', 'hv_vmbus', 'hv_netvsc', 'hv_storvsc',
  // wired network cards
  'e1000', 'e1000e', 'igb', 'igc', 'ixgbe', 'i40e', 'ice', 'r8169', 'tg3', 'bnx2', 'bnxt_en', 'atlantic', 'r8152', 'cdc_ether', 'ax88179_178a',
  // storage
  'ahci', 'ata_piix', 'nvme', 'sd_mod', 'sr_mod', 'megaraid_sas', 'mpt3sas', 'usb_storage', 'uas', 'mmc_block', 'sdhci_pci', 'sdhci_acpi',
  'xhci_pci', 'ehci_pci', 'ohci_pci', 'uhci_hcd',
  // file systems (FAT for the EFI partition, ext4) and their character sets; UEFI variables
  'vfat', 'nls_cp437', 'nls_iso8859_1', 'nls_utf8', 'ext4', 'efivarfs',
];

/** What went into the initrd. */
export interface InitrdReport {
  modules: number;
  /** Names asked for but not present as a module in this kernel (built in, or not built). */
  skipped: string[];
  firmware: number;
  nodeVersion: string;
  uncompressedBytes: number;
}

/** Everything the initrd is built from. */
export interface InitrdInput {
  kernel: KernelChoice;
  /** The Node.js binary (default: the one running). */
  node: string;
  /** `dist/bundle/deployr-client.mjs`. */
  clientBundle: string;
  server: string;
  fingerprint: string;
  mediaVersion: string;
  /** zstd level (1-19). */
  zstdLevel: number;
  out: string;
  say: (line: string) => void;
}

/** `modprobe --show-depends` for a module: the .ko files to load, in order; null when the kernel has no such module. */
async function moduleFiles(modprobe: string, kernel: KernelChoice, name: string): Promise<string[] | null> {
  const args = ['-S', kernel.version, '--show-depends', name];
  const suffix = join('lib', 'modules', kernel.version);
  if (kernel.modulesDir.endsWith(suffix) && kernel.modulesDir !== `/${suffix}`) args.unshift('-d', kernel.modulesDir.slice(0, -suffix.length) || '/');
  let text: string;
  try { text = await run(modprobe, args); } catch { return null; }
  const files = text.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[0] === 'insmod' && f[1]).map((f) => f[1] as string);
  return files.length ? files : null;
}

/** Copies a kernel module, decompressing .ko.xz / .ko.zst (busybox insmod loads plain .ko). Returns its name in the initrd. */
async function copyModule(file: string, destDir: string): Promise<string> {
  const compressed = /\.ko\.(zst|xz)$/.exec(file);
  if (compressed) {
    const name = basename(file).slice(0, -(compressed[1] as string).length - 1);
    await runToFile(requireTool(compressed[1] === 'zst' ? 'zstd' : 'xz'), ['-d', '-c', file], destDir, '', join(destDir, name));
    return name;
  }
  await copyFile(file, join(destDir, basename(file)));
  return basename(file);
}

/** Copies `from` to the same path under `root` (following links), making its folders. */
async function copyInto(root: string, from: string, as = from): Promise<void> {
  await mkdir(join(root, dirname(as)), { recursive: true });
  await copyFile(await realpath(from), join(root, as));
}

async function sizeOfTree(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += await sizeOfTree(p);
    else if (entry.isFile()) total += (await stat(p)).size;
  }
  return total;
}

/** Checks that a fingerprint is a SHA-256 one and returns it in the service's form (upper case, colons). */
export function normalizeFingerprint(value: string): string {
  const hex = value.replace(/:/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) throw new DeployrError('INVALID_INPUT', 'the certificate fingerprint must be a SHA-256 one (64 hex digits, colons allowed).');
  return hex.match(/../g)!.join(':');
}

/** The SHA-256 fingerprint of a PEM certificate file's first certificate. */
export function certificateFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Builds the initrd (newc cpio, zstd) at `input.out`. */
export async function buildInitrd(input: InitrdInput): Promise<InitrdReport> {
  const busybox = requireTool('busybox');
  const modprobe = requireTool('modprobe');
  const modinfo = requireTool('modinfo');
  const ldd = requireTool('ldd');
  const cpio = requireTool('cpio');
  const zstd = requireTool('zstd');
  if (!existsSync(input.clientBundle)) throw new DeployrError('INVALID_INPUT', `the client bundle ${input.clientBundle} is missing: run npm run build`);
  const busyboxInfo = await run('file', ['-L', busybox]).catch(() => '');
  if (busyboxInfo.includes('dynamically linked')) throw new DeployrError('INVALID_INPUT', `${busybox} is not statically linked: install it with  apt-get install busybox-static`, { package: 'busybox-static' });

  const root = await mkdtemp(join(dirname(input.out), '.initrd-'));
  try {
    await chmod(root, 0o755);
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'proc', 'sys', 'dev', 'run', 'tmp', 'root', 'etc/deployr', 'lib/modules', 'lib/firmware', 'opt/deployr']) {
      await mkdir(join(root, d), { recursive: true });
    }
    await chmod(join(root, 'tmp'), 0o1777);

    input.say('initrd: busybox');
    await copyFile(busybox, join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    for (const applet of (await run(busybox, ['--list-full'])).split('\n').filter(Boolean)) {
      if (applet === 'bin/busybox' || existsSync(join(root, applet))) continue;
      await mkdir(join(root, dirname(applet)), { recursive: true });
      await symlink('/bin/busybox', join(root, applet));
    }

    input.say(`initrd: drivers for kernel ${input.kernel.version}`);
    const order: string[] = [];
    const seen = new Set<string>();
    const skipped: string[] = [];
    let firmware = 0;
    for (const name of BOOT_MODULES) {
      const files = await moduleFiles(modprobe, input.kernel, name);
      if (!files) { skipped.push(name); continue; }
      for (const file of files) {
        if (seen.has(file)) continue;
        seen.add(file);
        order.push(await copyModule(file, join(root, 'lib/modules')));
        for (const fw of (await run(modinfo, ['-F', 'firmware', file]).catch(() => '')).split('\n').filter(Boolean)) {
          for (const candidate of [fw, `${fw}.xz`, `${fw}.zst`]) {
            const src = join('/lib/firmware', candidate);
            if (existsSync(src) && !existsSync(join(root, 'lib/firmware', candidate))) {
              await copyInto(join(root, 'lib/firmware'), src, candidate);
              firmware++;
            }
          }
        }
      }
    }
    await writeFile(join(root, 'etc/modules.order'), order.join('\n') + '\n');

    input.say(`initrd: Node.js (${input.node}) and its libraries`);
    const nodeVersion = (await run(input.node, ['--version'])).trim();
    await copyInto(root, input.node, '/usr/bin/node');
    await chmod(join(root, 'usr/bin/node'), 0o755);
    const libs = (await run(ldd, [input.node])).match(/\/[^\s)]+/g) ?? [];
    if (libs.length === 0) throw new DeployrError('INVALID_INPUT', `${input.node}: ldd lists no libraries (a statically linked or non-ELF Node.js is not supported here).`);
    for (const lib of new Set(libs)) await copyInto(root, lib);

    input.say('initrd: the client and /init');
    await copyFile(input.clientBundle, join(root, 'opt/deployr/deployr-client.mjs'));
    const files: [string, string, number][] = [
      ['init', INIT_SCRIPT, 0o755], ['etc/udhcpc.script', UDHCPC_SCRIPT, 0o755], ['usr/local/bin/systemctl', SYSTEMCTL_SHIM, 0o755],
      ['etc/deployr/boot.conf', bootConf(input.server, input.fingerprint, input.mediaVersion), 0o644],
      ['etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n', 0o644], ['etc/group', 'root:x:0:\n', 0o644],
      ['etc/hostname', 'deployr-boot\n', 0o644],
    ];
    for (const [path, text, mode] of files) {
      await writeFile(join(root, path), text);
      await chmod(join(root, path), mode);
    }

    const uncompressedBytes = await sizeOfTree(root);
    input.say(`initrd: packing ${(uncompressedBytes / 1048576).toFixed(1)} MiB with zstd -${input.zstdLevel}`);
    const list = (await listTree(root)).join('\0') + '\0';
    const cpioPath = `${input.out}.cpio`;
    await runToFile(cpio, ['--null', '-o', '-H', 'newc', '-R', '0:0', '--quiet'], root, list, cpioPath);
    await run(zstd, [`-${input.zstdLevel}`, '-T0', '-q', '-f', cpioPath, '-o', input.out]);
    await rm(cpioPath, { force: true });
    return { modules: order.length, skipped, firmware, nodeVersion, uncompressedBytes };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Every path under `root`, relative (`.` first), for cpio. */
async function listTree(root: string): Promise<string[]> {
  const out = ['.'];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, entry.name);
      out.push(relative(root, p));
      if (entry.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out;
}

/** Runs a command with `input` on stdin and its stdout into `file`. */
async function runToFile(command: string, args: string[], cwd: string, input: string, file: string): Promise<void> {
  const { spawn } = await import('node:child_process');
  const { createWriteStream } = await import('node:fs');
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(file);
    const child = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.stdout.pipe(out);
    child.on('error', reject);
    child.on('close', (code) => out.close(() => (code === 0 ? resolve() : reject(new DeployrError('INTERNAL', `${command} failed (exit ${code}): ${err.trim().split('\n').pop() ?? ''}`)))));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
