// Test helper: task sequences in DeployR's export shape, built in code.

import { randomUUID } from 'node:crypto';

/** A JSON object. */
export type Json = Record<string, unknown>;

/** A step in DeployR's export shape (groupId and taskSequenceVersionId are filled in by `taskSequence`). */
export function step(name: string, typeId: string | null, settings: Record<string, string> = {}, extra: Json = {}): Json {
  return {
    id: randomUUID(), taskSequenceVersionId: null, name, description: '', typeId, type: null, stepDefinitionVersionId: null,
    stepDefinitionVersionNo: typeId ? 1 : null, typeVersion: null, groupId: null, groupMembers: [], settings, contentItems: {},
    isGroup: false, continueOnError: false, enabled: true, condition: '', createdDate: 1756172120, lastModifiedDate: 1756172120, ...extra,
  };
}

/** A group of steps. */
export function group(name: string, members: Json[], extra: Json = {}): Json {
  return step(name, null, {}, { isGroup: true, groupMembers: members, stepDefinitionVersionNo: null, ...extra });
}

/** A whole task sequence export with one version. */
export function taskSequence(name: string, steps: Json[], options: { status?: string; id?: string } = {}): Json {
  const id = options.id ?? randomUUID();
  const versionId = randomUUID();
  const link = (list: Json[], parent: string | null): void => {
    for (const s of list) {
      s.groupId = parent;
      s.taskSequenceVersionId = parent === null ? versionId : null;
      link(s.groupMembers as Json[], s.id as string);
    }
  };
  link(steps, null);
  return {
    id, name, description: `${name} (test)`, versionsCount: 0, createdDate: 1756172120, lastModifiedDate: 1756172120, architecture: 'Any',
    versions: [{ id: versionId, taskSequenceId: id, versionNo: 1, status: options.status ?? 'Active', description: '', steps, createdDate: 1756172120, lastModifiedDate: 1756172120 }],
  };
}
