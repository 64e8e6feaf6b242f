// Use cases for content versions and their files: add a version from a file or folder, activate it, read it, and serve its blobs.

import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { formatFromFileName, isContentFormat, nextVersionNo, CONTENT_FORMATS, type ContentFile, type ContentFormat, type ContentItem, type ContentItemVersion } from '../domain/content-item.js';
import type { AuditEvent } from '../domain/audit.js';
import { DeployrError, isDeployrError } from '../domain/errors.js';
import type { BlobReader, ContentBlobStore, ContentItemStore } from './ports.js';

/** Who makes a change, for the audit trail. */
export interface Actor {
  subject: string;
  source: string | null;
}

/** The optional metadata of a new version. */
export interface NewVersionInput {
  description?: string | null;
  /** For applications: the command line that installs it. */
  installationCommandLine?: string | null;
  /** For driver packs. */
  driverManufacturer?: string | null;
  driverModel?: string | null;
  /**
   * For disk images: `raw`, `raw+gzip` or `raw+zst` (only for a SingleFile item). Absent: taken from
   * the file's name (`.gz`, `.zst`, `.img`/`.raw`), else not stated.
   */
  format?: string | null;
  tags?: string[];
}

/** A blob the service may serve: it belongs to some content item version and the store holds it. */
export interface ServableBlob {
  sha256: string;
  size: number;
  /** Opens it for positioned reads. */
  open(): Promise<BlobReader>;
}

/** A version with the item it belongs to. */
export interface ResolvedVersion {
  item: ContentItem;
  version: ContentItemVersion;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** How long the set of servable hashes is trusted before a miss re-reads the store. */
const REFERENCED_TTL_MS = 5000;
/** A miss re-reads the store at most this often. */
const MIN_RELOAD_MS = 250;
const MAX_TEXT = 4096;

function optionalText(value: string | null | undefined, what: string): string | null {
  if (value === undefined || value === null || value.trim() === '') return null;
  if (value.length > MAX_TEXT) throw new DeployrError('INVALID_INPUT', `${what} is longer than ${MAX_TEXT} characters.`);
  if (/[\0\r\n]/.test(value)) throw new DeployrError('INVALID_INPUT', `${what} must be one line.`);
  return value;
}

/** A version's format: the one given (checked), else what a SingleFile item's file name says, else null. */
function versionFormat(given: string | null | undefined, item: ContentItem, sources: { path: string }[]): ContentFormat | null {
  if (given !== undefined && given !== null && given.trim() !== '') {
    const value = given.trim().toLowerCase();
    if (!isContentFormat(value)) throw new DeployrError('INVALID_INPUT', `The format "${given.trim()}" is not known; use one of ${CONTENT_FORMATS.join(', ')}.`);
    if (item.type !== 'SingleFile') throw new DeployrError('INVALID_INPUT', `A format describes a disk image, which is a SingleFile item; "${item.name}" is a Folder item.`);
    return value;
  }
  return item.type === 'SingleFile' && sources.length === 1 ? formatFromFileName(sources[0]?.path ?? '') : null;
}

/** A relative path as stored: forward slashes; refuses names a client could not write safely. */
function wirePath(root: string, file: string): string {
  const parts = relative(root, file).split(sep);
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..' || p.includes('\\') || /[\0-\x1f]/.test(p)) {
      throw new DeployrError('INVALID_INPUT', `The file name ${JSON.stringify(relative(root, file))} cannot be stored (backslash, control character or dot segment).`);
    }
  }
  return parts.join('/');
}

/**
 * Reads a content item, applies `change`, and saves it only if nobody saved it meanwhile; retried a
 * few times when another command did (then `change` sees the newer item). NOT_FOUND for an unknown id.
 */
export async function updateContentItem<T>(store: ContentItemStore, id: string, change: (current: ContentItem) => { next: ContentItem; event: AuditEvent; result: T }): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const current = await store.getContentItem(id.toLowerCase());
    if (!current) throw new DeployrError('NOT_FOUND', `No content item with id ${id}.`);
    const { next, event, result } = change(current);
    try {
      await store.putContentItem(next, event, current);
      return result;
    } catch (err) {
      if (!isDeployrError(err, 'CONFLICT') || attempt >= 5) throw err;
    }
  }
}

