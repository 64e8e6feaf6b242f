// Secure Boot: Debian's signed binaries (shim, GRUB for CD and network) with their package versions and hashes, and the check that a kernel and its modules are Debian's signed build.

import { openSync, readSync, closeSync, realpathSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DeployrError } from '../domain/errors.js';
import { hashFile } from './file-hash.js';
import type { KernelChoice } from './kernel.js';
import { findTool, requireTool, run } from './tools.js';

/** A signed binary the media carry, and the package it must come from. */
interface SignedPart {
  /** Its name on the media. */
  name: string;
  path: string;
  /** The package to install when it is missing (the one the user asks apt for). */
  installPackage: string;
}

/** shim (Microsoft-signed), MokManager, GRUB for CD/ISO and GRUB for the network, all signed for Debian. */
export const SIGNED_PARTS = {
  shim: { name: 'shimx64.efi', path: '/usr/lib/shim/shimx64.efi.signed', installPackage: 'shim-signed' },
  mokManager: { name: 'mmx64.efi', path: '/usr/lib/shim/mmx64.efi.signed', installPackage: 'shim-signed' },
  grubCd: { name: 'grubx64.efi (gcdx64)', path: '/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed', installPackage: 'grub-efi-amd64-signed' },
  grubNet: { name: 'grubx64.efi (grubnetx64)', path: '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed', installPackage: 'grub-efi-amd64-signed' },
} as const satisfies Record<string, SignedPart>;

/** One signed binary as recorded in media.json. */
export interface SignedBinary {
  name: string;
  source: string;
  /** The Debian package that owns the file, and its installed version (dpkg-query). */
  package: string;
  version: string;
  sha256: string;
}

/** media.json's `secureBoot`: whether the UEFI path is the signed chain, and what it is made of. */
export type SecureBootManifest =
  | { capable: true; binaries: SignedBinary[]; kernel: { package: string; version: string; signer: string | null } }
  | { capable: false; reason: string };

/** The package owning a file (`dpkg -S`), or null. */
async function owner(path: string): Promise<string | null> {
  const dpkg = findTool('dpkg-query');
  if (!dpkg) return null;
  // dpkg knows the path as the package shipped it (/lib/... on a merged-/usr system), so try it as given first.
  for (const p of new Set([path, realpathSync(path)])) {
    const out = await run(dpkg, ['-S', p]).catch(() => '');
    const pkg = out.split('\n')[0]?.split(':')[0]?.trim();
    if (pkg) return pkg;
  }
  return null;
}

/** The installed version of a package (`dpkg-query -W`). */
async function packageVersion(pkg: string): Promise<string> {
  const dpkg = requireTool('dpkg-query');
  return (await run(dpkg, ['-W', '-f=${Version}', pkg]).catch(() => '')).trim();
}

/** Checks that every signed binary is installed (a one-line error names the missing package) and describes them. */
export async function signedBinaries(parts: readonly SignedPart[] = Object.values(SIGNED_PARTS)): Promise<SignedBinary[]> {
  for (const p of parts) {
    if (!existsSync(p.path)) {
      throw new DeployrError('INVALID_INPUT', `Secure Boot media need ${p.path}: install it with  apt-get install ${p.installPackage}  (or build with --no-secure-boot)`, { missing: p.path, package: p.installPackage });
    }
  }
  const out: SignedBinary[] = [];
  for (const p of parts) {
    const pkg = (await owner(p.path)) ?? p.installPackage;
    out.push({ name: p.name, source: p.path, package: pkg, version: await packageVersion(pkg), sha256: (await hashFile(p.path)).sha256 });
  }
  return out;
}

/** The version string a bzImage carries (`6.1.0-57-amd64` from "6.1.0-57-amd64 (debian-kernel@…) #1 SMP …"), or null. */
export function kernelImageVersion(vmlinuz: string): string | null {
  const fd = openSync(vmlinuz, 'r');
  try {
    const head = Buffer.alloc(0x400);
    if (readSync(fd, head, 0, head.length, 0) < 0x210 || head.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
    const at = head.readUInt16LE(0x20e) + 0x200;
    const text = Buffer.alloc(256);
    const n = readSync(fd, text, 0, text.length, at);
    const s = text.subarray(0, n).toString('latin1').split('\0')[0] ?? '';
    const version = s.split(' ')[0];
    return version && /^[0-9][0-9A-Za-z.+_~-]*$/.test(version) ? version : null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Under Secure Boot the kernel runs locked down and loads only modules signed by its own build key,
 * and GRUB boots only a kernel shim trusts. So the kernel must be Debian's signed one, byte for
 * byte, and the modules its own tree: the version inside the image names the modules folder, the
 * image is owned by a `linux-image-*` package that is not `-unsigned` (and, when sbverify is
 * installed, carries a Debian Secure Boot signature), and the modules tree belongs to the same
 * package. Anything else is a one-line error.
 */
export async function checkSignedKernel(kernel: KernelChoice): Promise<{ package: string; version: string; signer: string | null }> {
  const inImage = kernelImageVersion(kernel.vmlinuz);
  if (!inImage) throw new DeployrError('INVALID_INPUT', `--kernel ${kernel.vmlinuz}: not a Linux kernel image (no version string); Secure Boot media need Debian's signed kernel (or build with --no-secure-boot).`);
  if (inImage !== basename(kernel.modulesDir)) {
    throw new DeployrError('INVALID_INPUT', `the kernel is ${inImage} but the modules are ${basename(kernel.modulesDir)}: under Secure Boot the kernel loads only its own signed modules; give --modules /lib/modules/${inImage}.`);
  }
  const pkg = await owner(kernel.vmlinuz);
  if (!pkg || !/^linux-image-/.test(pkg) || /-unsigned$/.test(pkg)) {
    throw new DeployrError('INVALID_INPUT', `${kernel.vmlinuz} is not Debian's signed kernel (${pkg ? `it comes from ${pkg}` : 'no package owns it'}): Secure Boot media need linux-image-amd64's kernel (or build with --no-secure-boot).`, { package: 'linux-image-amd64' });
  }
  const order = join(kernel.modulesDir, 'modules.order');
  const modulesOwner = existsSync(order) ? await owner(order) : null;
  if (modulesOwner !== pkg) {
    throw new DeployrError('INVALID_INPUT', `--modules ${kernel.modulesDir} is not the module tree of ${pkg} (${modulesOwner ? `it belongs to ${modulesOwner}` : 'no package owns it'}): under Secure Boot the kernel loads only its own signed modules.`);
  }
  let signer: string | null = null;
  const sbverify = findTool('sbverify');
  if (sbverify) {
    const listing = await run(sbverify, ['--list', kernel.vmlinuz]).catch(() => '');
    signer = /subject: \/CN=([^\n]+)/.exec(listing)?.[1]?.trim() ?? null;
    if (!signer || !/Debian Secure Boot/.test(listing)) {
      throw new DeployrError('INVALID_INPUT', `${kernel.vmlinuz} carries no Debian Secure Boot signature (sbverify --list): shim would refuse it; use the kernel of linux-image-amd64 as installed (or build with --no-secure-boot).`);
    }
  }
  return { package: pkg, version: await packageVersion(pkg), signer };
}
