// Unit tests for step definitions: the real DeployR exports parse and round-trip byte for byte, bad fields are named by path, version choice.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeployrError } from './errors.js';
import { exportStepDefinition, parseStepDefinitionExport, stepDefinitionVersion, type StepDefinition } from './step-definition.js';
import { assertInvalidAt, exportFiles, exportText, loadExport } from '../../test/helpers/deployr-exports.js';

const FILES = exportFiles(/step-definition-.*\.json$/);
const LOCKSCREEN = 'step-definition-be7ccba3-lockscreen.json';
const LOCAL_ADMIN = 'step-definition-67f3b9c9-local-admin.json';
const INITIAL_VARIABLES = 'step-definition-ce8e43c9-initial-variables.json';
const M365 = '2pint-step-definition-753771ea-install-m365.json';

const rawText = exportText;
const load = loadExport;

/** Asserts that parsing `json` fails with INVALID_INPUT naming exactly `path`, and a message matching `message`. */
function assertBad(json: unknown, path: string, message: RegExp): void {
  assertInvalidAt(parseStepDefinitionExport, json, path, message, 'step definition export');
}

describe('parseStepDefinitionExport on the real DeployR exports', () => {
  it('finds all six step definition exports', () => {
    assert.equal(FILES.length, 6);
  });

  for (const file of FILES) {
    it(`${file}: parses and exports back byte for byte`, () => {
      const original = load(file);
      const def = parseStepDefinitionExport(original);
      const exported = exportStepDefinition(def);
      assert.deepStrictEqual(exported, load(file));
      // DeployR's key order is kept, and the file is one line of JSON and a newline: the bytes match.
      assert.equal(JSON.stringify(exported) + '\n', rawText(file));
      assert.deepStrictEqual(original, load(file), 'parsing did not alter its input');
      assert.equal(Object.hasOwn(def, 'extra'), false, 'every field of a real export is a known one');
    });
  }

  it('exposes the fields of the lock screen export', () => {
    const def = parseStepDefinitionExport(load(LOCKSCREEN));
    assert.equal(def.id, 'be7ccba3-e775-4f83-84c9-4c90dac3b32b');
    assert.equal(def.name, 'Customize - Configure Lockscreen Image from Content Item');
    assert.equal(def.typeName, 'Windows Customization');
    assert.equal(def.readOnly, false);
    const v = def.versions[0];
    assert.ok(v);
    assert.equal(v.status, 'Active');
    assert.equal(v.validators, null);
    assert.deepEqual(v.options.map((o) => [o.name, o.type, o.hidden]), [
      ['StepDefsCI', 'Content', true],
      ['BrandingLockScreenImageFileName', 'Text', false],
      ['BrandingLockScreenImageCI', 'Content', false],
      ['scriptName', 'Script', true],
      ['BrandingLockScreenImageEnforce', 'Boolean', false],
    ]);
    assert.deepEqual(v.options[1]?.validations, [{ regexRule: '\\.png$', errorMessage: 'Ensure the image you specify is in .png format' }]);
    assert.equal(v.options[0]?.defaultValue, 'd819ff51-72a1-4e3c-bdf3-fcb69cf1bbab:1');
  });

  it('keeps an inline script, large drop-down lists, non-ASCII text and a null default', () => {
    const admin = parseStepDefinitionExport(load(LOCAL_ADMIN));
    const script = admin.versions[0]?.options.find((o) => o.type === 'Script');
    assert.match(script?.defaultValue ?? '', /New-LocalUser/);
    assert.match(script?.defaultValue ?? '', /\r\n/);
    const vars = parseStepDefinitionExport(load(INITIAL_VARIABLES));
    assert.ok((vars.versions[0]?.options.find((o) => o.name === 'InitialInputLocale')?.dropdownOptions?.length ?? 0) > 300);
    assert.ok(/[^\x00-\x7f]/.test(JSON.stringify(exportStepDefinition(vars))), 'the non-ASCII text survives');
    const readiness = parseStepDefinitionExport(load('2pint-step-definition-7e12116e-check-readiness.json'));
    assert.equal(readiness.versions[0]?.options.find((o) => o.name === 'CRMinOSVer')?.defaultValue, null);
    assert.equal(readiness.versions[0]?.status, 'In_Development');
  });

  it('export shares no objects with the parsed definition', () => {
    const def = parseStepDefinitionExport(load(M365));
    const exported = exportStepDefinition(def) as { versions: Array<{ options: Array<{ dropdownOptions: Array<{ value: string }> }> }> };
    const choice = exported.versions[0]?.options[2]?.dropdownOptions[0];
    assert.ok(choice);
    choice.value = 'changed';
    assert.notEqual(def.versions[0]?.options[2]?.dropdownOptions?.[0]?.value, 'changed');
  });
});

