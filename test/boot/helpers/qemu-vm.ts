// Boot tests: a QEMU virtual machine (TCG when there is no KVM) driven through its serial console. Its network is QEMU's user network with
// restrict=on: the guest reaches this machine only through the explicit guestfwd forwards to loopback, never any other address.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';

/** A guest address:port forwarded to 127.0.0.1:hostPort (one socat per guest connection). */
export interface Forward {
  guestPort: number;
  hostPort: number;
}

/** How the VM boots. */
export interface VmOptions {
  /** Firmware: SeaBIOS (default) or OVMF (UEFI, q35). */
  uefi?: boolean;
  /**
   * With `uefi`: OVMF's Secure Boot build with Microsoft's keys enrolled, Secure Boot enforced (q35, SMM).
   * The NIC then has no option ROM (QEMU's iPXE ROM is not signed): OVMF's own virtio-net driver and PXE are used.
   */
  secureBoot?: boolean;
  /** Boot this ISO as a CD. */
  iso?: string;
  /** Network boot (the NIC's iPXE ROM) with slirp's TFTP folder and boot file. */
  pxe?: { tftpDir: string; bootfile: string };
  /** A raw disk image attached as a virtio disk (/dev/vda). */
  disk?: string;
  forwards: Forward[];
  /** No network card at all (`-nic none`), e.g. so the firmware does not fall back to PXE. */
  noNetwork?: boolean;
  /** Where to keep a copy of the OVMF variables and the serial log. */
  workDir: string;
  memoryMiB?: number;
}

/** The address the guest uses for this machine's forwarded services. */
export const HOST_ALIAS = '10.0.2.100';

/** Removes terminal escape sequences and carriage returns (GRUB and the prompts draw with them). */
export function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '').replace(/\x1b[=>78]/g, '').replace(/\r/g, '');
}

/** A running VM. */
export class Vm {
  private raw = '';
  private from = 0;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly started = Date.now();

  constructor(o: VmOptions) {
    const forwards = o.forwards.map((f) => `,guestfwd=tcp:${HOST_ALIAS}:${f.guestPort}-cmd:socat -lf /dev/null - TCP:127.0.0.1:${f.hostPort}`).join('');
    const tftp = o.pxe ? `,tftp=${o.pxe.tftpDir},bootfile=${o.pxe.bootfile}` : '';
    // restrict=on: no route to anything but the forwards above (and slirp's own DHCP/TFTP).
    const netdev = `user,id=n0,restrict=on${tftp}${forwards}`;
    const args = ['-m', String(o.memoryMiB ?? 1024), '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
      ...(o.noNetwork ? ['-nic', 'none'] : ['-netdev', netdev, '-device', `virtio-net-pci,netdev=n0${o.secureBoot ? ',romfile=' : ''}`])];
    if (o.uefi) {
      // A fresh copy of the variables for every VM (the firmware writes boot entries into it).
      const vars = join(o.workDir, 'OVMF_VARS.fd');
      if (o.secureBoot) {
        copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.ms.fd', vars);
        args.push('-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on',
          '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
      } else {
        copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
        args.push('-machine', 'q35', '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
      }
    }
    if (o.iso) args.push('-cdrom', o.iso);
    if (o.disk) args.push('-drive', `file=${o.disk},if=virtio,format=raw`);
    if (o.pxe) args.push('-boot', 'n');
    this.child = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    // DEPLOYR_BOOT_SERIAL_LOG=FILE: a copy of the console as it arrives (to follow a slow boot).
    const log = process.env.DEPLOYR_BOOT_SERIAL_LOG;
    this.child.stdout!.on('data', (d: Buffer) => { this.raw += d.toString('latin1'); if (log) appendFileSync(log, d); });
    this.child.stderr!.on('data', (d: Buffer) => { this.raw += `\n[qemu] ${d.toString('utf8')}`; });
    this.child.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Seconds since QEMU started. */
  elapsed(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** The console so far, without escape sequences. */
  transcript(): string {
    return stripAnsi(this.raw);
  }

  /** Waits until `pattern` appears after the last match (or after `mark()`), failing with the console's tail after `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs: number, what = String(pattern)): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.transcript();
      const m = pattern.exec(text.slice(this.from));
      if (m) {
        this.from += m.index + m[0].length;
        return m;
      }
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${this.child.exitCode !== null ? `QEMU exited (${this.child.exitCode})` : 'timed out'} waiting for ${what} after ${this.elapsed().toFixed(0)} s; console tail:\n${text.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Types on the serial console (a line ends with CR, as a terminal sends it). */
  type(text: string): void {
    this.child.stdin!.write(text);
  }

  /** Waits for QEMU to exit by itself (the guest powered off), killing it after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<number | null> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try { return await this.exited; } finally { clearTimeout(timer); }
  }

  /** Stops QEMU (its socat helpers end with it). */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
