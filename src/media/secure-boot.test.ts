// Unit tests: Secure Boot parts of the media builder (a missing signed package, the version inside a kernel image, the network GRUB's grub.cfg, dnsmasq --secure-boot, /init's SecureBoot reading).

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { INIT_SCRIPT } from './boot-environment.js';
import { dnsmasqConfig } from './dnsmasq-config.js';
import { netbootGrubConfig } from './netboot-grub.js';
import { kernelImageVersion, signedBinaries } from './secure-boot.js';

const FP = 'AB:'.repeat(31) + 'AB';

test('a missing signed binary is a one-line error naming the package to install', async () => {
  await assert.rejects(signedBinaries([{ name: 'shimx64.efi', path: '/nonexistent/shimx64.efi.signed', installPackage: 'shim-signed' }]), (err: Error) => {
    assert.match(err.message, /install it with {2}apt-get install shim-signed {2}\(or build with --no-secure-boot\)/);
    assert.equal(err.message.split('\n').length, 1);
    return true;
  });
});

test('the version string inside a bzImage is read from its setup header; anything else gives null', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-sb-unit-'));
  try {
    const image = Buffer.alloc(0x1000);
    image.write('HdrS', 0x202, 'latin1');
    image.writeUInt16LE(0x600, 0x20e);
    image.write('6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP\0', 0x800, 'latin1');
    writeFileSync(join(dir, 'vmlinuz'), image);
    assert.equal(kernelImageVersion(join(dir, 'vmlinuz')), '6.1.0-57-amd64');
    writeFileSync(join(dir, 'not-a-kernel'), Buffer.alloc(0x1000));
    assert.equal(kernelImageVersion(join(dir, 'not-a-kernel')), null);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('the network GRUB config loads vmlinuz and initrd from its TFTP root with the server and fingerprint on the kernel line', () => {
  const cfg = netbootGrubConfig({ servers: ['https://deployr.lan:7281'], fingerprint: FP, consoles: ['ttyS0,115200'] });
  assert.match(cfg, /\nlinux \/vmlinuz console=ttyS0,115200 .*deployr\.server=https:\/\/deployr\.lan:7281 deployr\.fingerprint=AB:AB/);
  assert.match(cfg, /\ninitrd \/initrd\nboot\n/);
});

test('dnsmasq --secure-boot hands UEFI firmware the signed shim and keeps iPXE for BIOS and for iPXE itself', () => {
  const c = dnsmasqConfig({ subnet: '192.168.1.0', tftpRoot: '/srv/media', bootUrl: 'http://h:8080/Content/Boot/boot.ipxe', secureBoot: true });
  assert.match(c, /pxe-service=tag:!ipxe,X86-64_EFI,"[^"]*",shimx64\.efi/);
  assert.match(c, /pxe-service=tag:!ipxe,BC_EFI,"[^"]*",shimx64\.efi/);
  assert.match(c, /pxe-service=tag:!ipxe,x86PC,"[^"]*",undionly\.kpxe/);
  assert.doesNotMatch(c, /pxe-service=[^\n]*ipxe\.efi/);
  assert.match(dnsmasqConfig({ subnet: '192.168.1.0', tftpRoot: '/usr/lib/ipxe', bootUrl: 'http://h/b.ipxe' }), /X86-64_EFI,"[^"]*",ipxe\.efi/);
});

test('/init reads the SecureBoot variable\'s fifth byte through a pipe (efivarfs cannot seek) and hands the state to the client', () => {
  assert.match(INIT_SCRIPT, /SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c/);
  assert.match(INIT_SCRIPT, /cat "\$sbvar" \| od -An -tu1 -j4 -N1/);
  assert.match(INIT_SCRIPT, /export DEPLOYR_SECURE_BOOT="\$SECURE_BOOT"/);
});
