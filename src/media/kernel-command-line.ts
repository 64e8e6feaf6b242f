// The kernel command line every medium boots with: console, the server list and the fingerprint it pins.

/** Options of the kernel command line. */
export interface CommandLineOptions {
  /** The servers the client tries in order, as checked origins (`https://HOST[:PORT]`, see `checkServerList`). */
  servers: string[];
  fingerprint: string;
  /** `console=` values, the last one being where the client runs (e.g. `ttyS0,115200 tty0`). */
  consoles: string[];
}

/** What a server origin may contain on a kernel, GRUB or iPXE line: nothing that splits, quotes or expands. */
const SAFE_ORIGIN = /^https:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;

/**
 * The kernel arguments (without initrd=). Several servers go into one `deployr.server=` argument,
 * separated by commas (`deployr.server=https://a:7281,https://b:7281`), which the boot environment
 * passes to the client as it is. A server that is not a plain origin is a caller bug (TypeError).
 */
export function kernelCommandLine(o: CommandLineOptions): string {
  if (o.servers.length === 0) throw new TypeError('kernelCommandLine: no server');
  for (const s of o.servers) if (!SAFE_ORIGIN.test(s)) throw new TypeError(`kernelCommandLine: ${JSON.stringify(s)} is not a checked https origin`);
  return [...o.consoles.map((c) => `console=${c}`), 'quiet', 'panic=30', `deployr.server=${o.servers.join(',')}`, `deployr.fingerprint=${o.fingerprint}`].join(' ');
}
