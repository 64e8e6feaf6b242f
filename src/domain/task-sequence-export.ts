// Writing a task sequence back in DeployR's export JSON shape, key order and unknown fields kept.

import { cloneJson, defineField, withExtras } from './json-fields.js';
import type { JsonObject } from './json-value.js';
import type { Step, TaskSequence, TaskSequenceVersion } from './task-sequence.js';

/**
 * The task sequence in DeployR's export JSON shape, with DeployR's key order, optional fields only
 * when present and unknown fields after the known ones. The result shares nothing with `ts`.
 * For every real export `x`, `exportTaskSequence(parseTaskSequenceExport(x))` deep-equals `x`.
 */
export function exportTaskSequence(ts: TaskSequence): JsonObject {
  const out: JsonObject = {
    id: ts.id,
    name: ts.name,
    description: ts.description,
    versions: ts.versions.map(exportVersion),
    versionsCount: ts.versionsCount,
    createdDate: ts.createdDate,
    lastModifiedDate: ts.lastModifiedDate,
    architecture: ts.architecture,
  };
  if (ts.tags !== undefined) out['tags'] = ts.tags === null ? null : [...ts.tags];
  return withExtras(out, ts.extra);
}

function exportVersion(v: TaskSequenceVersion): JsonObject {
  const out: JsonObject = {
    id: v.id,
    taskSequenceId: v.taskSequenceId,
    versionNo: v.versionNo,
    status: v.status,
    description: v.description,
    steps: v.steps.map(exportStep),
    createdDate: v.createdDate,
    lastModifiedDate: v.lastModifiedDate,
  };
  if (v.tags !== undefined) out['tags'] = v.tags === null ? null : [...v.tags];
  return withExtras(out, v.extra);
}

function exportStep(s: Step): JsonObject {
  const out: JsonObject = {
    id: s.id,
    taskSequenceVersionId: s.taskSequenceVersionId,
    name: s.name,
    description: s.description,
    typeId: s.typeId,
    type: cloneJson(s.type),
    stepDefinitionVersionId: s.stepDefinitionVersionId,
    stepDefinitionVersionNo: s.stepDefinitionVersionNo,
    typeVersion: cloneJson(s.typeVersion),
    groupId: s.groupId,
    groupMembers: s.groupMembers.map(exportStep),
    settings: copyRecord(s.settings),
    contentItems: copyRecord(s.contentItems),
    isGroup: s.isGroup,
    continueOnError: s.continueOnError,
    enabled: s.enabled,
    condition: s.condition,
    createdDate: s.createdDate,
    lastModifiedDate: s.lastModifiedDate,
  };
  return withExtras(out, s.extra);
}

function copyRecord(record: Readonly<Record<string, string>>): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(record)) defineField(out, key, value);
  return out;
}
