// media.json: what a media build wrote (files with sizes and SHA-256, kernel, the server URL and the certificate fingerprint it trusts).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MediaFileEntry } from './file-hash.js';
import type { SecureBootManifest } from './secure-boot.js';

/** The files a build publishes, by name under /Content/Boot/. */
export const MEDIA_FILES = ['vmlinuz', 'initrd', 'boot.ipxe', 'deployr.iso'] as const;
/** One of them. */
export type MediaFileName = (typeof MEDIA_FILES)[number];

export { hashFile, type MediaFileEntry } from './file-hash.js';

/** The manifest. Holds no secret: only where the server is and how to recognise its certificate. */
export interface MediaManifest {
  format: 1;
  /** The kind of boot environment (a Windows PE one could be added beside it). */
  kind: 'linux';
  builtAt: string;
  deployrVersion: string;
  kernelVersion: string;
  nodeVersion: string;
  /** The server list as the kernel line carries it: one origin, or several separated by commas. */
  server: string;
  /** The same servers one by one, in the order the client tries them (absent in media built before it). */
  servers?: string[];
  /** SHA-256 of the server certificate the media trust (upper case, colons). */
  fingerprint: string;
  consoles: string[];
  noprompt: boolean;
  /** Whether the UEFI path is Debian's signed chain, with each signed binary's package, version and SHA-256 (absent in media built before it). */
  secureBoot?: SecureBootManifest;
  initrd: { compression: 'zstd'; uncompressedBytes: number; modules: number; firmware: number };
  files: Record<MediaFileName, MediaFileEntry>;
}


/** Reads `DIR/media.json`; null when there is none (or it cannot be parsed). */
export async function readManifest(dir: string): Promise<MediaManifest | null> {
  try {
    const m = JSON.parse(await readFile(join(dir, 'media.json'), 'utf8')) as MediaManifest;
    return m && m.format === 1 && m.files ? m : null;
  } catch {
    return null;
  }
}
