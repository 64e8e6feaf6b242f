// Boot tests (npm run test:boot): Secure Boot media booted on OVMF's Secure Boot firmware with Microsoft's keys enrolled and Secure Boot enforced; the --no-secure-boot media as the negative control.

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { runDeployr, setPasscode, startService, tempHome, type ServiceProcess } from '../helpers/deployr-process.js';
import { step, taskSequence } from '../helpers/task-sequence-json.js';
import { missingBootTools, needBootTools } from './helpers/boot-tools.js';
import { HOST_ALIAS, Vm } from './helpers/qemu-vm.js';

const PASSCODE = 'Granite-Lantern-Sunrise-47';
const SET_VARIABLE = '00000001-0000-0000-0000-000000000001';
const RUN_COMMAND_LINE = '00000002-0000-0000-0000-000000000001';
/** Boot and prompt timeouts: TCG on a shared machine (no timing is asserted). */
const BOOT_MS = 10 * 60_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

const sha256File = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

interface SecureBootJson {
  capable: boolean;
  reason?: string;
  binaries?: { name: string; source: string; package: string; version: string; sha256: string }[];
  kernel?: { package: string; version: string; signer: string | null };
}

describe('Secure Boot media in QEMU (OVMF Secure Boot firmware, Microsoft keys)', { concurrency: false }, () => {
  const { home, cleanup } = tempHome('deployr-sb-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-sb-work-'));
  const media = join(home, 'media');
  const unsigned = join(work, 'media-no-secure-boot');
  let port = 0;
  let svc: ServiceProcess | null = null;
  let tsId = '';
  let ready = false;
  const timings: string[] = [];

  const cli = async (args: string[], timeoutMs = 60_000): Promise<string> => {
    const r = await runDeployr(args, { home, timeoutMs });
    assert.equal(r.code, 0, `deployr ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout + r.stderr;
  };
  const stop = async (): Promise<void> => { await svc?.stop(); svc = null; };

  before(async () => {
    if (missingBootTools().length) return;
    port = await freePort();
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    const ts = taskSequence('Secure Boot check', [
      step('Report', RUN_COMMAND_LINE, { CommandLine: 'echo "SB-CMD-OK kernel: $(dmesg | grep -o \'Kernel is locked down from EFI Secure Boot\' | head -n 1)"' }),
      step('Finish', SET_VARIABLE, { VariableName: 'FinishAction', VariableValue: 'Shutdown' }),
    ]);
    tsId = ts.id as string;
    writeFileSync(join(work, 'ts.json'), JSON.stringify(ts));
    await cli(['ts', 'import', join(work, 'ts.json')]);
    svc = await startService({ home, args: ['--port', String(port)] }); // makes the certificate the media pin
    await stop();
    const server = `https://${HOST_ALIAS}:${port}`;
    let t0 = Date.now();
    await cli(['media', 'build', '--server', server, '--console', 'ttyS0,115200'], 10 * 60_000);
    timings.push(`media build (Secure Boot) ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    t0 = Date.now();
    await cli(['media', 'build', '--no-secure-boot', '--out', unsigned, '--server', server, '--console', 'ttyS0,115200', '--zstd-level', '1'], 10 * 60_000);
    timings.push(`media build (--no-secure-boot) ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    ready = true;
  });

  after(async () => {
    await stop();
    if (timings.length) process.stderr.write(`secure boot test timings: ${timings.join('; ')}\n`);
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('media.json records the signed chain (package, version, SHA-256 of each signed binary, the signed kernel); --no-secure-boot media say they are not capable; a kernel that is not the signed one, or modules of another kernel, are refused; dnsmasq --secure-boot passes dnsmasq --test', async (t) => {
    if (!needBootTools(t)) return;
    assert.ok(ready, 'the media were built');
    const sb = (JSON.parse(readFileSync(join(media, 'media.json'), 'utf8')) as { secureBoot: SecureBootJson }).secureBoot;
    assert.equal(sb.capable, true);
    const names = sb.binaries!.map((b) => b.name);
    assert.deepEqual(names, ['shimx64.efi', 'mmx64.efi', 'grubx64.efi (gcdx64)', 'grubx64.efi (grubnetx64)']);
    for (const b of sb.binaries!) {
      assert.equal(b.sha256, sha256File(b.source), `${b.name} hash`);
      const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', b.package]).toString('utf8');
      assert.equal(b.version, version, `${b.name} version`);
    }
    assert.match(sb.kernel!.package, /^linux-image-/);
    // The ISO's ESP carries exactly these signed files; the netboot files are the signed ones too.
    const esp = join(work, 'efi.img');
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', join(media, 'deployr.iso'), '-extract', '/boot/grub/efi.img', esp], { stdio: 'ignore' });
    execFileSync('mcopy', ['-i', esp, '::/EFI/BOOT/BOOTX64.EFI', join(work, 'bootx64.efi')]);
    execFileSync('mcopy', ['-i', esp, '::/EFI/BOOT/grubx64.efi', join(work, 'grubx64.efi')]);
    assert.equal(sha256File(join(work, 'bootx64.efi')), sb.binaries![0]!.sha256, 'BOOTX64.EFI is the signed shim');
    assert.equal(sha256File(join(work, 'grubx64.efi')), sb.binaries![2]!.sha256, 'grubx64.efi is the signed CD GRUB');
    assert.equal(sha256File(join(media, 'shimx64.efi')), sb.binaries![0]!.sha256);
    assert.equal(sha256File(join(media, 'grubx64.efi')), sb.binaries![3]!.sha256, 'the netboot grubx64.efi is grubnetx64');
    assert.match(readFileSync(join(media, 'grub/grub.cfg'), 'utf8'), /linux \/vmlinuz .*deployr\.fingerprint=/);

    const plain = (JSON.parse(readFileSync(join(unsigned, 'media.json'), 'utf8')) as { secureBoot: SecureBootJson }).secureBoot;
    assert.equal(plain.capable, false);

    // Lockdown: modules of another kernel, and a kernel no package owns (e.g. rebuilt or re-signed), are refused in one line.
    const kernel = JSON.parse(readFileSync(join(media, 'media.json'), 'utf8')) as { kernelVersion: string };
    const fakeModules = join(work, 'lib/modules/9.9.9-other');
    mkdirSync(fakeModules, { recursive: true });
    writeFileSync(join(fakeModules, 'modules.dep'), '');
    const vmlinuz = `/boot/vmlinuz-${kernel.kernelVersion}`;
    const wrongModules = await runDeployr(['media', 'build', '--out', join(work, 'x'), '--server', `https://${HOST_ALIAS}:${port}`, '--kernel', vmlinuz, '--modules', fakeModules], { home });
    assert.notEqual(wrongModules.code, 0);
    assert.match(wrongModules.stderr, new RegExp(`the kernel is ${kernel.kernelVersion.replace(/\./g, '\\.')} but the modules are 9\\.9\\.9-other`));
    assert.equal(wrongModules.stderr.trim().split('\n').length, 1, wrongModules.stderr);
    const copied = join(work, 'vmlinuz-copy');
    copyFileSync(vmlinuz, copied);
    const unowned = await runDeployr(['media', 'build', '--out', join(work, 'x'), '--server', `https://${HOST_ALIAS}:${port}`, '--kernel', copied, '--modules', `/lib/modules/${kernel.kernelVersion}`], { home });
    assert.notEqual(unowned.code, 0);
    assert.match(unowned.stderr, /is not Debian's signed kernel \(no package owns it\)/);
    // The same pair is accepted without Secure Boot (the check is the Secure Boot one, not a general refusal): checked by the --no-secure-boot build above with the default kernel.

    const conf = await runDeployr(['media', 'dnsmasq', '--secure-boot', '--subnet', '192.168.50.0', '--boot-url', 'http://192.168.50.10:8080/Content/Boot/boot.ipxe'], { home });
    assert.equal(conf.code, 0, conf.stderr);
    writeFileSync(join(work, 'dnsmasq.conf'), conf.stdout);
    execFileSync('dnsmasq', ['--test', '-C', join(work, 'dnsmasq.conf')], { stdio: 'pipe' });
    assert.match(conf.stdout, new RegExp(`tftp-root=${media.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(conf.stdout, /tag:!ipxe,X86-64_EFI,"[^"]*",shimx64\.efi/);
    assert.match(conf.stdout, /tag:!ipxe,x86PC,"[^"]*",undionly\.kpxe/);
    assert.doesNotMatch(conf.stdout, /pxe-service=[^\n]*ipxe\.efi/);
  });

  test('Secure Boot enforced: the ISO boots shim → signed GRUB → signed kernel, the boot environment says Secure Boot is on, the passcode is accepted, and the run records Secure Boot on; the same firmware refuses the --no-secure-boot ISO', async (t) => {
    if (!needBootTools(t)) return;
    assert.ok(ready, 'the media were built');
    // Negative control first (it is quick): OVMF refuses the unsigned GRUB, nothing of ours runs. No NIC, so the
    // firmware does not go on to try PXE: it ends at "No bootable option" and nothing can be booted after that.
    const refused = new Vm({ uefi: true, secureBoot: true, iso: join(unsigned, 'deployr.iso'), forwards: [], noNetwork: true, workDir: work });
    try {
      await refused.waitFor(/Access Denied/, BOOT_MS, 'the firmware refusing the unsigned GRUB');
      timings.push(`--no-secure-boot ISO refused by the firmware after ${refused.elapsed().toFixed(1)} s`);
      await refused.waitFor(/No bootable option or device was found/, 120_000, 'the firmware giving up');
      assert.doesNotMatch(refused.transcript(), /GNU GRUB|deployr: boot environment|Passcode:/);
    } finally {
      await refused.kill();
    }

    svc = await startService({ home, args: ['--port', String(port)] });
    const vm = new Vm({ uefi: true, secureBoot: true, iso: join(media, 'deployr.iso'), forwards: [{ guestPort: port, hostPort: port }], workDir: work });
    try {
      await vm.waitFor(/deployr: Secure Boot: on/, BOOT_MS, 'the boot environment reporting Secure Boot on');
      await vm.waitFor(/Passcode:/, BOOT_MS, 'the passcode challenge');
      timings.push(`Secure Boot ISO to the passcode prompt ${vm.elapsed().toFixed(1)} s`);
      await new Promise((r) => setTimeout(r, 500));
      vm.type(`${PASSCODE}\r`);
      await vm.waitFor(/Signed in \(passcode\)/, 120_000, 'the sign-in');
      await vm.waitFor(/Secure Boot check/, 120_000, 'the task sequence list');
      await new Promise((r) => setTimeout(r, 1000));
      vm.type('\r');
      const code = await vm.waitForExit(10 * 60_000);
      assert.equal(code, 0, `QEMU ended by the guest's power-off; console tail:\n${vm.transcript().slice(-3000)}`);
      assert.doesNotMatch(vm.transcript(), /Access Denied|Security Violation|bad shim signature/);
      const list = JSON.parse((await runDeployr(['runs', 'list', '--json'], { home })).stdout) as { runs?: { id: string; taskSequenceId: string }[] } | { id: string; taskSequenceId: string }[];
      const runs = Array.isArray(list) ? list : list.runs ?? [];
      const run = runs.find((r) => r.taskSequenceId === tsId);
      assert.ok(run, `a run of the task sequence in ${JSON.stringify(list)}`);
      const shown = await runDeployr(['runs', 'show', run.id, '--log'], { home });
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /succeeded/i);
      assert.match(shown.stdout, /Device: Secure Boot on/);
      // The kernel ran locked down (Debian's kernel locks down when Secure Boot is on).
      assert.match(shown.stdout, /SB-CMD-OK kernel: Kernel is locked down from EFI Secure Boot/);
    } finally {
      await vm.kill();
      await stop();
    }
  });

  test('network boot under Secure Boot: OVMF PXE loads the signed shim by TFTP, shim the signed network GRUB, which reads grub/grub.cfg and loads the kernel and initrd by TFTP from the media folder; the boot environment says Secure Boot is on and reaches the challenge', async (t) => {
    if (!needBootTools(t)) return;
    assert.ok(ready, 'the media were built');
    svc = await startService({ home, args: ['--port', String(port)] });
    // slirp's TFTP serves the media folder, as dnsmasq --secure-boot does on a LAN.
    const vm = new Vm({ uefi: true, secureBoot: true, pxe: { tftpDir: media, bootfile: 'shimx64.efi' }, forwards: [{ guestPort: port, hostPort: port }], workDir: work });
    try {
      await vm.waitFor(/NBP filename is shimx64\.efi/, BOOT_MS, 'the firmware PXE offering shim');
      await vm.waitFor(/deployr boot environment \(Secure Boot network boot\)/, BOOT_MS, 'the signed network GRUB reading grub/grub.cfg');
      await vm.waitFor(/deployr: Secure Boot: on/, BOOT_MS, 'the boot environment reporting Secure Boot on');
      await vm.waitFor(/Passcode:/, BOOT_MS, 'the passcode challenge');
      timings.push(`Secure Boot network boot (shim → grubnetx64, TFTP) to the passcode prompt ${vm.elapsed().toFixed(1)} s`);
      assert.doesNotMatch(vm.transcript(), /Access Denied|Security Violation|bad shim signature/);
    } finally {
      await vm.kill();
      await stop();
    }
  });
});
