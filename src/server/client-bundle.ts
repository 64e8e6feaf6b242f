// The stand-alone client (one JavaScript file, built by `npm run build`) that the service hands to bootstrap scripts.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** The client bundle's bytes and their SHA-256 (lower-case hex), read once at start. */
export interface ClientBundle {
  bytes: Buffer;
  sha256: string;
}

/** Reads the bundle at `path`; null when it is not there (a build without the bundle step). */
export async function loadClientBundle(path: string): Promise<ClientBundle | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}
