// The servers a client may use, in order: `--server` (repeatable, each a comma-separated list) or DEPLOYRHOST, checked and made https origins.

import { splitServerList } from '../domain/server-list.js';
import { ClientError } from './client-error.js';

/**
 * One server address: `HOST`, `HOST:PORT` or `https://HOST[:PORT]` (no scheme means https://, the
 * only protocol the service speaks to clients). Anything else is a one-line INPUT error that names
 * the entry and, in a list, which one it is.
 */
export function serverUrl(entry: string, where = ''): URL {
  const text = entry.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let url: URL;
  try { url = new URL(withScheme); } catch {
    throw new ClientError('INPUT', `"${entry}"${where} is not a server address; use https://HOST:7281 (or HOST:PORT).`);
  }
  if (url.protocol !== 'https:') throw new ClientError('INPUT', `The server URL${where} must start with https:// (got ${url.protocol}//); the service speaks HTTPS on port 7281.`);
  return url;
}

/**
 * The servers named by `values` (each value one address or several separated by commas), in
 * order, each checked by `serverUrl`; the same origin twice is kept once. `from` names where the
 * list came from (`--server`, `DEPLOYRHOST`) in the errors.
 */
export function parseServerList(values: readonly string[], from = '--server'): URL[] {
  const entries = splitServerList(values);
  if (entries.length === 0) throw new ClientError('INPUT', `${from} names no server; use https://HOST:7281 (several: separated by commas, or --server repeated).`);
  const urls: URL[] = [];
  for (const [i, entry] of entries.entries()) {
    const url = serverUrl(entry, entries.length > 1 ? ` (entry ${i + 1} of ${entries.length} in ${from})` : '');
    if (!urls.some((u) => u.origin === url.origin)) urls.push(url);
  }
  return urls;
}
