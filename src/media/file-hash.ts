// SHA-256 and size of a built file, for media.json and the signed binaries it lists.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** One built file. */
export interface MediaFileEntry {
  size: number;
  sha256: string;
}

/** SHA-256 (lower-case hex) and size of a file. */
export async function hashFile(path: string): Promise<MediaFileEntry> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}
