// Strict parsing of a DeployR task sequence export: every field checked, errors named by JSON path.

import { parseCondition } from './condition.js';
import { defineField, describeValue, fieldReaders, keyPath } from './json-fields.js';
import { formatReference, isGuid, parseReference } from './reference.js';
import type { Step, TaskSequence, TaskSequenceVersion } from './task-sequence.js';

/** Deepest nesting of groups (and of JSON inside unknown fields) accepted. */
const MAX_DEPTH = 100;

const TASK_SEQUENCE_KEYS = [
  'id',
  'name',
  'description',
  'versions',
  'versionsCount',
  'createdDate',
  'lastModifiedDate',
  'architecture',
  'tags',
] as const;

const VERSION_KEYS = [
  'id',
  'taskSequenceId',
  'versionNo',
  'status',
  'description',
  'steps',
  'createdDate',
  'lastModifiedDate',
  'tags',
] as const;

const STEP_KEYS = [
  'id',
  'taskSequenceVersionId',
  'name',
  'description',
  'typeId',
  'type',
  'stepDefinitionVersionId',
  'stepDefinitionVersionNo',
  'typeVersion',
  'groupId',
  'groupMembers',
  'settings',
  'contentItems',
  'isGroup',
  'continueOnError',
  'enabled',
  'condition',
  'createdDate',
  'lastModifiedDate',
] as const;

/**
 * Validates a DeployR task sequence export (already JSON-parsed) field by field and returns it
 * typed, with GUIDs and references lowercased and unknown fields kept in `extra`. Beyond the
 * field types it checks: ids and references are GUIDs / `"<guid>:<version>"`, every version
 * belongs to this task sequence and has a unique `versionNo`, step ids are unique within a
 * version, each step's `groupId` is its enclosing group's id (null at the top) and its
 * `taskSequenceVersionId` is null or its version's id, a group has no `typeId` while a plain step
 * has one and no members, and conditions parse (see `parseCondition`).
 * Throws DeployrError INVALID_INPUT whose message starts with the JSON path of the bad field,
 * e.g. `versions[0].steps[3].groupMembers[1].enabled: expected a boolean, got a string`;
 * `details.path` holds the same path.
 */
export function parseTaskSequenceExport(json: unknown): TaskSequence {
  const obj = expectObject(json, '');
  const id = guid(obj['id'], 'id');
  const ts: TaskSequence = {
    id,
    name: nonEmptyString(obj['name'], 'name'),
    description: stringOrNull(obj['description'], 'description'),
    versions: [],
    versionsCount: wholeNumber(obj['versionsCount'], 'versionsCount', 0),
    createdDate: epochSeconds(obj['createdDate'], 'createdDate'),
    lastModifiedDate: epochSeconds(obj['lastModifiedDate'], 'lastModifiedDate'),
    architecture: string(obj['architecture'], 'architecture'),
  };
  if (Object.hasOwn(obj, 'tags')) ts.tags = tags(obj['tags'], 'tags');
  const versions = expectArray(obj['versions'], 'versions');
  const versionNos = new Set<number>();
  const versionIds = new Set<string>();
  versions.forEach((raw, i) => {
    const path = `versions[${i}]`;
    const version = parseVersion(raw, path, id);
    if (versionNos.has(version.versionNo)) fail(`${path}.versionNo`, `version ${version.versionNo} appears more than once`);
    if (versionIds.has(version.id)) fail(`${path}.id`, `version id ${version.id} appears more than once`);
    versionNos.add(version.versionNo);
    versionIds.add(version.id);
    ts.versions.push(version);
  });
  const extra = extras(obj, TASK_SEQUENCE_KEYS, '');
  if (extra !== undefined) ts.extra = extra;
  return ts;
}

function parseVersion(json: unknown, path: string, taskSequenceId: string): TaskSequenceVersion {
  const obj = expectObject(json, path);
  const id = guid(obj['id'], `${path}.id`);
  const owner = guid(obj['taskSequenceId'], `${path}.taskSequenceId`);
  if (owner !== taskSequenceId) fail(`${path}.taskSequenceId`, `expected the task sequence's id ${taskSequenceId}, got ${owner}`);
  const version: TaskSequenceVersion = {
    id,
    taskSequenceId: owner,
    versionNo: wholeNumber(obj['versionNo'], `${path}.versionNo`, 1),
    status: nonEmptyString(obj['status'], `${path}.status`),
    description: stringOrNull(obj['description'], `${path}.description`),
    steps: [],
    createdDate: epochSeconds(obj['createdDate'], `${path}.createdDate`),
    lastModifiedDate: epochSeconds(obj['lastModifiedDate'], `${path}.lastModifiedDate`),
  };
  if (Object.hasOwn(obj, 'tags')) version.tags = tags(obj['tags'], `${path}.tags`);
  const ctx: StepContext = { versionId: id, stepIds: new Set() };
  version.steps = parseSteps(obj['steps'], `${path}.steps`, ctx, null, 0);
  const extra = extras(obj, VERSION_KEYS, path);
  if (extra !== undefined) version.extra = extra;
  return version;
}

interface StepContext {
  readonly versionId: string;
  readonly stepIds: Set<string>;
}

