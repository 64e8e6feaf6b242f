// The ports a running `deployr serve` uses, remembered in the home (`service.json`, mode 0600) so that later commands find the service without flags.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What `serve` remembers about itself once it listens. */
export interface ServicePorts {
  /** The HTTPS port. */
  port: number;
  /** The local admin port on 127.0.0.1. */
  localPort: number;
  pid: number;
  /** ISO 8601. */
  startedAt: string;
}

/** The file under the home. */
export function servicePortsFile(home: string): string {
  return join(home, 'service.json');
}

/** Writes the file (owner-only, replaced atomically). It is kept when the service stops: the ports it last used. */
export function writeServicePorts(home: string, ports: ServicePorts): void {
  const file = servicePortsFile(home);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(ports) + '\n', { mode: 0o600 });
  renameSync(temp, file);
}

/** The ports `serve` last used with this home, or null when it never ran here (or the file is unreadable). */
export function readServicePorts(home: string): ServicePorts | null {
  try {
    const v = JSON.parse(readFileSync(servicePortsFile(home), 'utf8')) as Partial<ServicePorts>;
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 65535;
    if (!ok(v.port) || !ok(v.localPort)) return null;
    return { port: v.port, localPort: v.localPort, pid: typeof v.pid === 'number' ? v.pid : 0, startedAt: typeof v.startedAt === 'string' ? v.startedAt : '' };
  } catch {
    return null;
  }
}
