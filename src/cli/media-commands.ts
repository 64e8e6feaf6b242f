// `deployr media build | status | dnsmasq`: boot media made from this machine's kernel, busybox and Node.js, and what the server publishes.

import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DeployrError } from '../domain/errors.js';
import { splitServerList } from '../domain/server-list.js';
import type { BootMediaBuilder, BootMediaPublished } from '../engine/boot-media.js';
import { buildMedia } from '../media/build-media.js';
import { dnsmasqConfig } from '../media/dnsmasq-config.js';
import { certificateFingerprint, normalizeFingerprint } from '../media/initrd-builder.js';
import { hashFile, MEDIA_FILES, readManifest, type MediaManifest } from '../media/media-manifest.js';
import { findTool } from '../media/tools.js';
import type { CommandIo } from './output.js';

/** `media build` flags. */
export interface MediaBuildFlags {
  out?: string;
  /** `--server`, repeatable; each value one URL or several separated by commas. */
  server?: string[];
  fingerprint?: string;
  cert?: string;
  kernel?: string;
  modules?: string;
  node?: string;
  noprompt?: boolean;
  /** false with `--no-secure-boot`. */
  secureBoot?: boolean;
  console?: string;
  zstdLevel?: string;
}

/** Where the service's certificate is: `--cert`, the configured one ($DEPLOYR_TLS_CERT), or the home's self-signed one. */
export function serverCertificateFile(home: string, cert: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return cert ?? env.DEPLOYR_TLS_CERT ?? join(home, 'tls', 'server.crt');
}

/** The fingerprint the media will pin: `--fingerprint`, or the SHA-256 of the service's certificate. */
function fingerprintFor(home: string, flags: MediaBuildFlags): string {
  if (flags.fingerprint) return normalizeFingerprint(flags.fingerprint);
  const file = serverCertificateFile(home, flags.cert);
  let pem: string;
  try { pem = readFileSync(file, 'utf8'); } catch {
    throw new DeployrError('INVALID_INPUT', `no server certificate at ${file}: start deployr serve once (it makes one), or give --cert FILE or --fingerprint SHA256.`);
  }
  try { return certificateFingerprint(pem); } catch { throw new DeployrError('INVALID_INPUT', `${file} is not a PEM certificate.`); }
}

/** A build with everything resolved: what `media build` and the admin API's build both run. */
export interface MediaBuildRequest {
  out: string;
  /** The servers the media try, in order (several for failover). */
  servers: string[];
  fingerprint: string;
  kernel?: string;
  modules?: string;
  node?: string;
  noprompt: boolean;
  secureBoot: boolean;
  zstdLevel: number;
  /** `console=` values (default "ttyS0,115200 tty0"; the last one runs the client). */
  consoles?: string[];
}

/** Checks a resolved build and runs it (the one build behind the CLI and the admin API). */
export async function runMediaBuild(request: MediaBuildRequest, deps: { clientBundle: string; version: string }, say: (line: string) => void): Promise<MediaManifest> {
  const level = request.zstdLevel;
  if (!Number.isInteger(level) || level < 1 || level > 19) throw new DeployrError('INVALID_INPUT', '--zstd-level must be a whole number from 1 to 19.');
  const consoles = request.consoles ?? ['ttyS0,115200', 'tty0'];
  if (consoles.length === 0 || consoles.some((c) => !/^[A-Za-z0-9,]+$/.test(c))) throw new DeployrError('INVALID_INPUT', '--console takes console names such as "ttyS0,115200 tty0" (the last one runs the client).');
  return buildMedia({
    out: request.out, servers: request.servers, fingerprint: normalizeFingerprint(request.fingerprint),
    ...(request.kernel ? { kernel: request.kernel } : {}), ...(request.modules ? { modules: request.modules } : {}),
    node: request.node ?? realpathSync(process.execPath), clientBundle: deps.clientBundle, consoles, noprompt: request.noprompt,
    secureBoot: request.secureBoot, zstdLevel: level, deployrVersion: deps.version, say,
  });
}

