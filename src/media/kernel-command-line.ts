// The kernel command line every medium boots with: console, the server and the fingerprint it pins.

/** Options of the kernel command line. */
export interface CommandLineOptions {
  server: string;
  fingerprint: string;
  /** `console=` values, the last one being where the client runs (e.g. `ttyS0,115200 tty0`). */
  consoles: string[];
}

/** The kernel arguments (without initrd=). */
export function kernelCommandLine(o: CommandLineOptions): string {
  return [...o.consoles.map((c) => `console=${c}`), 'quiet', 'panic=30', `deployr.server=${o.server}`, `deployr.fingerprint=${o.fingerprint}`].join(' ');
}
