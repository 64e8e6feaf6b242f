// Task sequences in DeployR's export shape: the types, version status and picking the version to run.

import { DeployrError } from './errors.js';
import type { JsonObject, JsonValue } from './json-value.js';

/**
 * A task sequence exactly as DeployR exports it (`Export-DeployRTaskSequence`). GUIDs are held in
 * lowercase. Fields the export had that this type does not name are kept in `extra` and written
 * back by `exportTaskSequence`.
 */
export interface TaskSequence {
  id: string;
  name: string;
  description: string | null;
  versions: TaskSequenceVersion[];
  /** As DeployR writes it; every real export seen says 0 whatever the number of versions. */
  versionsCount: number;
  /** Unix epoch seconds. */
  createdDate: number;
  /** Unix epoch seconds. */
  lastModifiedDate: number;
  /** Only "Any" has been seen. */
  architecture: string;
  /** Absent from most exports; null or a list when present. */
  tags?: string[] | null;
  /** Unknown fields of the export, preserved for the round trip. */
  extra?: JsonObject;
}

/** One version of a task sequence: its own status and its own tree of steps. */
export interface TaskSequenceVersion {
  id: string;
  /** The owning task sequence's id. */
  taskSequenceId: string;
  /** 1, 2, …; unique within the task sequence. */
  versionNo: number;
  /** See `VERSION_STATUS`; only an Active version runs. */
  status: string;
  description: string | null;
  /** The top-level steps, in order. */
  steps: Step[];
  /** Unix epoch seconds. */
  createdDate: number;
  /** Unix epoch seconds. */
  lastModifiedDate: number;
  /** Absent from most exports. */
  tags?: string[] | null;
  /** Unknown fields of the export, preserved for the round trip. */
  extra?: JsonObject;
}

/**
 * One step, or a group of steps (`isGroup` true, `typeId` null, children in `groupMembers`,
 * nesting to any depth). A group's condition gates its whole subtree.
 */
export interface Step {
  id: string;
  /** The version's id on top-level steps; null inside groups (either is accepted at any level). */
  taskSequenceVersionId: string | null;
  name: string;
  description: string | null;
  /** The step definition id (see `STEP_TYPES`, or a custom step definition's id); null for groups. */
  typeId: string | null;
  /** Always null in the exports seen. */
  type: JsonValue;
  stepDefinitionVersionId: string | null;
  stepDefinitionVersionNo: number | null;
  /** Always null in the exports seen. */
  typeVersion: JsonValue;
  /** The enclosing group's id; null for top-level steps. */
  groupId: string | null;
  /** The children of a group, in order; empty for a plain step. */
  groupMembers: Step[];
  /** Option values, always strings ("true", "15", …); each becomes a variable when the step runs. */
  settings: Record<string, string>;
  /** Content slots: `"<guid>:<version>"` or "" (not set). */
  contentItems: Record<string, string>;
  isGroup: boolean;
  continueOnError: boolean;
  /** A disabled step stays in the sequence but does not run. */
  enabled: boolean;
  /** "" or null (always), a JSON query, or a PowerShell expression (see condition.ts). */
  condition: string | null;
  /** Unix epoch seconds. */
  createdDate: number;
  /** Unix epoch seconds. */
  lastModifiedDate: number;
  /** Unknown fields of the export, preserved for the round trip. */
  extra?: JsonObject;
}

/** Version status values: DeployR's two seen in exports, and ours for a version not yet activated. */
export const VERSION_STATUS = {
  /** The runnable state. */
  Active: 'Active',
  /** Seen in DeployR exports for a version being edited. */
  InDevelopment: 'In_Development',
  /** deployr's status for a version we create, until it is activated. */
  Inactive: 'Inactive',
} as const;

/** True when a version's status is Active (compared case-insensitively). */
export function isActiveVersion(version: Pick<TaskSequenceVersion, 'status'>): boolean {
  return version.status.toLowerCase() === VERSION_STATUS.Active.toLowerCase();
}

/**
 * Makes `version` (one of `doc`'s versions: a task sequence's or a step definition's) Active and
 * stamps both with `now`; returns the status it had.
 */
export function activateVersion(doc: { lastModifiedDate: number }, version: { status: string; lastModifiedDate: number }, now: Date): string {
  const previous = version.status;
  const at = Math.floor(now.getTime() / 1000);
  version.status = VERSION_STATUS.Active;
  version.lastModifiedDate = at;
  doc.lastModifiedDate = at;
  return previous;
}

/** The version with number `versionNo`, or undefined. */
export function findVersion(ts: TaskSequence, versionNo: number): TaskSequenceVersion | undefined {
  return ts.versions.find((v) => v.versionNo === versionNo);
}

/**
 * The version to run. With `versionNo`: that version, which must exist (else NOT_FOUND) and be
 * Active (else CONFLICT; another version is never substituted). Without: the highest-numbered
 * Active version (CONFLICT when none is Active).
 */
export function activeVersion(ts: TaskSequence, versionNo?: number | null): TaskSequenceVersion {
  if (versionNo !== undefined && versionNo !== null) {
    const version = findVersion(ts, versionNo);
    if (version === undefined) {
      throw new DeployrError('NOT_FOUND', `task sequence "${ts.name}" (${ts.id}) has no version ${versionNo}`, {
        taskSequenceId: ts.id,
        versionNo,
      });
    }
    if (!isActiveVersion(version)) {
      throw new DeployrError(
        'CONFLICT',
        `version ${versionNo} of task sequence "${ts.name}" (${ts.id}) is ${version.status}, not Active`,
        { taskSequenceId: ts.id, versionNo, status: version.status },
      );
    }
    return version;
  }
  let best: TaskSequenceVersion | undefined;
  for (const v of ts.versions) {
    if (isActiveVersion(v) && (best === undefined || v.versionNo > best.versionNo)) best = v;
  }
  if (best === undefined) {
    throw new DeployrError('CONFLICT', `task sequence "${ts.name}" (${ts.id}) has no Active version`, { taskSequenceId: ts.id });
  }
  return best;
}