/** Every regular file under `root` (following symlinks only when they stay inside it), sorted by path. */
export async function listFolderFiles(root: string): Promise<{ path: string; file: string }[]> {
  const realRoot = await realpath(root);
  const found: { path: string; file: string }[] = [];
  const visited = new Set<string>();
  const inside = (real: string): boolean => real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (visited.has(real)) throw new DeployrError('INVALID_INPUT', `The folder ${dir} is reached twice through symbolic links (a loop).`);
    visited.add(real);
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const full = join(dir, entry.name);
      let info = await lstat(full);
      if (info.isSymbolicLink()) {
        let target: string;
        try { target = await realpath(full); } catch {
          throw new DeployrError('INVALID_INPUT', `The symbolic link ${relative(root, full)} is broken.`);
        }
        if (!inside(target)) throw new DeployrError('INVALID_INPUT', `The symbolic link ${relative(root, full)} points outside the folder; refusing to add it.`);
        info = await stat(full);
      }
      if (info.isDirectory()) await walk(full);
      else if (info.isFile()) found.push({ path: wirePath(root, full), file: full });
      else throw new DeployrError('INVALID_INPUT', `${relative(root, full)} is neither a file nor a folder.`);
    }
  };
  await walk(root);
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Content versions and their files. */
export class ContentLibrary {
  private referenced: { hashes: Set<string>; loadedAt: number } | null = null;

