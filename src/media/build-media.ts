// `media build`: the Linux boot environment as kernel + initrd, an iPXE script, a hybrid ISO and media.json, written into one folder.

import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeployrError } from '../domain/errors.js';
import { splitServerList } from '../domain/server-list.js';
import { buildInitrd } from './initrd-builder.js';
import { ipxeScript } from './ipxe-script.js';
import { buildIso } from './iso-builder.js';
import { chooseKernel } from './kernel.js';
import { hashFile, MEDIA_FILES, type MediaManifest } from './media-manifest.js';
import { netbootGrubConfig, NETBOOT_FILES } from './netboot-grub.js';
import { requireTool } from './tools.js';
import { checkSignedKernel, SIGNED_PARTS, signedBinaries, type SecureBootManifest } from './secure-boot.js';

/** What to build. */
export interface BuildMediaOptions {
  out: string;
  /** The servers the boot environment tries in order (each one `https://HOST[:PORT]`, or several separated by commas). */
  servers: string[];
  /** SHA-256 of the server certificate (normalised). */
  fingerprint: string;
  kernel?: string;
  modules?: string;
  node: string;
  clientBundle: string;
  /** `console=` values; the last is where the client runs. */
  consoles: string[];
  noprompt: boolean;
  /** Debian's signed UEFI chain (default when installed); false = `--no-secure-boot`. */
  secureBoot: boolean;
  zstdLevel: number;
  deployrVersion: string;
  say: (line: string) => void;
}

/** Checks the server URL: https, a host, nothing a shell or kernel command line would split. */
export function checkServerUrl(server: string): string {
  let url: URL;
  try { url = new URL(server); } catch { throw new DeployrError('INVALID_INPUT', `--server "${server}" is not a URL; use https://HOST:7281`); }
  if (url.protocol !== 'https:') throw new DeployrError('INVALID_INPUT', '--server must start with https:// (the boot environment only talks HTTPS to the server).');
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) throw new DeployrError('INVALID_INPUT', '--server takes only https://HOST[:PORT] (no path, query or user name).');
  // The URL goes into a shell-sourced file and onto kernel and iPXE command lines: a plain host name or address only.
  if (!/^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])$/.test(url.hostname)) throw new DeployrError('INVALID_INPUT', '--server: the host must be a DNS name or an IP address.');
  return url.origin;
}

/**
 * Checks every server of `--server` (repeatable, each value one URL or several separated by
 * commas) with `checkServerUrl`, in order; the same origin twice is kept once. A bad entry is named
 * with its place in the list.
 */
export function checkServerList(values: readonly string[]): string[] {
  const entries = splitServerList(values);
  if (entries.length === 0) throw new DeployrError('INVALID_INPUT', '--server names no server; use https://HOST:7281 (several: separated by commas, or --server repeated).');
  const origins: string[] = [];
  for (const [i, entry] of entries.entries()) {
    let origin: string;
    try { origin = checkServerUrl(entry); } catch (err) {
      if (entries.length === 1) throw err;
      throw new DeployrError('INVALID_INPUT', `${(err as Error).message.replace(/^--server/, `--server entry ${i + 1} of ${entries.length}`)}`);
    }
    if (!origins.includes(origin)) origins.push(origin);
  }
  return origins;
}

