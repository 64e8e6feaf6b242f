// Boot tests (npm run test:boot): the boot media built by `deployr media build`, booted in QEMU on BIOS and UEFI and by iPXE, driven through the serial console.

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runDeployr, setPasscode, startService, tempHome, type ServiceProcess } from '../helpers/deployr-process.js';
import { step, taskSequence } from '../helpers/task-sequence-json.js';
import { missingBootTools, needBootTools } from './helpers/boot-tools.js';
import { HOST_ALIAS, Vm } from './helpers/qemu-vm.js';

const OLD_PASSCODE = 'Copper-Kettle-Morning-31';
const NEW_PASSCODE = 'Violet-Harbour-Evening-58';
const SET_VARIABLE = '00000001-0000-0000-0000-000000000001';
const RUN_COMMAND_LINE = '00000002-0000-0000-0000-000000000001';
const APPLY_IMAGE = '00000002-0000-0000-0000-000000000002';
/** Boot and prompt timeouts: TCG on a shared machine (no timing is asserted). */
const BOOT_MS = 10 * 60_000;

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The first `length` bytes of a file. */
function head(file: string, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    const n = readSync(fd, b, 0, length, 0);
    return b.subarray(0, n);
  } finally { closeSync(fd); }
}

/** Every regular file under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('boot media in QEMU', { concurrency: false }, () => {
  const { home, cleanup } = tempHome('deployr-boot-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-boot-work-'));
  const image = randomBytes(24 * 1024 * 1024 + 4096);
  const media = join(home, 'media');
  let port = 0;
  let bootPort = 0;
  let svc: ServiceProcess | null = null;
  let tsId = '';
  let ready = false;
  const timings: string[] = [];

  const cli = async (args: string[], timeoutMs = 60_000): Promise<string> => {
    const r = await runDeployr(args, { home, timeoutMs });
    assert.equal(r.code, 0, `deployr ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout + r.stderr;
  };
  const start = async (): Promise<ServiceProcess> => {
    svc = await startService({ home, args: ['--port', String(port), '--boot-http-port', String(bootPort)] });
    return svc;
  };
  const stop = async (): Promise<void> => { await svc?.stop(); svc = null; };

  before(async () => {
    if (missingBootTools().length) return;
    port = await freePort();
    bootPort = await freePort();
    assert.equal((await setPasscode(home, OLD_PASSCODE)).code, 0);
    writeFileSync(join(work, 'disk.img'), image);
    const created = await cli(['content', 'create', '--name', 'Boot test image', '--purpose', 'OperatingSystem', '--type', 'SingleFile']);
    const imageId = /\(([0-9a-f-]{36})\)/.exec(created)?.[1] as string;
    await cli(['content', 'add-version', imageId, join(work, 'disk.img')]);
    await cli(['content', 'activate', imageId, '1']);
    const ts = taskSequence('Deploy from boot media', [
      step('Apply image', APPLY_IMAGE, { TargetDevice: '/dev/vda' }, { contentItems: { Image: `${imageId}:1` } }),
      step('Report', RUN_COMMAND_LINE, { CommandLine: 'echo "BOOT-CMD-OK kernel $(uname -r) disk $(cat /sys/block/vda/size) sectors"' }),
      step('Finish', SET_VARIABLE, { VariableName: 'FinishAction', VariableValue: 'Shutdown' }),
    ]);
    tsId = ts.id as string;
    writeFileSync(join(work, 'ts.json'), JSON.stringify(ts));
    await cli(['ts', 'import', join(work, 'ts.json')]);
    await start(); // makes the self-signed certificate the media pin
    await stop();
    const t0 = Date.now();
    await cli(['media', 'build', '--server', `https://${HOST_ALIAS}:${port}`, '--console', 'ttyS0,115200'], 10 * 60_000);
    timings.push(`media build ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // The passcode changes after the media were built: they must follow the server, not carry it.
    assert.equal((await setPasscode(home, NEW_PASSCODE)).code, 0);
    ready = true;
  });

  after(async () => {
    await stop();
    if (timings.length) process.stderr.write(`boot test timings: ${timings.join('; ')}\n`);
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('the media hold no passcode and no private key; media.json pins the service certificate; media status agrees; the dnsmasq configuration passes dnsmasq --test', async (t) => {
    if (!needBootTools(t)) return;
    assert.ok(ready, 'the media were built');
    const manifest = JSON.parse(readFileSync(join(media, 'media.json'), 'utf8')) as { fingerprint: string; files: Record<string, { size: number; sha256: string }>; server: string };
    const svcCert = readFileSync(join(home, 'tls', 'server.crt'), 'utf8');
    const { X509Certificate } = await import('node:crypto');
    assert.equal(manifest.fingerprint, new X509Certificate(svcCert).fingerprint256);
    assert.equal(manifest.server, `https://${HOST_ALIAS}:${port}`);
    for (const name of ['vmlinuz', 'initrd', 'boot.ipxe', 'deployr.iso']) {
      assert.equal(sha256(readFileSync(join(media, name))), manifest.files[name]?.sha256, `${name} hash in media.json`);
    }
    assert.ok(statSync(join(media, 'initrd')).size <= 40 * 1024 * 1024, 'initrd within 40 MiB');

    const keyPem = readFileSync(join(home, 'tls', 'server.key'), 'utf8');
    const keyBody = keyPem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    const needles = [OLD_PASSCODE, NEW_PASSCODE, keyBody.slice(0, 40), keyBody.slice(-40)].map((s) => Buffer.from(s));
    const unpacked = join(work, 'initrd-root');
    mkdirSync(unpacked);
    execFileSync('sh', ['-c', `zstd -dc "${join(media, 'initrd')}" | cpio -idm --quiet --no-absolute-filenames`], { cwd: unpacked });
    const files = filesUnder(unpacked);
    assert.ok(files.some((f) => f.endsWith('opt/deployr/deployr-client.mjs')), 'the client is in the initrd');
    assert.ok(files.some((f) => f.endsWith('usr/bin/node')), 'Node.js is in the initrd');
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const n of needles) assert.equal(bytes.indexOf(n), -1, `${f} holds a secret`);
      assert.doesNotMatch(f, /\.(key|pem|pfx|p12)$|deployr\.db/, `${f} looks like a key or the database`);
    }
    const conf = readFileSync(join(unpacked, 'etc/deployr/boot.conf'), 'utf8');
    assert.match(conf, new RegExp(manifest.fingerprint));
    const listing = execFileSync('xorriso', ['-indev', join(media, 'deployr.iso'), '-find', '/', '-type', 'f'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
    assert.match(listing, /live\/initrd/);
    assert.doesNotMatch(listing, /\.(key|pem|pfx|p12)'?$/m);
    const iso = readFileSync(join(media, 'deployr.iso'));
    for (const n of needles) assert.equal(iso.indexOf(n), -1, 'the ISO holds a secret');

    const status = await runDeployr(['media', 'status', '--local-port', '1'], { home });
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /matches the service's current certificate/);

    const conf2 = await runDeployr(['media', 'dnsmasq', '--subnet', '192.168.50.0', '--boot-url', 'http://192.168.50.10:8080/Content/Boot/boot.ipxe']);
    assert.equal(conf2.code, 0, conf2.stderr);
    writeFileSync(join(work, 'dnsmasq.conf'), conf2.stdout);
    execFileSync('dnsmasq', ['--test', '-C', join(work, 'dnsmasq.conf')], { stdio: 'pipe' });
    assert.match(conf2.stdout, /dhcp-range=192\.168\.50\.0,proxy/);
    assert.match(conf2.stdout, /x86PC,"[^"]*",undionly\.kpxe/);
    assert.match(conf2.stdout, /X86-64_EFI,"[^"]*",ipxe\.efi/);
    assert.match(conf2.stdout, /tag:ipxe,x86PC,"[^"]*",http:\/\/192\.168\.50\.10:8080\/Content\/Boot\/boot\.ipxe/);
  });

  test('BIOS ISO: the boot environment waits for a server started late, refuses the passcode from before the rotation, accepts the new one, applies the image to the virtio disk, runs the command line and powers off', async (t) => {
    if (!needBootTools(t)) return;
    assert.ok(ready, 'the media were built');
    const disk = join(work, 'vda.img');
    writeFileSync(disk, '');
    execFileSync('truncate', ['-s', '64M', disk]);
    const vm = new Vm({ iso: join(media, 'deployr.iso'), disk, forwards: [{ guestPort: port, hostPort: port }], workDir: work });
    try {
      await vm.waitFor(/deployr: loaded \d+ of \d+ drivers/, BOOT_MS, 'the drivers');
      await vm.waitFor(/deployr: network eth0: 10\.0\.2\.15/, BOOT_MS, 'a DHCP address');
      await vm.waitFor(/Waiting for the server: Cannot reach the server/, BOOT_MS, 'the client saying it waits for the server');
      timings.push(`BIOS ISO to the client waiting for the server ${vm.elapsed().toFixed(1)} s`);
      await start();
      await vm.waitFor(/The server https:\/\/[\d.:]+ answers\./, 120_000, 'the client seeing the server');
      await vm.waitFor(/Passcode:/, 120_000, 'the passcode challenge');
      await new Promise((r) => setTimeout(r, 500));
      vm.type(`${OLD_PASSCODE}\r`);
      await vm.waitFor(/The passcode is incorrect\. Try again\./, 120_000, 'the old passcode refused');
      await vm.waitFor(/Passcode:/, 120_000, 'the challenge again');
      await new Promise((r) => setTimeout(r, 500));
      vm.type(`${NEW_PASSCODE}\r`);
      await vm.waitFor(/Signed in \(passcode\)/, 120_000, 'the sign-in');
      await vm.waitFor(/Deploy from boot media/, 120_000, 'the task sequence list');
      await new Promise((r) => setTimeout(r, 1000));
      vm.type('\r');
      const code = await vm.waitForExit(12 * 60_000);
      timings.push(`BIOS ISO full deploy (24 MiB image) until power-off ${vm.elapsed().toFixed(1)} s`);
      assert.equal(code, 0, `QEMU ended by the guest's power-off; console tail:\n${vm.transcript().slice(-3000)}`);
      assert.match(vm.transcript(), /Task sequence "Deploy from boot media" succeeded\./);
      assert.match(vm.transcript(), /FinishAction Shutdown: shutting down the machine\./);
      assert.equal(sha256(head(disk, image.length)), sha256(image), 'the disk starts with the image');
      const list = JSON.parse((await runDeployr(['runs', 'list', '--json'], { home })).stdout) as { runs?: { id: string; status: string; taskSequenceId: string }[] } | { id: string; status: string; taskSequenceId: string }[];
      const runs = Array.isArray(list) ? list : list.runs ?? [];
      const run = runs.find((r) => r.taskSequenceId === tsId);
      assert.ok(run, `a run of the task sequence in ${JSON.stringify(list)}`);
      const shown = await runDeployr(['runs', 'show', run.id, '--log'], { home });
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /succeeded/i);
      assert.match(shown.stdout, /BOOT-CMD-OK kernel 6\.|BOOT-CMD-OK kernel \d/);
    } finally {
      await vm.kill();
      await stop();
    }
  });

  test('UEFI ISO (OVMF): the boot environment reaches the passcode challenge and signs in', async (t) => {
    if (!needBootTools(t)) return;
    assert.ok(ready, 'the media were built');
    await start();
    const vm = new Vm({ uefi: true, iso: join(media, 'deployr.iso'), forwards: [{ guestPort: port, hostPort: port }], workDir: work });
    try {
      await vm.waitFor(/Passcode:/, BOOT_MS, 'the passcode challenge');
      timings.push(`UEFI ISO to the passcode prompt ${vm.elapsed().toFixed(1)} s`);
      await new Promise((r) => setTimeout(r, 500));
      vm.type(`${NEW_PASSCODE}\r`);
      await vm.waitFor(/Signed in \(passcode\)/, 120_000, 'the sign-in');
    } finally {
      await vm.kill();
      await stop();
    }
  });

  test('iPXE network boot: slirp TFTP chains to /Content/Boot/boot.ipxe on the plain-HTTP boot port, which loads the kernel and initrd and reaches the challenge', async (t) => {
    if (!needBootTools(t)) return;
    assert.ok(ready, 'the media were built');
    await start();
    const tftp = join(work, 'tftp');
    mkdirSync(tftp, { recursive: true });
    writeFileSync(join(tftp, 'chain.ipxe'), `#!ipxe\nchain http://${HOST_ALIAS}/Content/Boot/boot.ipxe\n`);
    const vm = new Vm({ pxe: { tftpDir: tftp, bootfile: 'chain.ipxe' }, forwards: [{ guestPort: 80, hostPort: bootPort }, { guestPort: port, hostPort: port }], workDir: work });
    try {
      await vm.waitFor(/Passcode:/, BOOT_MS, 'the passcode challenge');
      timings.push(`iPXE (BIOS) to the passcode prompt ${vm.elapsed().toFixed(1)} s`);
    } finally {
      await vm.kill();
      await stop();
    }
  });
});
