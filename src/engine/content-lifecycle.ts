// Retiring content: deactivate or delete a version or a whole item (refused while a task sequence or step definition points at it), and remove files no version lists.

import type { AuditEvent } from '../domain/audit.js';
import { nextVersionNo, type ContentItem, type ContentItemVersion } from '../domain/content-item.js';
import { DeployrError } from '../domain/errors.js';
import { parseReference } from '../domain/reference.js';
import { isOptionType } from '../domain/step-definition.js';
import { walkSteps } from '../domain/step-tree.js';
import { updateContentItem, type Actor } from './content-library.js';
import type { AuditStore, ContentBlobStore, ContentItemStore, StepDefinitionStore, TaskSequenceStore } from './ports.js';

/** Something that points at a content item version. */
export interface ContentUse {
  /** One line: "task sequence "X" (id) version 2, step "Apply image"" or "step definition "Y" (id) version 1, option "content"". */
  where: string;
}

/** What a garbage collection found (and removed, unless it was a dry run). */
export interface GarbageReport {
  /** Files no content version lists, old enough to go. */
  files: { sha256: string; size: number }[];
  bytes: number;
  /** Unlisted files left alone because they were written within the grace period (an addition may be under way). */
  recentKept: number;
  /** Temporary files of additions that never finished. */
  abandoned: { files: number; bytes: number };
  dryRun: boolean;
}

/** Default grace period: a file written or re-added within it is never collected. */
export const DEFAULT_GRACE_MS = 60 * 60 * 1000;

/** True when `reference` (any spelling) names exactly this content version. */
function names(reference: string | null | undefined, id: string, versionNo: number): boolean {
  if (!reference) return false;
  try {
    const r = parseReference(reference);
    return r.id === id && r.version === versionNo;
  } catch {
    return false;
  }
}

