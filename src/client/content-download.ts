// The client's content download: a version's files fetched by hash into a local cache (resumable, verified), then laid out under a work folder.

import { constants as fsConstants } from 'node:fs';
import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CONTENT_PATHS, type ContentFileInfo, type ContentVersionResponse } from '../api/contract.js';
import { ClientError, type ApiClient } from './api-client.js';
import { abortError, aborted, diskFull, isDiskFull } from './content/download-errors.js';
import type { DownloadedContent, DownloadedFile, FetchOptions } from './content/types.js';
import { checkMetadata, parseReference, placeUnder } from './content/version-checks.js';
import { VersionFetch } from './content/version-fetch.js';

export type { DownloadedContent, DownloadedFile, DownloadProgress, FetchOptions } from './content/types.js';

/** Files downloaded at the same time (a folder of many small files). */
const PARALLEL_FILES = 4;

/** Places the cached file at `target`: a hard link when possible, otherwise a copy. */
async function place(cached: string, target: string, file: ContentFileInfo): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  try {
    await link(cached, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') { await rm(target, { force: true }); return place(cached, target, file); }
    try {
      await copyFile(cached, target, fsConstants.COPYFILE_FICLONE);
    } catch (copyErr) {
      await rm(target, { force: true });
      if (isDiskFull(copyErr)) throw diskFull(file.path, file.size);
      throw copyErr;
    }
  }
}

/**
 * Reads content version `reference`'s metadata (`<guid>:<version>`, or `<guid>` for the highest
 * active version) and checks it: well-formed, Active, and the version asked for. No file is fetched.
 */
export async function fetchVersionInfo(api: ApiClient, token: string, reference: string): Promise<ContentVersionResponse> {
  const { id, versionNo } = parseReference(reference);
  const meta = await api.call<ContentVersionResponse>('GET', CONTENT_PATHS.version(id, versionNo), undefined, token);
  checkMetadata(meta);
  if (meta.status !== 'Active') {
    throw new ClientError('INPUT', `Content "${meta.name}" version ${meta.versionNo} is not active, so it is not deployed (activate it with: deployr content activate ${meta.contentItemId} ${meta.versionNo}).`);
  }
  if (meta.contentItemId?.toLowerCase() !== id || (versionNo !== 'active' && meta.versionNo !== versionNo) || !Number.isSafeInteger(meta.versionNo) || meta.versionNo < 1) {
    throw new ClientError('PROTOCOL', `The server answered for another content version than ${reference}.`);
  }
  return meta;
}

/**
 * Fetches content version `reference` (`<guid>:<version>`, or `<guid>` for the highest active
 * version): every file is taken from the cache by hash or downloaded (resuming a partial download,
 * verifying its SHA-256), then the version's folder `<workDir>/<id>/<versionNo>` is made afresh with
 * the files at their relative paths. Inactive versions are refused. Failures are one-line ClientErrors
 * (a full disk: "Not enough disk space to download FILE (N bytes needed)"); a cancelled `signal` rejects
 * with its reason, leaving the partial download to resume next time.
 */
export async function fetchContentVersion(api: ApiClient, token: string, reference: string, options: FetchOptions): Promise<DownloadedContent> {
  const meta = await fetchVersionInfo(api, token, reference);
  const id = meta.contentItemId.toLowerCase();
  const dir = resolve(options.workDir, id, String(meta.versionNo));
  const targets = meta.files.map((f) => ({ file: f, target: placeUnder(dir, f.path) }));
  await mkdir(options.cacheDir, { recursive: true });
  const total = meta.files.reduce((n, f) => n + f.size, 0);
  const fetcher = new VersionFetch(api, token, options, total);
  const cachedPaths = new Map<string, string>();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < meta.files.length) {
      if (aborted(options.signal)) throw abortError(options.signal);
      const file = meta.files[next++] as ContentFileInfo;
      cachedPaths.set(file.path, await fetcher.ensureCached(file));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, meta.files.length) }, lane));
  } finally {
    await fetcher.finish();
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const files: DownloadedFile[] = [];
  for (const { file, target } of targets) {
    await place(cachedPaths.get(file.path) as string, target, file);
    files.push({ path: file.path, size: file.size, sha256: file.sha256, localPath: target });
  }
  return {
    id, versionNo: meta.versionNo, name: meta.name, purpose: meta.contentItemPurpose, type: meta.type,
    installationCommandLine: meta.installationCommandLine, format: meta.format ?? null, dir, files,
  };
}
