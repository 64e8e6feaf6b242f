// Unit tests: the texts the media carry (kernel line, GRUB menu, iPXE script, boot.conf, dnsmasq) and the input checks of media build.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { bootConf, INIT_SCRIPT } from './boot-environment.js';
import { checkServerUrl } from './build-media.js';
import { dnsmasqConfig } from './dnsmasq-config.js';
import { normalizeFingerprint } from './initrd-builder.js';
import { ipxeScript } from './ipxe-script.js';
import { grubConfig } from './iso-builder.js';
import { chooseKernel } from './kernel.js';

const FP = 'AB:'.repeat(31) + 'AB';
const line = { server: 'https://deployr.lan:7281', fingerprint: FP, consoles: ['ttyS0,115200', 'tty0'] };

test('boot.ipxe loads kernel and initrd relative to itself, with initrd= (UEFI iPXE) and the server and fingerprint on the kernel line', () => {
  const s = ipxeScript(line);
  assert.match(s, /^#!ipxe\n/);
  assert.match(s, /\nkernel vmlinuz initrd=initrd console=ttyS0,115200 console=tty0 .*deployr\.server=https:\/\/deployr\.lan:7281 deployr\.fingerprint=AB:AB/);
  assert.match(s, /\ninitrd initrd\nboot\n/);
});

test('GRUB: a menu with a short timeout on screen and serial, or (noprompt) no menu at all', () => {
  const menu = grubConfig({ ...line, noprompt: false });
  assert.match(menu, /set timeout=3/);
  assert.match(menu, /menuentry "deployr: deploy this machine"/);
  assert.match(menu, /deployr\.noclient/);
  assert.match(menu, /terminal_output serial console/);
  const direct = grubConfig({ ...line, noprompt: true });
  assert.doesNotMatch(direct, /menuentry|timeout/);
  assert.match(direct, /linux \/live\/vmlinuz .*\ninitrd \/live\/initrd\nboot\n/);
});

test('boot.conf holds only the server URL and fingerprint; /init lets the kernel line override them', () => {
  const conf = bootConf(line.server, FP, '0.1.0 x');
  assert.deepEqual(conf.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split('=')[0]), ['DEPLOYR_SERVER', 'DEPLOYR_FINGERPRINT', 'DEPLOYR_MEDIA_VERSION']);
  assert.match(INIT_SCRIPT, /deployr\.server=\*\) DEPLOYR_SERVER=/);
  assert.match(INIT_SCRIPT, /deployr\.fingerprint=\*\) DEPLOYR_FINGERPRINT=/);
  assert.match(INIT_SCRIPT, /client --boot --server "\$DEPLOYR_SERVER"/);
});

test('media build input: https server origins only, SHA-256 fingerprints normalised, --kernel needs --modules', () => {
  assert.equal(checkServerUrl('https://Deployr.lan:7281'), 'https://deployr.lan:7281');
  for (const bad of ['http://x', 'https://x/path', 'https://u:p@x', 'https://x?q=1', 'not a url', "https://x'$(reboot)"]) {
    assert.throws(() => checkServerUrl(bad), /--server/, bad);
  }
  assert.equal(normalizeFingerprint('ab'.repeat(32)), FP);
  assert.throws(() => normalizeFingerprint('ab'.repeat(20)), /SHA-256/);
  assert.throws(() => chooseKernel({ kernel: '/boot/vmlinuz' }), /--kernel and --modules go together/);
  assert.throws(() => chooseKernel({}, '/nonexistent-boot', '/nonexistent-modules'), /apt-get install linux-image-amd64/);
});

test('dnsmasq: proxyDHCP (no addresses handed out), TFTP, iPXE loaders by firmware, the boot script for iPXE', () => {
  const c = dnsmasqConfig({ subnet: '10.1.0.0', tftpRoot: '/usr/lib/ipxe', bootUrl: 'http://10.1.0.5:8080/Content/Boot/boot.ipxe', iface: 'eth1' });
  assert.match(c, /^port=0$/m);
  assert.match(c, /^dhcp-range=10\.1\.0\.0,proxy$/m);
  assert.match(c, /^interface=eth1$/m);
  assert.match(c, /^pxe-service=tag:!ipxe,x86PC,"[^"]+",undionly\.kpxe$/m);
  assert.match(c, /^pxe-service=tag:!ipxe,X86-64_EFI,"[^"]+",ipxe\.efi$/m);
  assert.match(c, /^pxe-service=tag:ipxe,X86-64_EFI,"[^"]+",http:\/\/10\.1\.0\.5:8080\/Content\/Boot\/boot\.ipxe$/m);
});
