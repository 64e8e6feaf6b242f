// Boot tests: which host tools they need, and what to do when one is missing (skip loudly here, fail in CI).

import { existsSync, readdirSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { findTool } from '../../../src/media/tools.js';

/** A tool or file the boot tests need, with its Debian package. */
const NEEDED: [string, string][] = [
  ['qemu-system-x86_64', 'qemu-system-x86'], ['socat', 'socat'], ['/usr/share/OVMF/OVMF_CODE_4M.fd', 'ovmf'],
  ['/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', 'ovmf'], ['/usr/share/OVMF/OVMF_VARS_4M.ms.fd', 'ovmf'],
  ['/usr/lib/ipxe/qemu/pxe-virtio.rom', 'ipxe-qemu'], ['busybox', 'busybox-static'], ['cpio', 'cpio'], ['zstd', 'zstd'], ['modprobe', 'kmod'],
  ['xorriso', 'xorriso'], ['grub-mkimage', 'grub-common'], ['/usr/lib/grub/i386-pc/boot_hybrid.img', 'grub-pc-bin'], ['mkfs.vfat', 'dosfstools'],
  ['mcopy', 'mtools'], ['/usr/lib/shim/shimx64.efi.signed', 'shim-signed'], ['/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed', 'grub-efi-amd64-signed'],
  ['dnsmasq', 'dnsmasq'],
];

/** The missing ones as "name (package)". */
export function missingBootTools(): string[] {
  const missing = NEEDED.filter(([what]) => (what.startsWith('/') ? !existsSync(what) : !findTool(what))).map(([what, pkg]) => `${what} (apt-get install ${pkg})`);
  const kernels = existsSync('/boot') ? readdirSync('/boot').filter((f) => f.startsWith('vmlinuz-') && existsSync(`/lib/modules/${f.slice(8)}/modules.dep`)) : [];
  if (kernels.length === 0) missing.push('a kernel under /boot with its /lib/modules (apt-get install linux-image-amd64)');
  return missing;
}

/** True in CI (CI=1) or when DEPLOYR_BOOT_TESTS=required: a missing tool fails the test instead of skipping it. */
export function bootTestsRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.DEPLOYR_BOOT_TESTS === 'required' || (env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI !== 'false');
}

/** Skips the test (saying loudly which tools are missing), or throws in CI. Returns false when skipped. */
export function needBootTools(t: TestContext): boolean {
  const missing = missingBootTools();
  if (missing.length === 0) return true;
  const message = `BOOT TESTS NEED: ${missing.join(', ')}`;
  if (bootTestsRequired()) throw new Error(`${message} (required here: CI or DEPLOYR_BOOT_TESTS=required)`);
  process.stderr.write(`\n*** ${message}; SKIPPING ${t.name} ***\n\n`);
  t.skip(message);
  return false;
}
