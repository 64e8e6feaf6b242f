// What the client tells the server about its machine: hostname, MAC addresses, serial number, make and model (Linux sysfs, where readable).

import { readdir, readFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { DeviceInfo } from '../api/contract.js';

/** DMI values that firmware writes when it has nothing to say. */
const PLACEHOLDER = /^(|none|default string|to be filled by o\.e\.m\.|system serial number|system product name|system manufacturer|not specified|not applicable|0+|n\/a|123456789)$/i;

async function readText(file: string): Promise<string | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).replace(/[\x00-\x1f\x7f]/g, '').trim().slice(0, 256);
    return PLACEHOLDER.test(text) ? undefined : text;
  } catch {
    return undefined; // not there, or only root may read it (product_serial)
  }
}

/** MAC addresses from `<sysfs>/class/net/*\/address`, else from Node's interface list; loopback and all-zero ones left out. */
async function macAddresses(sysfs: string): Promise<string[]> {
  const found = new Set<string>();
  try {
    for (const name of await readdir(join(sysfs, 'class', 'net'))) {
      if (name === 'lo') continue;
      const mac = (await readText(join(sysfs, 'class', 'net', name, 'address')))?.toLowerCase();
      if (mac) found.add(mac);
    }
  } catch {
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) if (!i.internal) found.add(i.mac.toLowerCase());
  }
  return [...found].filter((m) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5,19}$/.test(m) && !/^[0:]+$/.test(m)).sort().slice(0, 64);
}

/**
 * Reads this machine's description. `sysfs` is `/sys` (DEPLOYR_SYSFS_ROOT replaces it, for tests
 * and containers). Every part is optional: a value that cannot be read is left out.
 */
export async function readDeviceInfo(sysfs = process.env.DEPLOYR_SYSFS_ROOT ?? '/sys'): Promise<DeviceInfo> {
  const dmi = join(sysfs, 'class', 'dmi', 'id');
  const [serialNumber, make, model, macs] = await Promise.all([
    readText(join(dmi, 'product_serial')).then(async (s) => s ?? readText(join(dmi, 'board_serial'))),
    readText(join(dmi, 'sys_vendor')),
    readText(join(dmi, 'product_name')),
    macAddresses(sysfs),
  ]);
  const host = hostname().slice(0, 256);
  return {
    ...(host ? { hostname: host } : {}), ...(macs.length ? { macs } : {}), ...(serialNumber ? { serialNumber } : {}),
    ...(make ? { make } : {}), ...(model ? { model } : {}),
  };
}
