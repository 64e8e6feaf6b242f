// Finds the kernel the media boot (default: the newest under /boot) and its modules folder.

import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DeployrError } from '../domain/errors.js';

/** A kernel image and the modules built for it. */
export interface KernelChoice {
  vmlinuz: string;
  /** `/lib/modules/<version>`. */
  modulesDir: string;
  version: string;
}

/** Compares version strings such as 6.1.0-57-amd64 the way `sort -V` does (enough for kernel names). */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isInteger(nx) && Number.isInteger(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * The kernel: `--kernel FILE --modules DIR` when given, otherwise the newest `/boot/vmlinuz-*`
 * that has `/lib/modules/<version>`. A missing kernel is a one-line error naming the package.
 */
export function chooseKernel(options: { kernel?: string; modules?: string }, bootDir = '/boot', modulesRoot = '/lib/modules'): KernelChoice {
  if (options.kernel || options.modules) {
    if (!options.kernel || !options.modules) throw new DeployrError('INVALID_INPUT', '--kernel and --modules go together (the modules folder is /lib/modules/<version> of that kernel).');
    if (!existsSync(options.kernel)) throw new DeployrError('INVALID_INPUT', `--kernel ${options.kernel}: no such file.`);
    if (!existsSync(join(options.modules, 'modules.dep'))) throw new DeployrError('INVALID_INPUT', `--modules ${options.modules}: not a kernel modules folder (no modules.dep).`);
    return { vmlinuz: options.kernel, modulesDir: options.modules, version: basename(options.modules) };
  }
  const versions = (existsSync(bootDir) ? readdirSync(bootDir) : [])
    .filter((f) => f.startsWith('vmlinuz-')).map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => existsSync(join(modulesRoot, v, 'modules.dep')))
    .sort(compareVersions);
  const version = versions.pop();
  if (!version) throw new DeployrError('INVALID_INPUT', `no kernel under ${bootDir} with its modules: install it with  apt-get install linux-image-amd64  (or give --kernel FILE --modules DIR)`, { package: 'linux-image-amd64' });
  return { vmlinuz: join(bootDir, `vmlinuz-${version}`), modulesDir: join(modulesRoot, version), version };
}