function parseSteps(json: unknown, path: string, ctx: StepContext, parentId: string | null, depth: number): Step[] {
  if (depth > MAX_DEPTH) fail(path, `groups nest deeper than ${MAX_DEPTH} levels`);
  return expectArray(json, path).map((raw, i) => parseStep(raw, `${path}[${i}]`, ctx, parentId, depth));
}

function parseStep(json: unknown, path: string, ctx: StepContext, parentId: string | null, depth: number): Step {
  const obj = expectObject(json, path);
  const id = guid(obj['id'], `${path}.id`);
  if (ctx.stepIds.has(id)) fail(`${path}.id`, `step id ${id} appears more than once in this version`);
  ctx.stepIds.add(id);

  const versionId = guidOrNull(obj['taskSequenceVersionId'], `${path}.taskSequenceVersionId`);
  if (versionId !== null && versionId !== ctx.versionId) {
    fail(`${path}.taskSequenceVersionId`, `expected null or this version's id ${ctx.versionId}, got ${versionId}`);
  }
  const groupId = guidOrNull(obj['groupId'], `${path}.groupId`);
  if (groupId !== parentId) {
    fail(
      `${path}.groupId`,
      parentId === null ? `expected null for a top-level step, got ${String(groupId)}` : `expected the enclosing group's id ${parentId}, got ${String(groupId)}`,
    );
  }
  const isGroup = boolean(obj['isGroup'], `${path}.isGroup`);
  const typeId = guidOrNull(obj['typeId'], `${path}.typeId`);
  if (isGroup && typeId !== null) fail(`${path}.typeId`, 'expected null for a group');
  if (!isGroup && typeId === null) fail(`${path}.typeId`, 'expected a GUID (the step definition id) for a step that is not a group');

  const condition = stringOrNull(obj['condition'], `${path}.condition`);
  parseCondition(condition, `${path}.condition`);

  const step: Step = {
    id,
    taskSequenceVersionId: versionId,
    name: string(obj['name'], `${path}.name`),
    description: stringOrNull(obj['description'], `${path}.description`),
    typeId,
    type: jsonValue(obj['type'], `${path}.type`),
    stepDefinitionVersionId: guidOrNull(obj['stepDefinitionVersionId'], `${path}.stepDefinitionVersionId`),
    stepDefinitionVersionNo:
      obj['stepDefinitionVersionNo'] === null ? null : wholeNumber(obj['stepDefinitionVersionNo'], `${path}.stepDefinitionVersionNo`, 1),
    typeVersion: jsonValue(obj['typeVersion'], `${path}.typeVersion`),
    groupId,
    groupMembers: [],
    settings: stringRecord(obj['settings'], `${path}.settings`, (v, p) => string(v, p)),
    contentItems: stringRecord(obj['contentItems'], `${path}.contentItems`, contentReference),
    isGroup,
    continueOnError: boolean(obj['continueOnError'], `${path}.continueOnError`),
    enabled: boolean(obj['enabled'], `${path}.enabled`),
    condition,
    createdDate: epochSeconds(obj['createdDate'], `${path}.createdDate`),
    lastModifiedDate: epochSeconds(obj['lastModifiedDate'], `${path}.lastModifiedDate`),
  };
  step.groupMembers = parseSteps(obj['groupMembers'], `${path}.groupMembers`, ctx, id, depth + 1);
  if (!isGroup && step.groupMembers.length > 0) fail(`${path}.groupMembers`, 'expected no members for a step that is not a group');
  const extra = extras(obj, STEP_KEYS, path);
  if (extra !== undefined) step.extra = extra;
  return step;
}

// ---------------------------------------------------------------------------------------------
// Field validators: each names the JSON path of the bad field.

const readers = fieldReaders('task sequence export');
/** Throws the path-named INVALID_INPUT error (declared with its type, so that TypeScript knows it never returns). */
const fail: (path: string, message: string) => never = readers.fail;
const {
  object: expectObject, array: expectArray, string, nonEmptyString, stringOrNull, boolean, wholeNumber, epochSeconds, guid, extras, jsonValue,
} = readers;

function guidOrNull(v: unknown, path: string): string | null {
  if (v === null) return null;
  if (!isGuid(v)) fail(path, `expected a GUID or null, got ${typeof v === 'string' ? 'a string that is not a GUID' : describeValue(v)}`);
  return v.toLowerCase();
}

function tags(v: unknown, path: string): string[] | null {
  if (v === null) return null;
  return expectArray(v, path).map((t, i) => string(t, `${path}[${i}]`));
}

function contentReference(v: unknown, path: string): string {
  const s = string(v, path);
  if (s === '') return '';
  try {
    return formatReference(parseReference(s, { requireVersion: true }));
  } catch {
    fail(path, 'expected "" or a content reference "<guid>:<version>"');
  }
}

function stringRecord(v: unknown, path: string, value: (v: unknown, path: string) => string): Record<string, string> {
  const obj = expectObject(v, path);
  const out: Record<string, string> = {};
  for (const [key, raw] of Object.entries(obj)) defineField(out, key, value(raw, keyPath(path, key)));
  return out;
}
