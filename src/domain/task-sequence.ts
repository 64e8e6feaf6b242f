// Task sequences in DeployR's export shape: types, strict parsing, export, step walking and step types.

import { parseCondition } from './condition.js';
import { DeployrError } from './errors.js';
import { cloneJson, defineField, describeValue, fieldReaders, keyPath, withExtras } from './json-fields.js';
import { formatReference, isGuid, parseReference } from './reference.js';

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

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

// ---------------------------------------------------------------------------------------------
// Step types

/** The kind of a step with a known type id. */
export type StepKind =
  | 'setVariable'
  | 'runPowerShellScript'
  | 'configureOperatingSystem'
  | 'prepareOperatingSystem'
  | 'reboot'
  | 'applyOperatingSystemFromCloud'
  | 'injectDriversFromCloud'
  | 'installApplication'
  | 'runTaskSequence'
  | 'formatDisk'
  | 'installUpdates'
  | 'enableBranchCache'
  | 'runCommandLine'
  | 'applyImage'
  | 'runServerSideScript';

/** Where a step can run: only in the boot environment (Windows PE), only in a full OS, or either. */
export type StepEnvironment = 'winpe' | 'fullos' | 'any';

/** What is known about one built-in step type. */
export interface StepTypeInfo {
  readonly typeId: string;
  readonly kind: StepKind;
  /** The step definition's display name. */
  readonly name: string;
  readonly environment: StepEnvironment;
  /** 'deployr' for 2Pint's published ids; 'deployr-oss' for ids this project assigned itself. */
  readonly origin: 'deployr' | 'deployr-oss';
}

/**
 * Built-in step types by lowercase type id. The `00000001-…` ids are DeployR's own (deployr.md
 * §3.3). The `00000002-0000-0000-0000-00000000000X` ids are this project's own, for built-in steps
 * whose DeployR id is not published (Run command line, Apply image, Run server-side script); they
 * will not match a DeployR server's ids for those steps. Any other type id is a custom step definition.
 */
export const STEP_TYPES: Readonly<Record<string, StepTypeInfo>> = Object.freeze(
  Object.fromEntries(
    (
      [
        ['00000001-0000-0000-0000-000000000001', 'setVariable', 'Set variable', 'any', 'deployr'],
        ['00000001-0000-0000-0000-000000000002', 'runPowerShellScript', 'Run PowerShell script', 'any', 'deployr'],
        ['00000001-0000-0000-0000-000000000005', 'configureOperatingSystem', 'Configure operating system', 'fullos', 'deployr'],
        ['00000001-0000-0000-0000-000000000006', 'prepareOperatingSystem', 'Prepare operating system', 'winpe', 'deployr'],
        ['00000001-0000-0000-0000-000000000007', 'reboot', 'Reboot', 'any', 'deployr'],
        ['00000001-0000-0000-0000-000000000008', 'applyOperatingSystemFromCloud', 'Apply operating system from cloud', 'winpe', 'deployr'],
        ['00000001-0000-0000-0000-000000000009', 'injectDriversFromCloud', 'Inject drivers from cloud', 'winpe', 'deployr'],
        ['00000001-0000-0000-0000-00000000000b', 'installApplication', 'Install application', 'fullos', 'deployr'],
        ['00000001-0000-0000-0000-00000000000d', 'runTaskSequence', 'Run task sequence', 'any', 'deployr'],
        ['00000001-0000-0000-0000-00000000000e', 'formatDisk', 'Format disk', 'winpe', 'deployr'],
        ['00000001-0000-0000-0000-000000000011', 'installUpdates', 'Install updates', 'fullos', 'deployr'],
        ['00000001-0000-0000-0000-000000000012', 'enableBranchCache', 'Enable BranchCache', 'fullos', 'deployr'],
        ['00000002-0000-0000-0000-000000000001', 'runCommandLine', 'Run command line', 'any', 'deployr-oss'],
        ['00000002-0000-0000-0000-000000000002', 'applyImage', 'Apply image', 'winpe', 'deployr-oss'],
        ['00000002-0000-0000-0000-000000000003', 'runServerSideScript', 'Run server-side script', 'any', 'deployr-oss'],
      ] as const
    ).map(([typeId, kind, name, environment, origin]) => [typeId, Object.freeze({ typeId, kind, name, environment, origin })]),
  ),
);

