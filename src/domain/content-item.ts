// Content items (images, driver packs, applications, other files) and their versions, as DeployR shapes them.

/** What a content item is for. */
export type ContentPurpose = 'Application' | 'DriverPack' | 'OperatingSystem' | 'Other';
/** Every content purpose. */
export const CONTENT_PURPOSES: readonly ContentPurpose[] = ['Application', 'DriverPack', 'OperatingSystem', 'Other'];

/** A content item holds one file, or a folder of files. */
export type ContentType = 'Folder' | 'SingleFile';
/** Every content type. */
export const CONTENT_TYPES: readonly ContentType[] = ['Folder', 'SingleFile'];

/**
 * How a version's file is stored when it is a disk image, so that *Apply image* knows how to read it:
 * `raw` (the bytes go to the disk as they are), `raw+gzip` or `raw+zst` (a raw image compressed with
 * gzip or Zstandard, decompressed while it is written).
 */
export type ContentFormat = 'raw' | 'raw+gzip' | 'raw+zst';
/** Every content format. */
export const CONTENT_FORMATS: readonly ContentFormat[] = ['raw', 'raw+gzip', 'raw+zst'];

/** True when `value` is one of CONTENT_FORMATS. */
export function isContentFormat(value: unknown): value is ContentFormat {
  return typeof value === 'string' && (CONTENT_FORMATS as readonly string[]).includes(value);
}

/**
 * The format a single file's name suggests: `.gz` → `raw+gzip`, `.zst`/`.zstd` → `raw+zst`,
 * `.img`/`.raw` → `raw`; anything else (an installer, a WIM, a folder's files) says nothing: null.
 */
export function formatFromFileName(path: string): ContentFormat | null {
  if (/\.gz$/i.test(path)) return 'raw+gzip';
  if (/\.zstd?$/i.test(path)) return 'raw+zst';
  if (/\.(img|raw)$/i.test(path)) return 'raw';
  return null;
}

/** One file of a content item version, addressed by its SHA-256. */
export interface ContentFile {
  /** Relative path with forward slashes, no `..`. */
  path: string;
  size: number;
  /** SHA-256 (hex, lowercase) of the file's bytes. */
  sha256: string;
}

/** One version; new versions are inactive until activated. */
export interface ContentItemVersion {
  versionNo: number;
  status: 'Active' | 'Inactive';
  description: string | null;
  /** For applications: the command line that installs it. */
  installationCommandLine: string | null;
  /** For driver packs. */
  driverManufacturer: string | null;
  driverModel: string | null;
  /** For disk images: how the file is stored (see ContentFormat); null or absent when not stated. */
  format?: ContentFormat | null;
  files: ContentFile[];
  tags: string[];
  createdDate: number;
  lastModifiedDate: number;
}

/** A content item. */
export interface ContentItem {
  id: string;
  name: string;
  description: string | null;
  contentItemPurpose: ContentPurpose;
  type: ContentType;
  tags: string[];
  createdDate: number;
  lastModifiedDate: number;
  versions: ContentItemVersion[];
  /**
   * The highest version number ever given, kept once a version has been deleted, so that a number
   * (which task sequences and client caches refer to) is never given to other files.
   */
  lastVersionNo?: number;
}

/** The number the next version of `item` gets: one above every version it has or had. */
export function nextVersionNo(item: Pick<ContentItem, 'versions' | 'lastVersionNo'>): number {
  return item.versions.reduce((n, v) => Math.max(n, v.versionNo), item.lastVersionNo ?? 0) + 1;
}
