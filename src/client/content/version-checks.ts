// Checks of what the server says about a content version: the reference asked for, the metadata, and file paths that must stay under the version's folder.

import { resolve, sep } from 'node:path';
import type { ContentVersionResponse } from '../../api/contract.js';
import { ClientError } from '../api-client.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Splits `<guid>` or `<guid>:<version>`. */
export function parseReference(reference: string): { id: string; versionNo: number | 'active' } {
  const [id = '', ver, extra] = reference.trim().split(':');
  if (!GUID.test(id) || extra !== undefined || (ver !== undefined && !/^[1-9][0-9]{0,8}$/.test(ver))) {
    throw new ClientError('INPUT', `"${reference}" is not a content reference; use <guid> or <guid>:<version>.`);
  }
  return { id: id.toLowerCase(), versionNo: ver === undefined ? 'active' : Number(ver) };
}

/** The file's place under `dir`, refusing any path that could leave it. */
export function placeUnder(dir: string, path: string): string {
  const parts = path.split('/');
  if (path.length === 0 || path.length > 4096 || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\') || /[\0-\x1f]/.test(p) || /^[A-Za-z]:/.test(p))) {
    throw new ClientError('PROTOCOL', `The server listed a file with an unsafe path (${JSON.stringify(path.slice(0, 200))}); not fetching this content.`);
  }
  const target = resolve(dir, ...parts);
  if (!target.startsWith(resolve(dir) + sep)) throw new ClientError('PROTOCOL', `The server listed a file outside the content folder (${JSON.stringify(path)}).`);
  return target;
}

/** Refuses a version answer without a well-formed file list. */
export function checkMetadata(meta: ContentVersionResponse): void {
  if (!meta || !Array.isArray(meta.files) || typeof meta.versionNo !== 'number') throw new ClientError('PROTOCOL', 'The server sent a content version without a file list.');
  for (const f of meta.files) {
    if (typeof f.path !== 'string' || typeof f.sha256 !== 'string' || !SHA256_HEX.test(f.sha256) || !Number.isSafeInteger(f.size) || f.size < 0) {
      throw new ClientError('PROTOCOL', `The server listed a malformed file in "${meta.name}" version ${meta.versionNo}.`);
    }
  }
}