/** The type id of each built-in step kind (the inverse of `STEP_TYPES`). */
export const STEP_TYPE_IDS: Readonly<Record<StepKind, string>> = Object.freeze(
  Object.fromEntries(Object.values(STEP_TYPES).map((info) => [info.kind, info.typeId])) as Record<StepKind, string>,
);

/** The built-in step type for `typeId` (any case), or undefined for a custom step definition. */
export function stepTypeInfo(typeId: string | null): StepTypeInfo | undefined {
  if (typeId === null) return undefined;
  const key = typeId.toLowerCase();
  return Object.hasOwn(STEP_TYPES, key) ? STEP_TYPES[key] : undefined;
}

/** A step's kind: 'group', a built-in `StepKind`, or 'custom' for a custom step definition. */
export function stepKind(step: Pick<Step, 'isGroup' | 'typeId'>): StepKind | 'group' | 'custom' {
  if (step.isGroup) return 'group';
  return stepTypeInfo(step.typeId)?.kind ?? 'custom';
}

// ---------------------------------------------------------------------------------------------
// Walking and finding

/** One step met while walking a step tree. */
export interface StepVisit {
  readonly step: Step;
  /** Names of the enclosing groups, outermost first (empty for a top-level step). */
  readonly path: readonly string[];
  /** Number of enclosing groups (0 for a top-level step). */
  readonly depth: number;
  /** The enclosing group, or null for a top-level step. */
  readonly parent: Step | null;
}

/**
 * Walks a step tree depth-first in run order: each group is yielded before its members. Disabled
 * steps and groups are yielded too (filter on `step.enabled`).
 */
export function* walkSteps(steps: readonly Step[]): Generator<StepVisit, void, undefined> {
  yield* walk(steps, [], null);
}

function* walk(steps: readonly Step[], path: readonly string[], parent: Step | null): Generator<StepVisit, void, undefined> {
  for (const step of steps) {
    yield { step, path, depth: path.length, parent };
    if (step.groupMembers.length > 0) yield* walk(step.groupMembers, [...path, step.name], step);
  }
}

/** Options for `countSteps`. */
export interface CountStepsOptions {
  /** Count groups as well as steps (default false). */
  readonly includeGroups?: boolean;
  /** Count only enabled steps inside enabled groups (default false: count everything). */
  readonly enabledOnly?: boolean;
}

/** Counts the steps in a tree at every depth; by default plain steps only, disabled ones included. */
export function countSteps(steps: readonly Step[], options: CountStepsOptions = {}): number {
  let n = 0;
  const visit = (list: readonly Step[]): void => {
    for (const step of list) {
      if (options.enabledOnly === true && !step.enabled) continue;
      if (!step.isGroup || options.includeGroups === true) n++;
      visit(step.groupMembers);
    }
  };
  visit(steps);
  return n;
}

/** The step (or group) with the given id (any case) anywhere in the tree, or undefined. */
export function findStep(steps: readonly Step[], id: string): Step | undefined {
  const wanted = id.toLowerCase();
  for (const { step } of walkSteps(steps)) {
    if (step.id === wanted) return step;
  }
  return undefined;
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

// ---------------------------------------------------------------------------------------------
// Parsing

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
// Export

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



/** The task sequence ids that "Run task sequence" steps of any version of `ts` name (`childTaskSequenceId`). */
export function childTaskSequenceIds(ts: TaskSequence): string[] {
  const ids = new Set<string>();
  for (const version of ts.versions) {
    for (const { step } of walkSteps(version.steps)) {
      if (stepKind(step) !== 'runTaskSequence') continue;
      const key = Object.keys(step.settings).find((k) => k.toLowerCase() === 'childtasksequenceid');
      const id = key === undefined ? undefined : step.settings[key]?.split(':')[0]?.trim().toLowerCase();
      if (id) ids.add(id);
    }
  }
  return [...ids];
}
