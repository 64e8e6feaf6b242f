// Unit tests: the texts the media carry (kernel line, GRUB menu, iPXE script, boot.conf, dnsmasq) and the input checks of media build.

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bootConf, INIT_SCRIPT } from './boot-environment.js';
import { checkServerList, checkServerUrl } from './build-media.js';
import { dnsmasqConfig } from './dnsmasq-config.js';
import { normalizeFingerprint } from './initrd-builder.js';
import { ipxeScript } from './ipxe-script.js';
import { grubConfig } from './iso-builder.js';
import { chooseKernel } from './kernel.js';
import { kernelCommandLine } from './kernel-command-line.js';
import { netbootGrubConfig } from './netboot-grub.js';

const FP = 'AB:'.repeat(31) + 'AB';
const line = { servers: ['https://deployr.lan:7281'], fingerprint: FP, consoles: ['ttyS0,115200', 'tty0'] };

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
  const conf = bootConf('https://deployr.lan:7281', FP, '0.1.0 x');
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

test('several servers: one deployr.server= argument, in order, separated by commas, on the kernel line, in boot.ipxe, both GRUB configs and boot.conf', () => {
  const servers = checkServerList(['https://node1.lan:7281,https://node2.lan:7281', ' https://[fd00::3]:7281 ', 'https://node1.lan:7281']);
  assert.deepEqual(servers, ['https://node1.lan:7281', 'https://node2.lan:7281', 'https://[fd00::3]:7281'], 'repeated and comma-separated, trimmed, the same origin once');
  const several = { ...line, servers };
  const kernel = kernelCommandLine(several);
  assert.equal(kernel, `console=ttyS0,115200 console=tty0 quiet panic=30 deployr.server=https://node1.lan:7281,https://node2.lan:7281,https://[fd00::3]:7281 deployr.fingerprint=${FP}`);
  // One word: nothing a kernel, GRUB or iPXE line would split, quote or expand.
  assert.equal(kernel.split(' ').filter((w) => w.startsWith('deployr.server=')).length, 1);
  assert.doesNotMatch(kernel, /["'$`\\;{}]/);
  for (const text of [ipxeScript(several), grubConfig({ ...several, noprompt: true }), grubConfig({ ...several, noprompt: false }), netbootGrubConfig(several)]) {
    assert.ok(text.includes(' deployr.server=https://node1.lan:7281,https://node2.lan:7281,https://[fd00::3]:7281 '), text);
  }
  assert.match(bootConf(servers.join(','), FP, 'v'), /^DEPLOYR_SERVER='https:\/\/node1\.lan:7281,https:\/\/node2\.lan:7281,https:\/\/\[fd00::3\]:7281'$/m);
  // The single-server form is unchanged.
  assert.match(kernelCommandLine(line), / deployr\.server=https:\/\/deployr\.lan:7281 deployr\.fingerprint=/);
  // /init hands the list to the client as it is (the client splits it).
  assert.match(INIT_SCRIPT, /client --boot --server "\$DEPLOYR_SERVER"/);
});

test('several servers: a bad entry is one error naming its place; an empty list is refused; unchecked text never reaches a kernel line', () => {
  assert.throws(() => checkServerList(['https://a.lan:7281,http://b.lan:7281']), /^DeployrError: --server entry 2 of 2 must start with https:\/\//);
  assert.throws(() => checkServerList(['https://a.lan:7281', "https://b'$(reboot)"]), /--server entry 2 of 2/);
  assert.throws(() => checkServerList([' , ']), /--server names no server/);
  assert.throws(() => checkServerList(['http://x:1']), /^DeployrError: --server must start with https:\/\//, 'one server: the message as before');
  assert.throws(() => kernelCommandLine({ ...line, servers: ['https://a.lan:7281 init=/bin/sh'] }), TypeError);
  assert.throws(() => kernelCommandLine({ ...line, servers: [] }), TypeError);
});

test('/init, run by sh over a kernel command line with several servers, hands the client the whole list as one --server value', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-init-'));
  try {
    const cmdline = join(dir, 'cmdline');
    writeFileSync(cmdline, `${kernelCommandLine({ ...line, servers: ['https://node1.lan:7281', 'https://node2.lan:7281'] })} deployr.noclient\n`);
    // The argument loop of the real /init, reading this file instead of /proc/cmdline.
    const loop = /\nfor arg in \$\(cat \/proc\/cmdline\); do\n[\s\S]*?\ndone\n/.exec(INIT_SCRIPT)?.[0];
    assert.ok(loop, 'the loop is in /init');
    const script = `DEPLOYR_SERVER=''; DEPLOYR_FINGERPRINT=''; SHELL_TTYS=''; NOCLIENT=''${loop.replace('/proc/cmdline', cmdline)}set -- --server "$DEPLOYR_SERVER"; printf '%s|' "$#" "$2" "$DEPLOYR_FINGERPRINT" "$NOCLIENT"`;
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    assert.equal(out, `2|https://node1.lan:7281,https://node2.lan:7281|${FP}|1|`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
