// Types of the client's content download: what a fetched version is, its progress, and the options of a fetch.

/** One file of a fetched version. */
export interface DownloadedFile {
  /** Relative path with forward slashes, as the server lists it. */
  path: string;
  size: number;
  sha256: string;
  /** Where the file is now: under `DownloadedContent.dir`. */
  localPath: string;
}

/** A fetched content version: its metadata and the folder holding its files. */
export interface DownloadedContent {
  id: string;
  versionNo: number;
  name: string;
  purpose: string;
  type: string;
  installationCommandLine: string | null;
  /** For disk images: `raw`, `raw+gzip` or `raw+zst` as the server states it; null or absent when not stated. */
  format?: string | null;
  /** `<workDir>/<id>/<versionNo>`: the files at their relative paths (hard links to the cache, or copies). */
  dir: string;
  files: DownloadedFile[];
}

/** Progress of a fetch, for a progress bar: bytes across the whole version (cached files count as received at once). */
export interface DownloadProgress {
  /** The file being received (its relative path). */
  file: string;
  received: number;
  total: number;
  /** Average rate of the bytes actually downloaded so far in this fetch. */
  bytesPerSecond: number;
}

/** Where fetched content goes, and how to follow or stop it. */
export interface FetchOptions {
  /** Files by hash: `<cacheDir>/<sha256>`, with `<sha256>.partial` and `<sha256>.lock` while downloading (clients may share the folder). */
  cacheDir: string;
  /** The version's folder is made under it. */
  workDir: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}
