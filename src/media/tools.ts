// Finds the host tools the media builders run, and names the Debian package when one is missing.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DeployrError } from '../domain/errors.js';

/** Each tool (or file) the builders need, and the Debian/Ubuntu package that brings it. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  busybox: 'busybox-static',
  cpio: 'cpio',
  zstd: 'zstd',
  xz: 'xz-utils',
  modprobe: 'kmod',
  modinfo: 'kmod',
  ldd: 'libc-bin',
  xorriso: 'xorriso',
  'grub-mkimage': 'grub-common',
  'mkfs.vfat': 'dosfstools',
  mmd: 'mtools',
  mcopy: 'mtools',
  '/usr/lib/grub/i386-pc': 'grub-pc-bin',
  '/usr/lib/grub/i386-pc/boot_hybrid.img': 'grub-pc-bin',
  '/usr/lib/shim/shimx64.efi.signed': 'shim-signed',
  '/usr/lib/shim/mmx64.efi.signed': 'shim-signed',
  '/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed': 'grub-efi-amd64-signed',
  dnsmasq: 'dnsmasq',
  '/usr/lib/grub/x86_64-efi': 'grub-efi-amd64-bin',
  '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed': 'grub-efi-amd64-signed',
  sbverify: 'sbsigntool',
  'dpkg-query': 'dpkg',
};

const EXTRA_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

/** The full path of `name` on PATH (plus the sbin folders), or null. */
export function findTool(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const path = join(dir, name);
    try { accessSync(path, constants.X_OK); return path; } catch { /* next */ }
  }
  return null;
}

/** The path of a tool, or a one-line error naming the package to install. */
export function requireTool(name: string): string {
  const path = findTool(name);
  if (!path) throw missing(name);
  return path;
}

/** Checks that a file from a package exists, or a one-line error naming the package. */
export function requireFile(path: string): string {
  try { accessSync(path, constants.R_OK); return path; } catch { throw missing(path); }
}

function missing(what: string): DeployrError {
  const pkg = TOOL_PACKAGES[what];
  return new DeployrError('INVALID_INPUT', pkg
    ? `${what} is missing: install it with  apt-get install ${pkg}`
    : `${what} is missing on this machine.`, { missing: what, ...(pkg ? { package: pkg } : {}) });
}

/** Runs a command; resolves with its standard output, rejects with a one-line error (its last stderr line). */
export function run(command: string, args: string[], options: { cwd?: string; input?: Buffer | string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', (e: NodeJS.ErrnoException) => reject(new DeployrError('INTERNAL', `cannot run ${command}: ${e.code ?? e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new DeployrError('INTERNAL', `${command} ${args.slice(0, 3).join(' ')}… failed (exit ${code}): ${err.trim().split('\n').pop() ?? ''}`));
    });
    // A command that exits before reading all of its input is judged by its exit code, not by EPIPE.
    if (child.stdin) { child.stdin.on('error', () => undefined); child.stdin.end(options.input); }
  });
}
