// Custom step definitions in DeployR's export shape: types, strict parsing, export, and which version a step runs.

import { DeployrError } from './errors.js';
import { cloneJson, fieldReaders, withExtras, type FieldReaders } from './json-fields.js';
import { formatReference, parseReference } from './reference.js';
import type { JsonObject, JsonValue } from './json-value.js';
import { isActiveVersion } from './task-sequence.js';

/**
 * A custom step definition exactly as DeployR exports it (`Export-DeployRStepDefinition`). GUIDs
 * are held in lowercase. Fields the export had that this type does not name are kept in `extra`
 * and written back by `exportStepDefinition`.
 */
export interface StepDefinition {
  id: string;
  name: string;
  description: string | null;
  /** The category shown in DeployR's step list, e.g. "Windows Customization". */
  typeName: string | null;
  versions: StepDefinitionVersion[];
  /** As DeployR writes it; every real export seen says 0. */
  versionsCount: number;
  /** Unix epoch seconds. */
  createdDate: number;
  /** Unix epoch seconds. */
  lastModifiedDate: number;
  readOnly: boolean;
  /** Unknown fields of the export, preserved for the round trip. */
  extra?: JsonObject;
}

/** One version of a step definition: its status and its options. */
export interface StepDefinitionVersion {
  id: string;
  /** The owning step definition's id. */
  stepDefinitionId: string;
  /** 1, 2, …; unique within the step definition. */
  versionNo: number;
  /** "Active" runs; DeployR also writes "In_Development" (see `VERSION_STATUS`). */
  status: string;
  description: string | null;
  /** The options, in DeployR's order. */
  options: StepOption[];
  /** Always null in the exports seen; kept as it is. */
  validators: JsonValue;
  /** Unix epoch seconds. */
  createdDate: number;
  /** Unix epoch seconds. */
  lastModifiedDate: number;
  /** Unknown fields of the export, preserved for the round trip. */
  extra?: JsonObject;
}

/**
 * One option of a step definition version. Its `name` is both the step's settings key (or, for a
 * `Content` option, its content slot) and the variable the script reads.
 */
export interface StepOption {
  name: string;
  displayName: string | null;
  description: string | null;
  /** A step must end up with a non-empty value for it (its own, or the default). */
  required: boolean;
  defaultValue: string | null;
  /** See `OPTION_TYPES`; other values are kept as they are. */
  type: string;
  /** The content item purpose a `Content` option accepts ("Other", …). */
  contentItemPurpose: string | null;
  /** Not shown in DeployR's step editor (typically the script and its content item). */
  hidden: boolean;
  /** Regular expressions a value must match, each with the message shown when it does not. */
  validations: OptionValidation[] | null;
  /** The choices of a `DropDownList` option. */
  dropdownOptions: DropdownOption[] | null;
  /** Unknown fields of the export, preserved for the round trip. */
  extra?: JsonObject;
}

/** A rule a value must match. */
export interface OptionValidation {
  regexRule: string;
  errorMessage: string | null;
  /** Unknown fields of the export, preserved for the round trip. */
  extra?: JsonObject;
}

/** One choice of a drop-down option. */
export interface DropdownOption {
  displayName: string | null;
  value: string;
  /** Unknown fields of the export, preserved for the round trip. */
  extra?: JsonObject;
}

/** The option types seen in DeployR's exports (any other string is kept as it is). */
export const OPTION_TYPES = {
  Text: 'Text',
  Boolean: 'Boolean',
  Number: 'Number',
  DropDownList: 'DropDownList',
  /** A content item reference `<guid>:<version>`; becomes a content slot on the step. */
  Content: 'Content',
  /** The script: a `.ps1` file name in the step's content item, or inline PowerShell. */
  Script: 'Script',
} as const;

/** True when `option` has the given type (compared case-insensitively). */
export function isOptionType(option: Pick<StepOption, 'type'>, type: string): boolean {
  return option.type.toLowerCase() === type.toLowerCase();
}

/**
 * The version of `def` a step runs. With `versionNo` (the step's `stepDefinitionVersionNo`): that
 * version, which must exist (else NOT_FOUND) and be Active (else CONFLICT; another version is
 * never substituted). Without: the highest-numbered Active version (CONFLICT when none is Active).
 */
export function stepDefinitionVersion(def: StepDefinition, versionNo?: number | null): StepDefinitionVersion {
  if (versionNo !== undefined && versionNo !== null) {
    const version = def.versions.find((v) => v.versionNo === versionNo);
    if (version === undefined) {
      throw new DeployrError('NOT_FOUND', `step definition "${def.name}" (${def.id}) has no version ${versionNo}`, { stepDefinitionId: def.id, versionNo });
    }
    if (!isActiveVersion(version)) {
      throw new DeployrError('CONFLICT', `version ${versionNo} of step definition "${def.name}" (${def.id}) is ${version.status}, not Active`, {
        stepDefinitionId: def.id, versionNo, status: version.status,
      });
    }
    return version;
  }
  let best: StepDefinitionVersion | undefined;
  for (const v of def.versions) {
    if (isActiveVersion(v) && (best === undefined || v.versionNo > best.versionNo)) best = v;
  }
  if (best === undefined) throw new DeployrError('CONFLICT', `step definition "${def.name}" (${def.id}) has no Active version`, { stepDefinitionId: def.id });
  return best;
}