/** `deployr media build`. */
export async function mediaBuild(home: string, mediaDir: string, flags: MediaBuildFlags, deps: { clientBundle: string; version: string }, io: CommandIo): Promise<number> {
  const out = flags.out ?? mediaDir;
  const fingerprint = fingerprintFor(home, flags);
  const given = flags.server ?? [];
  const servers = given.length > 0 ? given : [`https://${hostname()}:${process.env.DEPLOYR_PORT ?? '7281'}`];
  if (given.length === 0) io.err(`note: --server not given; the media will look for ${servers[0] ?? ''} (this machine's name). Give --server https://HOST:PORT if clients reach it by another name.`);
  const started = Date.now();
  const manifest = await runMediaBuild({
    out, servers, fingerprint, ...(flags.kernel ? { kernel: flags.kernel } : {}), ...(flags.modules ? { modules: flags.modules } : {}), ...(flags.node ? { node: flags.node } : {}),
    noprompt: Boolean(flags.noprompt), secureBoot: flags.secureBoot !== false, zstdLevel: flags.zstdLevel === undefined ? 10 : Number(flags.zstdLevel),
    consoles: (flags.console ?? 'ttyS0,115200 tty0').split(/\s+/).filter(Boolean),
  }, deps, (line) => io.err(`  ${line}`));
  const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
  io.out(`Boot media written to ${out} in ${((Date.now() - started) / 1000).toFixed(0)} s:`);
  for (const name of MEDIA_FILES) io.out(`  ${name.padEnd(12)} ${mib(manifest.files[name].size).padStart(10)}  sha256 ${manifest.files[name].sha256}`);
  io.out(`  kernel ${manifest.kernelVersion}, Node.js ${manifest.nodeVersion}, ${manifest.initrd.modules} drivers, ${manifest.initrd.firmware} firmware files`);
  io.out(`  ${(manifest.servers?.length ?? 1) > 1 ? 'servers (in order)' : 'server'} ${manifest.server}, certificate SHA-256 ${manifest.fingerprint}${manifest.noprompt ? ', no menu (--noprompt)' : ''}`);
  io.out(manifest.secureBoot?.capable
    ? `  Secure Boot: yes (UEFI: shim → signed GRUB → kernel ${manifest.secureBoot.kernel.package}); network boot under Secure Boot: shimx64.efi, grubx64.efi, grub/grub.cfg in ${out}`
    : '  Secure Boot: no (--no-secure-boot: the UEFI path is an unsigned GRUB; turn Secure Boot off to boot it)');
  io.out('  No secret is on the media; a passcode change needs no rebuild (a new server certificate does).');
  if (out !== mediaDir) io.out(`  (not published: the service publishes ${mediaDir})`);
  return 0;
}

/** What is published in `mediaDir`, checked file by file and against `fingerprint` (the service's current certificate; null: unknown). */
export async function publishedMedia(mediaDir: string, fingerprint: string | null): Promise<BootMediaPublished> {
  const manifest = await readManifest(mediaDir);
  if (!manifest) {
    return { published: false, builtAt: null, kernelVersion: null, nodeVersion: null, server: null, fingerprint: null, currentFingerprint: fingerprint, matchesCertificate: null, secureBoot: null, files: [] };
  }
  const files = [];
  for (const name of MEDIA_FILES) {
    const path = join(mediaDir, name);
    const actual = existsSync(path) ? await hashFile(path) : null;
    files.push({ name, size: manifest.files[name].size, sha256: manifest.files[name].sha256, intact: actual !== null && actual.sha256 === manifest.files[name].sha256 });
  }
  return {
    published: true, builtAt: manifest.builtAt, kernelVersion: manifest.kernelVersion, nodeVersion: manifest.nodeVersion, server: manifest.server,
    fingerprint: manifest.fingerprint, currentFingerprint: fingerprint,
    matchesCertificate: fingerprint === null ? null : normalizeFingerprint(fingerprint) === manifest.fingerprint,
    secureBoot: manifest.secureBoot?.capable ?? false, files,
  };
}

/**
 * The boot media builder of src/engine/boot-media.ts over this module: the service (wired in
 * src/bin) builds into its media folder with the same code as `deployr media build`, and reports
 * what is published with the same checks as `deployr media status`.
 */
export function mediaBuilder(mediaDir: string, deps: { clientBundle: string; version: string }): BootMediaBuilder {
  return {
    build: async (options, say) => {
      await runMediaBuild({
        out: mediaDir, servers: splitServerList([options.server]), fingerprint: options.fingerprint, noprompt: options.noprompt === true,
        secureBoot: options.secureBoot !== false, zstdLevel: options.zstdLevel ?? 10,
      }, deps, say);
    },
    published: (fingerprint) => publishedMedia(mediaDir, fingerprint),
  };
}