  constructor(
    private readonly store: ContentItemStore,
    private readonly blobs: ContentBlobStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async item(id: string): Promise<ContentItem> {
    const item = await this.store.getContentItem(id.toLowerCase());
    if (!item) throw new DeployrError('NOT_FOUND', `No content item with id ${id}.`);
    return item;
  }

  /**
   * Adds a version from `sourcePath`: for a SingleFile item one file (or a folder holding exactly one
   * file), for a Folder item every file under the folder. Files go into the blob store by hash; the
   * new version is Inactive until activated.
   */
  async addVersion(id: string, sourcePath: string, input: NewVersionInput, actor: Actor): Promise<ContentItemVersion> {
    const item = await this.item(id);
    const meta = {
      description: optionalText(input.description, 'The description'),
      installationCommandLine: optionalText(input.installationCommandLine, 'The installation command line'),
      driverManufacturer: optionalText(input.driverManufacturer, 'The driver manufacturer'),
      driverModel: optionalText(input.driverModel, 'The driver model'),
    };
    let info;
    try { info = await stat(sourcePath); } catch (err) {
      throw new DeployrError('INVALID_INPUT', `Cannot read ${sourcePath} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
    let sources: { path: string; file: string }[];
    if (item.type === 'SingleFile') {
      if (info.isFile()) sources = [{ path: wirePath(join(sourcePath, '..'), sourcePath), file: sourcePath }];
      else if (info.isDirectory()) {
        sources = await listFolderFiles(sourcePath);
        if (sources.length !== 1) throw new DeployrError('INVALID_INPUT', `"${item.name}" is a SingleFile item: give one file (the folder ${sourcePath} holds ${sources.length}).`);
      } else throw new DeployrError('INVALID_INPUT', `${sourcePath} is neither a file nor a folder.`);
    } else {
      if (!info.isDirectory()) throw new DeployrError('INVALID_INPUT', `"${item.name}" is a Folder item: give a folder, not ${sourcePath}.`);
      sources = await listFolderFiles(sourcePath);
      if (sources.length === 0) throw new DeployrError('INVALID_INPUT', `The folder ${sourcePath} holds no files.`);
    }
    const format = versionFormat(input.format, item, sources);
    const files: ContentFile[] = [];
    for (const s of sources) {
      const blob = await this.blobs.putFile(s.file);
      files.push({ path: s.path, size: blob.size, sha256: blob.sha256 });
    }
    // Re-read: another command may have added a version while the files were copied; the save
    // only succeeds on the item as read, so two commands never both get the same version number.
    const version = await this.updateItem(item.id, (current) => {
      const at = Math.floor(this.now().getTime() / 1000);
      const added: ContentItemVersion = {
        versionNo: nextVersionNo(current),
        status: 'Inactive', ...meta, format, files, tags: input.tags ?? [], createdDate: at, lastModifiedDate: at,
      };
      return {
        next: { ...current, versions: [...current.versions, added], lastModifiedDate: at }, result: added,
        event: {
          kind: 'content', method: 'add-version', result: 'created', reason: 'ok', subject: actor.subject, source: actor.source, device: null,
          detail: { id: item.id, versionNo: added.versionNo, files: files.length, size: files.reduce((n, f) => n + f.size, 0) },
        },
      };
    });
    this.referenced = null;
    return version;
  }

  private async updateItem<T>(id: string, change: (current: ContentItem) => { next: ContentItem; event: AuditEvent; result: T }): Promise<T> {
    return updateContentItem(this.store, id, change);
  }

  /** Marks a version Active (other versions keep their status). */
  async activate(id: string, versionNo: number, actor: Actor): Promise<{ version: ContentItemVersion; changed: boolean }> {
    const item = await this.item(id);
    const version = item.versions.find((v) => v.versionNo === versionNo);
    if (!version) throw new DeployrError('NOT_FOUND', `Content item "${item.name}" has no version ${versionNo}.`);
    if (version.status === 'Active') return { version, changed: false };
    const at = Math.floor(this.now().getTime() / 1000);
    const activated: ContentItemVersion = { ...version, status: 'Active', lastModifiedDate: at };
    const next: ContentItem = { ...item, versions: item.versions.map((v) => (v.versionNo === versionNo ? activated : v)), lastModifiedDate: at };
    await this.store.putContentItem(next, {
      kind: 'content', method: 'activate', result: 'changed', reason: 'ok', subject: actor.subject, source: actor.source, device: null,
      detail: { id: item.id, versionNo },
    }, item);
    return { version: activated, changed: true };
  }

  /** One version, or with `active` the highest Active version; NOT_FOUND when there is none. */
  async version(id: string, versionNo: number | 'active'): Promise<ResolvedVersion> {
    const item = await this.item(id);
    const version = versionNo === 'active'
      ? item.versions.filter((v) => v.status === 'Active').sort((a, b) => b.versionNo - a.versionNo)[0]
      : item.versions.find((v) => v.versionNo === versionNo);
    if (!version) {
      throw new DeployrError('NOT_FOUND', versionNo === 'active' ? `Content item "${item.name}" has no active version.` : `Content item "${item.name}" has no version ${versionNo}.`);
    }
    return { item, version };
  }

  /** True when some version of some content item lists this hash (re-reading the store on a miss). */
  private async isReferenced(sha256: string): Promise<boolean> {
    const age = this.referenced ? this.now().getTime() - this.referenced.loadedAt : Infinity;
    if (this.referenced && age < REFERENCED_TTL_MS && this.referenced.hashes.has(sha256)) return true;
    // A miss re-reads the store, but at most a few times a second (unknown hashes cannot force a scan per request).
    if (this.referenced && age < MIN_RELOAD_MS) return this.referenced.hashes.has(sha256);
    const hashes = new Set<string>();
    for (const item of await this.store.listContentItems()) for (const v of item.versions) for (const f of v.files) hashes.add(f.sha256);
    this.referenced = { hashes, loadedAt: this.now().getTime() };
    return hashes.has(sha256);
  }

  /** A blob to serve: INVALID_INPUT for a malformed hash, NOT_FOUND unless a content version lists it. */
  async blob(sha256: string): Promise<ServableBlob> {
    const hash = sha256.toLowerCase();
    if (!SHA256_HEX.test(hash)) throw new DeployrError('INVALID_INPUT', 'A content hash is 64 hex digits.');
    if (!(await this.isReferenced(hash))) throw new DeployrError('NOT_FOUND', `No content file with hash ${hash}.`);
    const info = await this.blobs.stat(hash);
    if (!info) throw new DeployrError('INTEGRITY', `The content file ${hash} is listed by a content version but missing from the content library.`);
    return { sha256: hash, size: info.size, open: () => this.blobs.openReader(hash) };
  }
}