// ---------------------------------------------------------------------------------------------
// Parsing

const DEFINITION_KEYS = ['id', 'name', 'description', 'typeName', 'versions', 'versionsCount', 'createdDate', 'lastModifiedDate', 'readOnly'] as const;
const VERSION_KEYS = ['id', 'stepDefinitionId', 'versionNo', 'status', 'description', 'options', 'validators', 'createdDate', 'lastModifiedDate'] as const;
const OPTION_KEYS = [
  'name', 'displayName', 'description', 'required', 'defaultValue', 'type', 'contentItemPurpose', 'hidden', 'validations', 'dropdownOptions',
] as const;
const VALIDATION_KEYS = ['regexRule', 'errorMessage'] as const;
const DROPDOWN_KEYS = ['displayName', 'value'] as const;

const read: FieldReaders = fieldReaders('step definition export');

/**
 * Validates a DeployR step definition export (already JSON-parsed) field by field and returns it
 * typed, with GUIDs lowercased and unknown fields kept in `extra`. Beyond the field types it
 * checks: every version belongs to this definition and has a unique `versionNo` and id, option
 * names are non-empty and unique (ignoring case) within a version, and a `Content` option's
 * default is empty or a content reference `"<guid>:<version>"`. Regular expressions are not
 * compiled here (DeployR's are .NET's); a step fails when one cannot be checked.
 * Throws DeployrError INVALID_INPUT whose message starts with the JSON path of the bad field,
 * e.g. `versions[0].options[2].required: expected a boolean, got a string`; `details.path` holds
 * the same path.
 */
export function parseStepDefinitionExport(json: unknown): StepDefinition {
  const obj = read.object(json, '');
  const id = read.guid(obj['id'], 'id');
  const def: StepDefinition = {
    id,
    name: read.nonEmptyString(obj['name'], 'name'),
    description: read.stringOrNull(obj['description'], 'description'),
    typeName: read.stringOrNull(obj['typeName'], 'typeName'),
    versions: [],
    versionsCount: read.wholeNumber(obj['versionsCount'], 'versionsCount', 0),
    createdDate: read.epochSeconds(obj['createdDate'], 'createdDate'),
    lastModifiedDate: read.epochSeconds(obj['lastModifiedDate'], 'lastModifiedDate'),
    readOnly: read.boolean(obj['readOnly'], 'readOnly'),
  };
  const versionNos = new Set<number>();
  const versionIds = new Set<string>();
  read.array(obj['versions'], 'versions').forEach((raw, i) => {
    const path = `versions[${i}]`;
    const version = parseVersion(raw, path, id);
    if (versionNos.has(version.versionNo)) read.fail(`${path}.versionNo`, `version ${version.versionNo} appears more than once`);
    if (versionIds.has(version.id)) read.fail(`${path}.id`, `version id ${version.id} appears more than once`);
    versionNos.add(version.versionNo);
    versionIds.add(version.id);
    def.versions.push(version);
  });
  const extra = read.extras(obj, DEFINITION_KEYS, '');
  if (extra !== undefined) def.extra = extra;
  return def;
}

function parseVersion(json: unknown, path: string, definitionId: string): StepDefinitionVersion {
  const obj = read.object(json, path);
  const owner = read.guid(obj['stepDefinitionId'], `${path}.stepDefinitionId`);
  if (owner !== definitionId) read.fail(`${path}.stepDefinitionId`, `expected the step definition's id ${definitionId}, got ${owner}`);
  const version: StepDefinitionVersion = {
    id: read.guid(obj['id'], `${path}.id`),
    stepDefinitionId: owner,
    versionNo: read.wholeNumber(obj['versionNo'], `${path}.versionNo`, 1),
    status: read.nonEmptyString(obj['status'], `${path}.status`),
    description: read.stringOrNull(obj['description'], `${path}.description`),
    options: [],
    validators: read.jsonValue(obj['validators'], `${path}.validators`),
    createdDate: read.epochSeconds(obj['createdDate'], `${path}.createdDate`),
    lastModifiedDate: read.epochSeconds(obj['lastModifiedDate'], `${path}.lastModifiedDate`),
  };
  const names = new Set<string>();
  read.array(obj['options'], `${path}.options`).forEach((raw, i) => {
    const optionPath = `${path}.options[${i}]`;
    const option = parseOption(raw, optionPath);
    const key = option.name.toLowerCase();
    if (names.has(key)) read.fail(`${optionPath}.name`, `option "${option.name}" appears more than once in this version`);
    names.add(key);
    version.options.push(option);
  });
  const extra = read.extras(obj, VERSION_KEYS, path);
  if (extra !== undefined) version.extra = extra;
  return version;
}