describe('parseStepDefinitionExport keeps unknown fields and case', () => {
  it('at every level, and writes them back after the known ones', () => {
    const json = load(LOCKSCREEN);
    json.futureField = { nested: [1, 'two', null] };
    json.versions[0].approvedBy = 'someone';
    json.versions[0].options[1].placeholder = 'lockscreen.png';
    json.versions[0].options[1].validations[0].severity = 'error';
    json.versions[0].validators = [{ kind: 'custom' }];
    const def = parseStepDefinitionExport(json);
    assert.deepEqual(def.extra, { futureField: { nested: [1, 'two', null] } });
    assert.deepStrictEqual(exportStepDefinition(def), json);
  });

  it('accepts upper-case GUIDs and holds them in lower case', () => {
    const json = load(LOCKSCREEN);
    json.id = json.id.toUpperCase();
    json.versions[0].stepDefinitionId = json.versions[0].stepDefinitionId.toUpperCase();
    assert.equal(parseStepDefinitionExport(json).id, 'be7ccba3-e775-4f83-84c9-4c90dac3b32b');
  });

  it('accepts null validations and drop-down lists and keeps them null', () => {
    const json = load(LOCKSCREEN);
    json.versions[0].options[0].validations = null;
    json.versions[0].options[0].dropdownOptions = null;
    assert.deepStrictEqual(exportStepDefinition(parseStepDefinitionExport(json)), json);
  });
});

