// Builds the hybrid ISO (BIOS and UEFI, CD and USB stick) whose UEFI path is Debian's signed shim → signed GRUB → the kernel as shipped (or, with --no-secure-boot, an unsigned GRUB).

import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { kernelCommandLine, type CommandLineOptions } from './kernel-command-line.js';
import { requireFile, requireTool, run } from './tools.js';

const SHIM = '/usr/lib/shim/shimx64.efi.signed';
const MOK_MANAGER = '/usr/lib/shim/mmx64.efi.signed';
const SIGNED_GRUB_CD = '/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed';
const GRUB_PC = '/usr/lib/grub/i386-pc';
const HYBRID_MBR = '/usr/lib/grub/i386-pc/boot_hybrid.img';
const GRUB_EFI = '/usr/lib/grub/x86_64-efi';
/** GRUB modules built into the unsigned UEFI GRUB of `--no-secure-boot` media. */
const EFI_GRUB_MODULES = ['iso9660', 'part_msdos', 'part_gpt', 'fat', 'normal', 'linux', 'configfile', 'search', 'search_fs_file', 'serial', 'terminal', 'echo', 'test', 'efi_gop', 'all_video'];
/** GRUB modules built into the BIOS El Torito image (nothing is loaded from the ISO at boot). */
const BIOS_GRUB_MODULES = ['biosdisk', 'iso9660', 'part_msdos', 'part_gpt', 'normal', 'linux', 'configfile', 'search', 'serial', 'terminal', 'echo', 'test'];

/** What the ISO is built from. */
export interface IsoInput extends CommandLineOptions {
  vmlinuz: string;
  initrd: string;
  /** No menu: boots the environment at once. */
  noprompt: boolean;
  /** UEFI path: signed shim → signed GRUB (true), or an unsigned GRUB that Secure Boot firmware refuses (false). */
  secureBoot: boolean;
  out: string;
  say: (line: string) => void;
}

/**
 * GRUB's configuration, read from `/boot/grub/grub.cfg` on the ISO9660 tree by both the BIOS GRUB
 * and the signed CD GRUB (`gcdx64`, whose built-in prefix is /boot/grub). Both terminals: screen and
 * the first serial port.
 */
export function grubConfig(o: CommandLineOptions & { noprompt: boolean }): string {
  const line = kernelCommandLine(o);
  const head = ['serial --unit=0 --speed=115200', 'terminal_input serial console', 'terminal_output serial console'];
  if (o.noprompt) return [...head, 'echo "deployr boot environment: loading…"', `linux /live/vmlinuz ${line}`, 'initrd /live/initrd', 'boot', ''].join('\n');
  return [
    ...head, 'set timeout=3', 'set default=0', '',
    'menuentry "deployr: deploy this machine" {', `  linux /live/vmlinuz ${line}`, '  initrd /live/initrd', '}',
    'menuentry "deployr: troubleshooting shell (no client)" {', `  linux /live/vmlinuz ${line} deployr.noclient`, '  initrd /live/initrd', '}', '',
  ].join('\n');
}

/** Builds `input.out`. */
export async function buildIso(input: IsoInput): Promise<void> {
  const xorriso = requireTool('xorriso');
  const grubMkimage = requireTool('grub-mkimage');
  const mkfsVfat = requireTool('mkfs.vfat');
  const mmd = requireTool('mmd');
  const mcopy = requireTool('mcopy');
  for (const f of [GRUB_PC, HYBRID_MBR, ...(input.secureBoot ? [SHIM, MOK_MANAGER, SIGNED_GRUB_CD] : [GRUB_EFI])]) requireFile(f);

  const work = await mkdtemp(join(dirname(input.out), '.iso-'));
  try {
    const tree = join(work, 'iso');
    await mkdir(join(tree, 'boot/grub'), { recursive: true });
    await mkdir(join(tree, 'live'), { recursive: true });
    await mkdir(join(tree, '.disk'), { recursive: true });
    // The kernel byte for byte: its Secure Boot signature must stay intact.
    await copyFile(input.vmlinuz, join(tree, 'live/vmlinuz'));
    await copyFile(input.initrd, join(tree, 'live/initrd'));
    await writeFile(join(tree, '.disk/info'), 'deployr boot environment\n');
    await writeFile(join(tree, 'boot/grub/grub.cfg'), grubConfig(input));

    const efiImg = join(tree, 'boot/grub/efi.img');
    if (input.secureBoot) {
      input.say('iso: UEFI boot image (shim, signed GRUB)');
      const kib = Math.ceil(((await stat(SHIM)).size + (await stat(MOK_MANAGER)).size + (await stat(SIGNED_GRUB_CD)).size) / 1024) + 512;
      await run(mkfsVfat, ['-C', '-n', 'DEPLOYR_ESP', efiImg, String(kib)]);
      await run(mmd, ['-i', efiImg, '::/EFI', '::/EFI/BOOT']);
      await run(mcopy, ['-i', efiImg, SHIM, '::/EFI/BOOT/BOOTX64.EFI']);
      await run(mcopy, ['-i', efiImg, SIGNED_GRUB_CD, '::/EFI/BOOT/grubx64.efi']);
      await run(mcopy, ['-i', efiImg, MOK_MANAGER, '::/EFI/BOOT/mmx64.efi']);
    } else {
      // --no-secure-boot: GRUB built here, unsigned; it finds the ISO9660 tree by /.disk/info like the signed one.
      input.say('iso: UEFI boot image (unsigned GRUB: needs Secure Boot off)');
      const early = join(work, 'early.cfg');
      await writeFile(early, 'search --file --set=root /.disk/info\nset prefix=($root)/boot/grub\n');
      const grubEfi = join(work, 'BOOTX64.EFI');
      await run(grubMkimage, ['-O', 'x86_64-efi', '-d', GRUB_EFI, '-p', '/boot/grub', '-c', early, '-o', grubEfi, ...EFI_GRUB_MODULES]);
      const kib = Math.ceil((await stat(grubEfi)).size / 1024) + 512;
      await run(mkfsVfat, ['-C', '-n', 'DEPLOYR_ESP', efiImg, String(kib)]);
      await run(mmd, ['-i', efiImg, '::/EFI', '::/EFI/BOOT']);
      await run(mcopy, ['-i', efiImg, grubEfi, '::/EFI/BOOT/BOOTX64.EFI']);
    }

    input.say('iso: BIOS boot image (GRUB)');
    await run(grubMkimage, ['-O', 'i386-pc-eltorito', '-d', GRUB_PC, '-p', '/boot/grub', '-o', join(tree, 'boot/grub/bios.img'), ...BIOS_GRUB_MODULES]);

    input.say('iso: writing the hybrid image');
    await rm(input.out, { force: true });
    await run(xorriso, ['-as', 'mkisofs', '-quiet', '-o', input.out, '-R', '-J', '-V', 'DEPLOYR', '-c', 'boot/boot.catalog',
      '-b', 'boot/grub/bios.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info', '--grub2-mbr', HYBRID_MBR,
      '-eltorito-alt-boot', '-e', 'boot/grub/efi.img', '-no-emul-boot', '-isohybrid-gpt-basdat', tree]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
