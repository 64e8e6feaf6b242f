// Boot media: build time, initrd and ISO sizes, and boot-to-passcode-prompt times in QEMU (BIOS ISO, UEFI ISO with Secure Boot off and enforced, iPXE), measured side by side in one run.

import { mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDeployr, setPasscode, startService, tempHome } from '../test/helpers/deployr-process.js';
import { missingBootTools } from '../test/boot/helpers/boot-tools.js';
import { HOST_ALIAS, Vm, type VmOptions } from '../test/boot/helpers/qemu-vm.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

/** Runs the benchmark (BENCH_BOOT_RUNS=N boots of each kind, default 1). */
export async function run(): Promise<void> {
  const missing = missingBootTools();
  if (missing.length) { console.log(`skipped: missing ${missing.join(', ')}`); return; }
  const runs = Number(process.env.BENCH_BOOT_RUNS ?? 1);
  const { home, cleanup } = tempHome('deployr-bench-boot-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-bench-boot-work-'));
  const port = await freePort();
  const bootPort = await freePort();
  let svc = await startService({ home, args: ['--port', String(port), '--boot-http-port', String(bootPort)] });
  try {
    await setPasscode(home, 'Bench-Passcode-Long-2024');
    const t0 = Date.now();
    const built = await runDeployr(['media', 'build', '--server', `https://${HOST_ALIAS}:${port}`, '--console', 'ttyS0,115200'], { home, timeoutMs: 15 * 60_000 });
    if (built.code !== 0) throw new Error(built.stderr);
    const buildSeconds = (Date.now() - t0) / 1000;
    const media = join(home, 'media');
    const tftp = join(work, 'tftp');
    mkdirSync(tftp);
    writeFileSync(join(tftp, 'chain.ipxe'), `#!ipxe\nchain http://${HOST_ALIAS}/Content/Boot/boot.ipxe\n`);
    const kinds: [string, Omit<VmOptions, 'workDir'>][] = [
      ['BIOS ISO (SeaBIOS, -cdrom)', { iso: join(media, 'deployr.iso'), forwards: [{ guestPort: port, hostPort: port }] }],
      ['UEFI ISO (OVMF, q35)', { uefi: true, iso: join(media, 'deployr.iso'), forwards: [{ guestPort: port, hostPort: port }] }],
      ['UEFI ISO, Secure Boot enforced (OVMF secboot, Microsoft keys; shim → signed GRUB → signed kernel)', { uefi: true, secureBoot: true, iso: join(media, 'deployr.iso'), forwards: [{ guestPort: port, hostPort: port }] }],
      ['iPXE (BIOS): TFTP → HTTP boot port', { pxe: { tftpDir: tftp, bootfile: 'chain.ipxe' }, forwards: [{ guestPort: 80, hostPort: bootPort }, { guestPort: port, hostPort: port }] }],
    ];
    const rows: string[] = [];
    // BENCH_BOOT_ONLY=TEXT: only the kinds whose name contains TEXT (e.g. "UEFI ISO" for the Secure Boot comparison).
    const only = process.env.BENCH_BOOT_ONLY;
    for (const [name, options] of kinds.filter(([n]) => !only || n.includes(only))) {
      const times: string[] = [];
      for (let i = 0; i < runs; i++) {
        const vm = new Vm({ ...options, workDir: work });
        try {
          await vm.waitFor(/deployr: boot environment/, 10 * 60_000);
          const init = vm.elapsed();
          await vm.waitFor(/Passcode:/, 10 * 60_000);
          times.push(`/init ${init.toFixed(1)} s, prompt ${vm.elapsed().toFixed(1)} s`);
        } finally { await vm.kill(); }
      }
      rows.push(`| ${name} | ${times.join('; ')} |`);
    }
    console.log(`media build: ${buildSeconds.toFixed(1)} s; initrd ${mib(statSync(join(media, 'initrd')).size)}; ISO ${mib(statSync(join(media, 'deployr.iso')).size)}; vmlinuz ${mib(statSync(join(media, 'vmlinuz')).size)}`);
    console.log('| boot path | QEMU start → /init, → passcode prompt |');
    console.log('| --- | --- |');
    for (const r of rows) console.log(r);
  } finally {
    await svc.stop();
    svc = undefined as never;
    cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}
