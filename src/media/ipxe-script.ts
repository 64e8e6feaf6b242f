// The iPXE script: fetches the kernel and initrd next to it (relative URLs, so it works over the boot HTTP port and HTTPS alike) and boots them.

import { kernelCommandLine, type CommandLineOptions } from './kernel-command-line.js';

/**
 * `boot.ipxe`. The names are relative to the script's own address (iPXE resolves them against
 * the URI it was loaded from), so the script does not depend on the host name or port used.
 * `initrd=initrd` is required by iPXE's UEFI build (without it the kernel finds no initrd).
 */
export function ipxeScript(o: CommandLineOptions): string {
  return [
    '#!ipxe',
    'echo deployr boot environment: loading the kernel and the initrd…',
    `kernel vmlinuz initrd=initrd ${kernelCommandLine(o)}`,
    'initrd initrd',
    'boot',
    '',
  ].join('\n');
}