/** Builds every medium into `o.out` (files replaced one by one, media.json last); returns the manifest. */
export async function buildMedia(o: BuildMediaOptions): Promise<MediaManifest> {
  const servers = checkServerList(o.servers);
  const server = servers.join(',');
  const kernel = chooseKernel({ ...(o.kernel ? { kernel: o.kernel } : {}), ...(o.modules ? { modules: o.modules } : {}) });
  let secureBoot: SecureBootManifest = { capable: false, reason: '--no-secure-boot' };
  if (o.secureBoot) {
    // A missing build tool is named first (the Secure Boot checks below ask dpkg, which needs a usable PATH).
    for (const tool of ['busybox', 'cpio', 'zstd', 'modprobe', 'dpkg-query']) requireTool(tool);
    const binaries = await signedBinaries();
    secureBoot = { capable: true, binaries, kernel: await checkSignedKernel(kernel) };
    o.say(`Secure Boot: ${binaries.map((b) => `${b.name} ${b.package} ${b.version}`).join(', ')}; kernel ${secureBoot.kernel.package}${secureBoot.kernel.signer ? ` signed by ${secureBoot.kernel.signer}` : ''}`);
  }
  await mkdir(o.out, { recursive: true });
  const work = await mkdtemp(join(o.out, '.build-'));
  try {
    o.say(`kernel ${kernel.version} (${kernel.vmlinuz})`);
    await copyFile(kernel.vmlinuz, join(work, 'vmlinuz'));
    const mediaVersion = `${o.deployrVersion} ${new Date().toISOString()}`;
    const initrd = await buildInitrd({
      kernel, node: o.node, clientBundle: o.clientBundle, server, fingerprint: o.fingerprint, mediaVersion, zstdLevel: o.zstdLevel, out: join(work, 'initrd'), say: o.say,
    });
    if (initrd.skipped.length) o.say(`initrd: not modules in this kernel (built in or absent): ${initrd.skipped.join(' ')}`);
    const line = { servers, fingerprint: o.fingerprint, consoles: o.consoles };
    await writeFile(join(work, 'boot.ipxe'), ipxeScript(line));
    o.say('boot.ipxe written');
    await buildIso({ ...line, vmlinuz: join(work, 'vmlinuz'), initrd: join(work, 'initrd'), noprompt: o.noprompt, secureBoot: o.secureBoot, out: join(work, 'deployr.iso'), say: o.say });
    if (o.secureBoot) {
      // Network boot under Secure Boot (TFTP root = this folder): shim → Debian's signed network GRUB → /grub/grub.cfg.
      await mkdir(join(work, 'grub'), { recursive: true });
      await copyFile(SIGNED_PARTS.shim.path, join(work, 'shimx64.efi'));
      await copyFile(SIGNED_PARTS.grubNet.path, join(work, 'grubx64.efi'));
      await copyFile(SIGNED_PARTS.mokManager.path, join(work, 'mmx64.efi'));
      await writeFile(join(work, 'grub/grub.cfg'), netbootGrubConfig(line));
      o.say('network boot under Secure Boot: shimx64.efi, grubx64.efi (grubnetx64), mmx64.efi, grub/grub.cfg written');
    }
    o.say('hashing');
    const files = {} as MediaManifest['files'];
    for (const name of MEDIA_FILES) files[name] = await hashFile(join(work, name));
    const manifest: MediaManifest = {
      format: 1, kind: 'linux', builtAt: new Date().toISOString(), deployrVersion: o.deployrVersion, kernelVersion: kernel.version, nodeVersion: initrd.nodeVersion,
      server, servers, fingerprint: o.fingerprint, consoles: o.consoles, noprompt: o.noprompt, secureBoot,
      initrd: { compression: 'zstd', uncompressedBytes: initrd.uncompressedBytes, modules: initrd.modules, firmware: initrd.firmware },
      files,
    };
    await rm(join(o.out, 'media.json'), { force: true });
    for (const name of MEDIA_FILES) await rename(join(work, name), join(o.out, name));
    for (const name of NETBOOT_FILES) await rm(join(o.out, name), { force: true });
    if (o.secureBoot) {
      await mkdir(join(o.out, 'grub'), { recursive: true });
      for (const name of NETBOOT_FILES) await rename(join(work, name), join(o.out, name));
    }
    await writeFile(join(work, 'media.json'), JSON.stringify(manifest, null, 2) + '\n');
    await rename(join(work, 'media.json'), join(o.out, 'media.json'));
    return manifest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