/** `deployr media status`: what is published, whether the files are intact and pin the service's current certificate. */
export async function mediaStatus(home: string, mediaDir: string, flags: { cert?: string; json?: boolean }, currentFingerprint: string | null, io: CommandIo): Promise<number> {
  let fingerprint = currentFingerprint;
  if (!fingerprint) {
    try { fingerprint = certificateFingerprint(readFileSync(serverCertificateFile(home, flags.cert), 'utf8')); } catch { fingerprint = null; }
  }
  const status = await publishedMedia(mediaDir, fingerprint);
  if (!status.published) {
    if (flags.json) io.out(JSON.stringify({ published: false, dir: mediaDir }));
    else io.out(`No boot media published in ${mediaDir}: build them with  deployr media build`);
    return 1;
  }
  const { files, matchesCertificate: matches } = status;
  const ok = files.every((f) => f.intact) && matches === true;
  if (flags.json) {
    io.out(JSON.stringify({ published: true, dir: mediaDir, builtAt: status.builtAt, kernelVersion: status.kernelVersion, server: status.server, fingerprint: status.fingerprint, currentFingerprint: fingerprint, matchesCertificate: matches, files }));
    return ok ? 0 : 1;
  }
  io.out(`Boot media in ${mediaDir} (built ${status.builtAt}, kernel ${status.kernelVersion}, Node.js ${status.nodeVersion}):`);
  for (const f of files) io.out(`  /Content/Boot/${f.name.padEnd(12)} ${(f.size / 1048576).toFixed(1).padStart(7)} MiB  ${f.intact ? 'ok' : 'MISSING OR CHANGED since the build'}`);
  io.out(`  server ${status.server}`);
  io.out(`  pinned certificate SHA-256 ${status.fingerprint}`);
  if (matches === null) io.out('  the service\'s current certificate could not be read: cannot tell whether the media still trust it');
  else if (matches) io.out('  matches the service\'s current certificate');
  else io.out(`  DOES NOT MATCH the service's current certificate (${fingerprint}): machines booted from these media will refuse the server; rebuild with  deployr media build`);
  return ok ? 0 : 1;
}

/** `deployr media dnsmasq`: a proxyDHCP + TFTP configuration to start from. */
export function mediaDnsmasq(flags: { subnet: string; bootUrl: string; tftpRoot?: string; interface?: string; secureBoot?: boolean }, io: CommandIo, mediaDir?: string): number {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(flags.subnet)) throw new DeployrError('INVALID_INPUT', '--subnet takes the LAN\'s network address, e.g. 192.168.1.0.');
  let url: URL;
  try { url = new URL(flags.bootUrl); } catch { throw new DeployrError('INVALID_INPUT', '--boot-url must be a URL such as http://deployr.lan:8080/Content/Boot/boot.ipxe.'); }
  if (!/^https?:$/.test(url.protocol) || /[\s,"]/.test(flags.bootUrl)) throw new DeployrError('INVALID_INPUT', '--boot-url must be an http:// or https:// URL without spaces, commas or quotes.');
  if (flags.interface !== undefined && !/^[A-Za-z0-9._-]+$/.test(flags.interface)) throw new DeployrError('INVALID_INPUT', '--interface takes an interface name such as eth0.');
  const secureBoot = Boolean(flags.secureBoot);
  const tftpRoot = flags.tftpRoot ?? (secureBoot && mediaDir ? mediaDir : '/usr/lib/ipxe');
  io.out(dnsmasqConfig({ subnet: flags.subnet, tftpRoot, bootUrl: flags.bootUrl, secureBoot, ...(flags.interface ? { iface: flags.interface } : {}) }).trimEnd());
  if (secureBoot) {
    const missing = ['shimx64.efi', 'grubx64.efi', 'grub/grub.cfg', 'vmlinuz', 'initrd'].filter((f) => !existsSync(join(tftpRoot, f)));
    if (missing.length) io.err(`note: ${tftpRoot} has no ${missing.join(', ')}: build Secure Boot media there with  deployr media build${flags.tftpRoot ? ` --out ${tftpRoot}` : ''}`);
    if (!existsSync(join(tftpRoot, 'undionly.kpxe'))) io.err(`note: BIOS machines load undionly.kpxe from the same TFTP root: cp /usr/lib/ipxe/undionly.kpxe ${tftpRoot}/  (package ipxe)`);
  } else if (!existsSync(join(tftpRoot, 'undionly.kpxe')) || !existsSync(join(tftpRoot, 'ipxe.efi'))) io.err(`note: ${tftpRoot} has no undionly.kpxe / ipxe.efi: install them with  apt-get install ipxe`);
  if (!findTool('dnsmasq')) io.err('note: dnsmasq is not installed here: apt-get install dnsmasq');
  return 0;
}