/** Retires content versions and collects the files nothing lists any more. */
export class ContentLifecycle {
  constructor(
    private readonly store: ContentItemStore & TaskSequenceStore & StepDefinitionStore & AuditStore,
    private readonly blobs: ContentBlobStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Every task sequence step and step definition option that names this content version. */
  async uses(id: string, versionNo: number): Promise<ContentUse[]> {
    const key = id.toLowerCase();
    const found: ContentUse[] = [];
    for (const ts of await this.store.listTaskSequences()) {
      for (const v of ts.versions) {
        for (const { step } of walkSteps(v.steps)) {
          for (const [slot, reference] of Object.entries(step.contentItems)) {
            if (names(reference, key, versionNo)) found.push({ where: `task sequence "${ts.name}" (${ts.id}) version ${v.versionNo}, step "${step.name}", slot "${slot}"` });
          }
        }
      }
    }
    for (const def of await this.store.listStepDefinitions()) {
      for (const v of def.versions) {
        for (const option of v.options) {
          if (isOptionType(option, 'Content') && names(option.defaultValue, key, versionNo)) {
            found.push({ where: `step definition "${def.name}" (${def.id}) version ${v.versionNo}, option "${option.name}"` });
          }
        }
      }
    }
    return found;
  }

  /** Refuses (CONFLICT, naming up to three users) while something points at the version, unless `force`. */
  private async checkUnused(item: ContentItem, versionNo: number, force: boolean, what: string): Promise<ContentUse[]> {
    const uses = await this.uses(item.id, versionNo);
    if (uses.length > 0 && !force) {
      const shown = uses.slice(0, 3).map((u) => u.where).join('; ');
      const more = uses.length > 3 ? ` and ${uses.length - 3} more` : '';
      throw new DeployrError('CONFLICT', `Version ${versionNo} of "${item.name}" is used by ${shown}${more}; ${what} anyway with --force.`);
    }
    return uses;
  }

  /** Marks a version Inactive: clients refuse it and it is no longer the active one. */
  async deactivate(id: string, versionNo: number, actor: Actor, options: { force?: boolean } = {}): Promise<{ version: ContentItemVersion; changed: boolean; uses: ContentUse[] }> {
    const item = await this.item(id);
    const version = this.versionOf(item, versionNo);
    if (version.status !== 'Active') return { version, changed: false, uses: [] };
    const uses = await this.checkUnused(item, versionNo, options.force === true, 'deactivate it');
    return updateContentItem(this.store, item.id, (current) => {
      const at = Math.floor(this.now().getTime() / 1000);
      const was = this.versionOf(current, versionNo);
      const next: ContentItemVersion = { ...was, status: 'Inactive', lastModifiedDate: at };
      return {
        next: { ...current, versions: current.versions.map((v) => (v.versionNo === versionNo ? next : v)), lastModifiedDate: at },
        event: this.event(actor, 'deactivate', 'changed', { id: current.id, versionNo, forcedPastUses: uses.length }),
        result: { version: next, changed: true, uses },
      };
    });
  }

  /** Deletes an Inactive version from its item (its number is never reused); its files go at the next garbage collection. */
  async deleteVersion(id: string, versionNo: number, actor: Actor, options: { force?: boolean } = {}): Promise<{ uses: ContentUse[] }> {
    const item = await this.item(id);
    const version = this.versionOf(item, versionNo);
    if (version.status === 'Active') {
      throw new DeployrError('CONFLICT', `Version ${versionNo} of "${item.name}" is active; deactivate it first (deployr content deactivate ${item.id} ${versionNo}).`);
    }
    const uses = await this.checkUnused(item, versionNo, options.force === true, 'delete it');
    return updateContentItem(this.store, item.id, (current) => {
      const was = this.versionOf(current, versionNo);
      if (was.status === 'Active') throw new DeployrError('CONFLICT', `Version ${versionNo} of "${current.name}" was activated meanwhile; nothing was deleted.`);
      const at = Math.floor(this.now().getTime() / 1000);
      return {
        next: { ...current, versions: current.versions.filter((v) => v.versionNo !== versionNo), lastVersionNo: nextVersionNo(current) - 1, lastModifiedDate: at },
        event: this.event(actor, 'delete-version', 'deleted', { id: current.id, versionNo, files: was.files.length, forcedPastUses: uses.length }),
        result: { uses },
      };
    });
  }

  /**
   * Deletes a content item whose versions are all Inactive (deactivate them first), refused while
   * something uses one of them unless `force`. Its files go at the next garbage collection.
   */
  async deleteItem(id: string, actor: Actor, options: { force?: boolean } = {}): Promise<{ item: ContentItem; uses: ContentUse[] }> {
    const item = await this.item(id);
    const active = item.versions.filter((v) => v.status === 'Active').map((v) => v.versionNo);
    if (active.length > 0) {
      throw new DeployrError('CONFLICT', `"${item.name}" has active version${active.length === 1 ? '' : 's'} ${active.join(', ')}; deactivate ${active.length === 1 ? 'it' : 'them'} first (deployr content deactivate ${item.id} VERSION).`);
    }
    const uses: ContentUse[] = [];
    for (const v of item.versions) uses.push(...(await this.checkUnused(item, v.versionNo, options.force === true, 'delete the item')));
    await this.store.deleteContentItem(item, this.event(actor, 'delete', 'deleted', {
      id: item.id, name: item.name, versions: item.versions.map((v) => v.versionNo), forcedPastUses: uses.length,
    }));
    return { item, uses };
  }

  /**
   * Removes library files that no version of any content item lists and that were not written or
   * re-added within `graceMs` (so an addition under way keeps its files), and temporary files of
   * additions that never finished. With `dryRun` it only reports.
   */
  async collectGarbage(actor: Actor, options: { dryRun?: boolean; graceMs?: number } = {}): Promise<GarbageReport> {
    const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    const cutoff = this.now().getTime() - graceMs;
    const listed = new Set<string>();
    for (const item of await this.store.listContentItems()) for (const v of item.versions) for (const f of v.files) listed.add(f.sha256);
    const files: { sha256: string; size: number }[] = [];
    let recentKept = 0;
    for (const blob of await this.blobs.list()) {
      if (listed.has(blob.sha256)) continue;
      if (blob.modifiedAt >= cutoff) { recentKept += 1; continue; }
      files.push({ sha256: blob.sha256, size: blob.size });
    }
    const dryRun = options.dryRun === true;
    let abandoned = { files: 0, bytes: 0 };
    let removed = files;
    if (!dryRun) {
      // A file re-added since it was listed (same bytes in a new version) has a new time and stays.
      removed = [];
      for (const f of files) if (await this.blobs.remove(f.sha256, cutoff)) removed.push(f); else recentKept += 1;
      abandoned = await this.blobs.removeAbandoned(cutoff);
    }
    const bytes = removed.reduce((n, f) => n + f.size, 0);
    if (!dryRun && (removed.length > 0 || abandoned.files > 0)) {
      await this.store.append(this.event(actor, 'collect-garbage', 'deleted', { files: removed.length, bytes, abandonedFiles: abandoned.files, abandonedBytes: abandoned.bytes, graceSeconds: Math.round(graceMs / 1000) }));
    }
    return { files: removed, bytes, recentKept, abandoned, dryRun };
  }

  private async item(id: string): Promise<ContentItem> {
    const item = await this.store.getContentItem(id.toLowerCase());
    if (!item) throw new DeployrError('NOT_FOUND', `No content item with id ${id}.`);
    return item;
  }

  private versionOf(item: ContentItem, versionNo: number): ContentItemVersion {
    const version = item.versions.find((v) => v.versionNo === versionNo);
    if (!version) throw new DeployrError('NOT_FOUND', `Content item "${item.name}" has no version ${versionNo}.`);
    return version;
  }

  private event(actor: Actor, method: string, result: string, detail: Record<string, unknown>): AuditEvent {
    return { kind: 'content', method, result, reason: 'ok', subject: actor.subject, source: actor.source, device: null, detail };
  }
}