function parseOption(json: unknown, path: string): StepOption {
  const obj = read.object(json, path);
  const option: StepOption = {
    name: read.nonEmptyString(obj['name'], `${path}.name`),
    displayName: read.stringOrNull(obj['displayName'], `${path}.displayName`),
    description: read.stringOrNull(obj['description'], `${path}.description`),
    required: read.boolean(obj['required'], `${path}.required`),
    defaultValue: read.stringOrNull(obj['defaultValue'], `${path}.defaultValue`),
    type: read.nonEmptyString(obj['type'], `${path}.type`),
    contentItemPurpose: read.stringOrNull(obj['contentItemPurpose'], `${path}.contentItemPurpose`),
    hidden: read.boolean(obj['hidden'], `${path}.hidden`),
    validations: read.arrayOrNull(obj['validations'], `${path}.validations`)?.map((v, i) => parseValidation(v, `${path}.validations[${i}]`)) ?? null,
    dropdownOptions: read.arrayOrNull(obj['dropdownOptions'], `${path}.dropdownOptions`)?.map((v, i) => parseDropdownOption(v, `${path}.dropdownOptions[${i}]`)) ?? null,
  };
  if (isOptionType(option, OPTION_TYPES.Content) && option.defaultValue !== null && option.defaultValue !== '') {
    try {
      parseReference(option.defaultValue, { requireVersion: true });
    } catch {
      read.fail(`${path}.defaultValue`, 'expected "" or a content reference "<guid>:<version>" for a Content option');
    }
  }
  const extra = read.extras(obj, OPTION_KEYS, path);
  if (extra !== undefined) option.extra = extra;
  return option;
}

function parseValidation(json: unknown, path: string): OptionValidation {
  const obj = read.object(json, path);
  const validation: OptionValidation = {
    regexRule: read.nonEmptyString(obj['regexRule'], `${path}.regexRule`),
    errorMessage: read.stringOrNull(obj['errorMessage'], `${path}.errorMessage`),
  };
  const extra = read.extras(obj, VALIDATION_KEYS, path);
  if (extra !== undefined) validation.extra = extra;
  return validation;
}

function parseDropdownOption(json: unknown, path: string): DropdownOption {
  const obj = read.object(json, path);
  const choice: DropdownOption = {
    displayName: read.stringOrNull(obj['displayName'], `${path}.displayName`),
    value: read.string(obj['value'], `${path}.value`),
  };
  const extra = read.extras(obj, DROPDOWN_KEYS, path);
  if (extra !== undefined) choice.extra = extra;
  return choice;
}

// ---------------------------------------------------------------------------------------------
// Export

/**
 * The step definition in DeployR's export JSON shape, with DeployR's key order and unknown fields
 * after the known ones. The result shares nothing with `def`. For every real export text `x`,
 * `JSON.stringify(exportStepDefinition(parseStepDefinitionExport(JSON.parse(x))))` is `x` (without
 * its final newline), byte for byte.
 */
export function exportStepDefinition(def: StepDefinition): JsonObject {
  return withExtras({
    id: def.id,
    name: def.name,
    description: def.description,
    typeName: def.typeName,
    versions: def.versions.map(exportVersion),
    versionsCount: def.versionsCount,
    createdDate: def.createdDate,
    lastModifiedDate: def.lastModifiedDate,
    readOnly: def.readOnly,
  }, def.extra);
}

function exportVersion(v: StepDefinitionVersion): JsonObject {
  return withExtras({
    id: v.id,
    stepDefinitionId: v.stepDefinitionId,
    versionNo: v.versionNo,
    status: v.status,
    description: v.description,
    options: v.options.map(exportOption),
    validators: cloneJson(v.validators),
    createdDate: v.createdDate,
    lastModifiedDate: v.lastModifiedDate,
  }, v.extra);
}

function exportOption(o: StepOption): JsonObject {
  return withExtras({
    name: o.name,
    displayName: o.displayName,
    description: o.description,
    required: o.required,
    defaultValue: o.defaultValue,
    type: o.type,
    contentItemPurpose: o.contentItemPurpose,
    hidden: o.hidden,
    validations: o.validations === null ? null : o.validations.map((r) => withExtras({ regexRule: r.regexRule, errorMessage: r.errorMessage }, r.extra)),
    dropdownOptions: o.dropdownOptions === null ? null : o.dropdownOptions.map((d) => withExtras({ displayName: d.displayName, value: d.value }, d.extra)),
  }, o.extra);
}

/** The content reference `"<guid>:<version>"` in canonical form, or null when `value` is not one. */
export function contentReferenceOf(value: string | null | undefined): string | null {
  if (value === null || value === undefined || value.trim() === '') return null;
  try {
    return formatReference(parseReference(value.trim(), { requireVersion: true }));
  } catch {
    return null;
  }
}