describe('parseStepDefinitionExport names the path of a bad field', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const cases: Array<{ label: string; mutate: (j: any) => unknown; path: string; message: RegExp }> = [
    { label: 'not an object', mutate: () => undefined, path: '', message: /expected an object/ },
    { label: 'a bad id', mutate: (j) => (j.id = 'nope'), path: 'id', message: /expected a GUID/ },
    { label: 'an empty name', mutate: (j) => (j.name = ' '), path: 'name', message: /non-empty string/ },
    { label: 'readOnly as a string', mutate: (j) => (j.readOnly = 'false'), path: 'readOnly', message: /expected a boolean, got a string/ },
    { label: 'versions missing', mutate: (j) => delete j.versions, path: 'versions', message: /expected an array, got nothing/ },
    { label: 'a version of another definition', mutate: (j) => (j.versions[0].stepDefinitionId = '00000000-0000-0000-0000-000000000001'), path: 'versions[0].stepDefinitionId', message: /expected the step definition's id/ },
    { label: 'versionNo 0', mutate: (j) => (j.versions[0].versionNo = 0), path: 'versions[0].versionNo', message: /whole number ≥ 1, got 0/ },
    { label: 'a duplicate versionNo', mutate: (j) => j.versions.push({ ...j.versions[0], id: '00000000-0000-0000-0000-0000000000aa' }), path: 'versions[1].versionNo', message: /appears more than once/ },
    { label: 'validators missing', mutate: (j) => delete j.versions[0].validators, path: 'versions[0].validators', message: /got nothing/ },
    { label: 'required as a string', mutate: (j) => (j.versions[0].options[2].required = 'yes'), path: 'versions[0].options[2].required', message: /expected a boolean, got a string/ },
    { label: 'hidden missing', mutate: (j) => delete j.versions[0].options[3].hidden, path: 'versions[0].options[3].hidden', message: /expected a boolean, got nothing/ },
    { label: 'a numeric default', mutate: (j) => (j.versions[0].options[4].defaultValue = 1), path: 'versions[0].options[4].defaultValue', message: /string or null, got a number/ },
    { label: 'an empty type', mutate: (j) => (j.versions[0].options[1].type = ''), path: 'versions[0].options[1].type', message: /non-empty string/ },
    { label: 'a duplicate option name (any case)', mutate: (j) => (j.versions[0].options[4].name = 'SCRIPTNAME'), path: 'versions[0].options[4].name', message: /appears more than once/ },
    { label: 'a Content default that is no reference', mutate: (j) => (j.versions[0].options[0].defaultValue = 'my content'), path: 'versions[0].options[0].defaultValue', message: /content reference/ },
    { label: 'a validation without a rule', mutate: (j) => delete j.versions[0].options[1].validations[0].regexRule, path: 'versions[0].options[1].validations[0].regexRule', message: /non-empty string, got nothing/ },
    { label: 'validations as an object', mutate: (j) => (j.versions[0].options[1].validations = {}), path: 'versions[0].options[1].validations', message: /expected an array, got an object/ },
    { label: 'a drop-down value that is a number', mutate: (j) => (j.versions[0].options[5].dropdownOptions[1].value = 6), path: 'versions[0].options[5].dropdownOptions[1].value', message: /expected a string, got a number/ },
    { label: 'a __proto__ key', mutate: (j) => Object.defineProperty(j.versions[0].options[0], '__proto__', { value: {}, enumerable: true }), path: 'versions[0].options[0].__proto__', message: /not allowed/ },
  ];
  for (const c of cases) {
    it(c.label, () => {
      const json = load(c.label === 'a drop-down value that is a number' ? '2pint-step-definition-7e40b89c-set-background-image.json' : LOCKSCREEN);
      const replaced = c.mutate(json);
      assertBad(c.path === '' ? replaced : json, c.path, c.message);
    });
  }
});

describe('stepDefinitionVersion', () => {
  function twoVersions(statuses: [string, string]): StepDefinition {
    const def = parseStepDefinitionExport(load(LOCKSCREEN));
    const v1 = def.versions[0]!;
    def.versions = [{ ...v1, status: statuses[0] }, { ...v1, id: '00000000-0000-0000-0000-0000000000bb', versionNo: 2, status: statuses[1] }];
    return def;
  }

  it('without a version number: the highest Active version', () => {
    assert.equal(stepDefinitionVersion(twoVersions(['Active', 'Active'])).versionNo, 2);
    assert.equal(stepDefinitionVersion(twoVersions(['Active', 'In_Development'])).versionNo, 1);
  });

  it('with a version number: exactly that one, which must be Active', () => {
    assert.equal(stepDefinitionVersion(twoVersions(['Active', 'Active']), 1).versionNo, 1);
    assert.throws(() => stepDefinitionVersion(twoVersions(['Active', 'In_Development']), 2), (e: unknown) =>
      isDeployrError(e, 'CONFLICT') && /version 2 of step definition ".*" \(be7ccba3-.*\) is In_Development, not Active/.test(e.message));
    assert.throws(() => stepDefinitionVersion(twoVersions(['Active', 'Active']), 3), (e: unknown) => isDeployrError(e, 'NOT_FOUND') && /has no version 3/.test(e.message));
  });

  it('no Active version at all is a conflict', () => {
    assert.throws(() => stepDefinitionVersion(twoVersions(['In_Development', 'Inactive'])), (e: unknown) => isDeployrError(e, 'CONFLICT') && /has no Active version/.test(e.message));
  });
});
