// A proxyDHCP + TFTP configuration for dnsmasq beside an existing DHCP server: BIOS → undionly.kpxe, UEFI → ipxe.efi (or, --secure-boot, signed shim → signed network GRUB), iPXE → boot.ipxe.

/** What the configuration needs. */
export interface DnsmasqOptions {
  /** The LAN, e.g. 192.168.1.0 (proxyDHCP answers only there). */
  subnet: string;
  /** Where undionly.kpxe and ipxe.efi are (Debian: /usr/lib/ipxe). */
  tftpRoot: string;
  /** The boot script's URL, e.g. http://deployr.lan:8080/Content/Boot/boot.ipxe. */
  bootUrl: string;
  /** Network interface to serve on (optional). */
  iface?: string;
  /**
   * UEFI firmware gets Debian's signed chain (shimx64.efi → grubx64.efi = grubnetx64 → grub/grub.cfg,
   * kernel and initrd by TFTP) instead of ipxe.efi; `tftpRoot` is then the media folder.
   */
  secureBoot?: boolean;
}

/** The configuration text (checked in the tests with `dnsmasq --test`). */
export function dnsmasqConfig(o: DnsmasqOptions): string {
  return [
    '# deployr network boot: proxyDHCP beside the existing DHCP server (which keeps handing out addresses),',
    '# plus TFTP for the iPXE loaders. Written by `deployr media dnsmasq`.',
    'port=0',
    ...(o.iface ? [`interface=${o.iface}`, 'bind-interfaces'] : []),
    `dhcp-range=${o.subnet},proxy`,
    'enable-tftp',
    `tftp-root=${o.tftpRoot}`,
    '# iPXE identifies itself (option 175, user class "iPXE"): it gets the deployr boot script;',
    o.secureBoot ? '# the firmware\'s own PXE gets iPXE first on BIOS (undionly.kpxe).' : '# the firmware\'s own PXE gets iPXE first (undionly.kpxe on BIOS, ipxe.efi on UEFI).',
    'dhcp-match=set:ipxe,175',
    'dhcp-userclass=set:ipxe,iPXE',
    'pxe-service=tag:!ipxe,x86PC,"deployr (BIOS)",undionly.kpxe',
    ...(o.secureBoot
      ? ['# UEFI (Secure Boot on or off): Debian\'s signed shim → signed network GRUB, which reads grub/grub.cfg',
        '# and loads vmlinuz and initrd from this TFTP root (that GRUB has no HTTP client).',
        'pxe-service=tag:!ipxe,X86-64_EFI,"deployr (UEFI, Secure Boot)",shimx64.efi',
        'pxe-service=tag:!ipxe,BC_EFI,"deployr (UEFI, Secure Boot)",shimx64.efi']
      : ['pxe-service=tag:!ipxe,X86-64_EFI,"deployr (UEFI)",ipxe.efi',
        'pxe-service=tag:!ipxe,BC_EFI,"deployr (UEFI)",ipxe.efi']),
    'pxe-service=tag:ipxe,x86PC,"deployr (iPXE)",' + o.bootUrl,
    'pxe-service=tag:ipxe,X86-64_EFI,"deployr (iPXE)",' + o.bootUrl,
    'pxe-service=tag:ipxe,BC_EFI,"deployr (iPXE)",' + o.bootUrl,
    'log-dhcp',
    '',
  ].join('\n');
}
