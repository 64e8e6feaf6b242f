// Use cases for task sequences: import DeployR exports, list and read them, within what a caller may see.

import type { AuditEvent } from '../domain/audit.js';
import { DeployrError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import { stepCounts } from '../domain/step-support.js';
import { childTaskSequenceIds } from '../domain/step-tree.js';
import { findVersion, activateVersion, isActiveVersion, type TaskSequence } from '../domain/task-sequence.js';
import { parseTaskSequenceExport } from '../domain/task-sequence-parse.js';
import { limitAllows } from '../domain/task-sequence-limit.js';
import type { TaskSequenceStore } from './ports.js';
import { reachOf } from './token-reach.js';

/** One task sequence in a listing. */
export interface TaskSequenceOverview {
  id: string;
  name: string;
  description: string | null;
  versions: { versionNo: number; status: string; steps: number }[];
}

/** The catalog of task sequences. */
export class TaskSequenceCatalog {
  constructor(private readonly store: TaskSequenceStore) {}

  /** Imports a DeployR task sequence export (parsed JSON); replaces one with the same id. */
  async importExport(json: unknown, actor: { subject: string; source: string | null }): Promise<TaskSequence> {
    const ts = parseTaskSequenceExport(json);
    const existed = (await this.store.getTaskSequence(ts.id)) !== null;
    const event: AuditEvent = {
      kind: 'task-sequence', method: 'import', result: existed ? 'replaced' : 'created', reason: 'ok',
      subject: actor.subject, source: actor.source, device: null, detail: { id: ts.id, name: ts.name, versions: ts.versions.length },
    };
    await this.store.putTaskSequence(ts, event);
    return ts;
  }

  /**
   * Makes version `versionNo` Active (other versions keep their status); NOT_FOUND when the task
   * sequence or version does not exist. Returns the task sequence and whether anything changed.
   */
  async activate(id: string, versionNo: number, actor: { subject: string; source: string | null }, now: Date = new Date()): Promise<{ ts: TaskSequence; changed: boolean }> {
    const ts = await this.get(id, null);
    const version = findVersion(ts, versionNo);
    if (!version) throw new DeployrError('NOT_FOUND', `Task sequence "${ts.name}" (${ts.id}) has no version ${versionNo}.`);
    if (isActiveVersion(version)) return { ts, changed: false };
    const previous = activateVersion(ts, version, now);
    await this.store.putTaskSequence(ts, {
      kind: 'task-sequence', method: 'activate', result: 'changed', reason: 'ok', subject: actor.subject, source: actor.source, device: null,
      detail: { id: ts.id, name: ts.name, versionNo, previousStatus: previous },
    });
    return { ts, changed: true };
  }

  /**
   * Deletes a task sequence (every version; its past runs stay). Refused with CONFLICT, naming up to
   * three of them, while another task sequence runs it (a Run task sequence step in any version);
   * NOT_FOUND when there is none. Audited in the same transaction.
   */
  async delete(id: string, actor: { subject: string; source: string | null }): Promise<TaskSequence> {
    const ts = await this.get(id, null);
    const parents = (await this.store.listTaskSequences()).filter((other) => other.id !== ts.id && childTaskSequenceIds(other).includes(ts.id.toLowerCase()));
    if (parents.length > 0) {
      const shown = parents.slice(0, 3).map((p) => `"${p.name}" (${p.id})`).join(', ');
      const more = parents.length > 3 ? ` and ${parents.length - 3} more` : '';
      throw new DeployrError('CONFLICT', `Task sequence "${ts.name}" (${ts.id}) is run by ${shown}${more}; remove those Run task sequence steps (or delete those task sequences) first. Nothing was deleted.`);
    }
    const deleted = await this.store.deleteTaskSequence(ts.id, {
      kind: 'task-sequence', method: 'delete', result: 'deleted', reason: 'ok', subject: actor.subject, source: actor.source, device: null,
      detail: { id: ts.id, name: ts.name, versions: ts.versions.length },
    });
    if (!deleted) throw new DeployrError('NOT_FOUND', `No task sequence with id ${id}.`);
    return ts;
  }

  /**
   * The task sequences a caller may see, as overviews (frozen). While the store hands out the same
   * list, the same array comes back for the same limit, so a caller may cache what it derives from
   * it (the list route caches the serialised response).
   */
  async list(principal: Principal | null): Promise<readonly TaskSequenceOverview[]> {
    return this.overviews(await this.store.listTaskSequences(), principal);
  }

  /** `list` without waiting, when the store can answer that way; null otherwise (then call `list`). */
  listNow(principal: Principal | null): readonly TaskSequenceOverview[] | null {
    return this.store.listTaskSequencesNow ? this.overviews(this.store.listTaskSequencesNow(), principal) : null;
  }

  private overviews(all: readonly TaskSequence[], principal: Principal | null): readonly TaskSequenceOverview[] {
    if (this.listed?.source !== all) this.listed = { source: all, byLimit: new Map() };
    const limit = principal?.taskSequenceLimit ?? '';
    let overviews = this.listed.byLimit.get(limit);
    if (!overviews) {
      overviews = Object.freeze(all.filter((ts) => visible(ts.id, principal)).map((ts) => Object.freeze(overview(ts))));
      if (this.listed.byLimit.size < MAX_REMEMBERED_LIMITS) this.listed.byLimit.set(limit, overviews);
    }
    return overviews;
  }

  /** The overviews derived from the last list the store handed out, per task sequence limit ('' for none). */
  private listed: { source: readonly TaskSequence[]; byLimit: Map<string, readonly TaskSequenceOverview[]> } | null = null;

  /** True when `id` is run, directly or through other modules, by the task sequence a limited token names. */
  private async isModuleOfLimit(id: string, principal: Principal | null): Promise<boolean> {
    const limit = principal?.taskSequenceLimit;
    if (!limit) return false;
    return reachOf(await this.store.listTaskSequences(), limit).taskSequences.has(id.toLowerCase());
  }

  /** One task sequence; NOT_FOUND when it does not exist or the caller may not see it. */
  async get(id: string, principal: Principal | null): Promise<TaskSequence> {
    const ts = await this.store.getTaskSequence(id.toLowerCase());
    if (!ts || !(visible(ts.id, principal) || await this.isModuleOfLimit(ts.id, principal))) {
      throw new DeployrError('NOT_FOUND', `No task sequence with id ${id}.`);
    }
    return ts;
  }
}

/** A token limited to one task sequence sees only that one (and, to run it, the modules it runs). */
/** Different task sequence limits whose overview lists are remembered per store list (full-OS tokens name one each). */
const MAX_REMEMBERED_LIMITS = 256;

function visible(id: string, principal: Principal | null): boolean {
  return limitAllows(principal?.taskSequenceLimit, id);
}

/** The overview of a task sequence. */
export function overview(ts: TaskSequence): TaskSequenceOverview {
  return {
    id: ts.id, name: ts.name, description: ts.description ?? null,
    versions: ts.versions.map((v) => ({ versionNo: v.versionNo, status: v.status, steps: stepCounts(v.steps).steps })),
  };
}
