// Network boot under Secure Boot: the grub.cfg Debian's signed network GRUB (grubnetx64, built-in prefix /grub) reads from the TFTP server.

import { kernelCommandLine, type CommandLineOptions } from './kernel-command-line.js';

/** Files `media build` writes for it, relative to the media folder (which is the TFTP root). */
export const NETBOOT_FILES = ['shimx64.efi', 'grubx64.efi', 'mmx64.efi', 'grub/grub.cfg'] as const;

/**
 * `grub/grub.cfg` for shim → grubnetx64. Debian's signed network GRUB has no HTTP client built in
 * (only TFTP; `insmod http` is refused under Secure Boot), so the kernel and initrd come from the
 * same TFTP server, relative to GRUB's root `(tftp,SERVER)`.
 */
export function netbootGrubConfig(o: CommandLineOptions): string {
  return [
    'serial --unit=0 --speed=115200', 'terminal_input serial console', 'terminal_output serial console',
    'echo "deployr boot environment (Secure Boot network boot): loading the kernel and the initrd by TFTP from $root..."',
    `linux /vmlinuz ${kernelCommandLine(o)}`,
    'initrd /initrd',
    'boot',
    '',
  ].join('\n');
}
