// Unit tests for task sequences: parsing real DeployR exports, round trips, path-naming errors, walking, step types.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeployrError } from './errors.js';
import { STEP_TYPES, STEP_TYPE_IDS, isDeployrBuiltInId, stepKind, stepTypeInfo } from './step-types.js';
import { VERSION_STATUS, activeVersion, type TaskSequence } from './task-sequence.js';
import { countSteps, findStep, walkSteps } from './step-tree.js';
import { exportTaskSequence } from './task-sequence-export.js';
import { parseTaskSequenceExport } from './task-sequence-parse.js';
import { assertInvalidAt, exportFiles, exportText, loadExport } from '../../test/helpers/deployr-exports.js';

const TS_FILES = exportFiles(/^task-sequence-.*\.json$/);
const BARE_METAL = 'task-sequence-8770d276-bare-metal-from-cloud.json';
const REFRESH = 'task-sequence-80e8121b-in-place-refresh.json';
const APP_INSTALLS = 'task-sequence-0b226848-app-installs.json';
const OS_CONFIG = 'task-sequence-b09560a1-os-configuration.json';

const rawText = exportText;
const load = loadExport;

/** Asserts that parsing `json` fails with INVALID_INPUT naming exactly `path`, and a message matching `message`. */
function assertBad(json: unknown, path: string, message: RegExp): void {
  assertInvalidAt(parseTaskSequenceExport, json, path, message, 'task sequence export');
}

describe('parseTaskSequenceExport on the real DeployR exports', () => {
  it('finds all four task sequence exports', () => {
    assert.equal(TS_FILES.length, 4);
  });

  for (const file of TS_FILES) {
    it(`${file}: parses and round-trips deep-equal (and byte-for-byte)`, () => {
      const original = load(file);
      const ts = parseTaskSequenceExport(original);
      const exported = exportTaskSequence(ts);
      assert.deepStrictEqual(exported, load(file));
      // DeployR's key order is kept too, so the JSON text is identical.
      assert.equal(JSON.stringify(exported), rawText(file).trim());
      // Parsing did not alter its input.
      assert.deepStrictEqual(original, load(file));
    });
  }

  it('exposes the fields of the bare-metal export', () => {
    const ts = parseTaskSequenceExport(load(BARE_METAL));
    assert.equal(ts.id, '8770d276-96ee-4c2b-b8c4-38d4ad54670c');
    assert.equal(ts.name, 'Windows bare metal from cloud - GitHub');
    assert.equal(ts.architecture, 'Any');
    assert.equal(ts.tags, null);
    assert.equal(ts.versionsCount, 0);
    assert.equal(ts.versions.length, 1);
    const v = ts.versions[0];
    assert.ok(v);
    assert.equal(v.status, 'Active');
    assert.deepEqual(v.tags, []);
    const first = v.steps[0];
    assert.ok(first);
    assert.equal(first.settings['InitialFinishAction'], 'reboot');
    assert.equal(first.contentItems['Content'], '00000000-0000-0000-0000-000000000002:1');
    assert.equal(first.createdDate, 1768252571);
  });

  it('leaves optional fields absent when the export has none', () => {
    const ts = parseTaskSequenceExport(load(REFRESH));
    assert.equal(Object.hasOwn(ts, 'tags'), false);
    assert.equal(Object.hasOwn(ts, 'extra'), false);
    assert.equal(Object.hasOwn(ts.versions[0] ?? {}, 'tags'), false);
  });

  it('keeps a version status it does not know (In_Development)', () => {
    const ts = parseTaskSequenceExport(load(OS_CONFIG));
    assert.equal(ts.versions[0]?.status, VERSION_STATUS.InDevelopment);
  });

  it('export shares no objects with the parsed task sequence', () => {
    const ts = parseTaskSequenceExport(load(APP_INSTALLS));
    const exported = exportTaskSequence(ts) as { versions: Array<{ steps: Array<{ settings: Record<string, string> }> }> };
    const settings = exported.versions[0]?.steps[0]?.settings;
    assert.ok(settings);
    settings['Injected'] = 'x';
    assert.equal(ts.versions[0]?.steps[0]?.settings['Injected'], undefined);
  });
});

describe('parseTaskSequenceExport preserves unknown fields', () => {
  it('at the task sequence, version and step level, nested steps included', () => {
    const json = load(BARE_METAL);
    json.futureField = { nested: [1, 'two', null, { three: true }] };
    json.versions[0].approvedBy = 'someone';
    json.versions[0].steps[2].groupMembers[2].groupMembers[0].retries = 3;
    const ts = parseTaskSequenceExport(json);
    assert.deepEqual(ts.extra, { futureField: { nested: [1, 'two', null, { three: true }] } });
    assert.deepEqual(ts.versions[0]?.extra, { approvedBy: 'someone' });
    assert.deepStrictEqual(exportTaskSequence(ts), json);
  });

  it('keeps step `type` and `typeVersion` values other than null', () => {
    const json = load(REFRESH);
    json.versions[0].steps[0].type = { name: 'Group' };
    json.versions[0].steps[0].typeVersion = 2;
    assert.deepStrictEqual(exportTaskSequence(parseTaskSequenceExport(json)), json);
  });
});

describe('parseTaskSequenceExport names the path of a bad field', () => {
  // Bare-metal layout: steps[2] is group "Windows PE"; its groupMembers[2] is group "Drivers",
  // whose groupMembers[1] is "Inject cloud drivers".
  const INJECT = 'versions[0].steps[2].groupMembers[2].groupMembers[1]';

  const cases: Array<{ label: string; file?: string; mutate: (j: any) => unknown; path: string; message: RegExp }> = [ // eslint-disable-line @typescript-eslint/no-explicit-any
    {
      label: 'a non-boolean enabled two groups deep',
      mutate: (j) => (j.versions[0].steps[2].groupMembers[2].groupMembers[1].enabled = 'yes'),
      path: `${INJECT}.enabled`,
      message: /expected a boolean, got a string/,
    },
    {
      label: 'a missing step name',
      mutate: (j) => delete j.versions[0].steps[0].name,
      path: 'versions[0].steps[0].name',
      message: /expected a string, got nothing/,
    },
    {
      label: 'a number as a setting value',
      mutate: (j) => (j.versions[0].steps[0].settings.InitialProgressTimeout = 300),
      path: 'versions[0].steps[0].settings.InitialProgressTimeout',
      message: /expected a string, got a number/,
    },
    {
      label: 'a setting key that is not an identifier',
      mutate: (j) => (j.versions[0].steps[0].settings['My Setting'] = false),
      path: 'versions[0].steps[0].settings["My Setting"]',
      message: /expected a string, got a boolean/,
    },
    {
      label: 'a content item that is not a reference',
      mutate: (j) => (j.versions[0].steps[2].groupMembers[1].contentItems.Manifest = 'manifest'),
      path: 'versions[0].steps[2].groupMembers[1].contentItems.Manifest',
      message: /expected "" or a content reference "<guid>:<version>"/,
    },
    {
      label: 'a content item without a version',
      mutate: (j) => (j.versions[0].steps[0].contentItems.Content = '00000000-0000-0000-0000-000000000002'),
      path: 'versions[0].steps[0].contentItems.Content',
      message: /content reference/,
    },
    {
      label: 'an unknown condition operator',
      mutate: (j) =>
        (j.versions[0].steps[1].groupMembers[0].condition =
          '{"operator":"and","items":[{"field":"ModelAlias","operator":"sameAs","value":"Virtual Machine"}]}'),
      path: 'versions[0].steps[1].groupMembers[0].condition.items[0].operator',
      message: /unknown operator "sameAs"/,
    },
    {
      label: 'a condition that looks like JSON but is not',
      mutate: (j) => (j.versions[0].steps[1].groupMembers[0].condition = '{"operator":"and","items":['),
      path: 'versions[0].steps[1].groupMembers[0].condition',
      message: /not valid JSON/,
    },
    {
      label: 'a task sequence id that is not a GUID',
      mutate: (j) => (j.id = 'bare-metal'),
      path: 'id',
      message: /expected a GUID/,
    },
    {
      label: 'versions that are not an array',
      mutate: (j) => (j.versions = {}),
      path: 'versions',
      message: /expected an array, got an object/,
    },
    {
      label: 'a version status that is not a string',
      mutate: (j) => (j.versions[0].status = 1),
      path: 'versions[0].status',
      message: /expected a non-empty string, got a number/,
    },
    {
      label: 'a version number of 0',
      mutate: (j) => (j.versions[0].versionNo = 0),
      path: 'versions[0].versionNo',
      message: /expected a whole number ≥ 1, got 0/,
    },
    {
      label: 'a fractional createdDate',
      mutate: (j) => (j.versions[0].steps[3].groupMembers[0].createdDate = 1.5),
      path: 'versions[0].steps[3].groupMembers[0].createdDate',
      message: /epoch seconds/,
    },
    {
      label: 'a version of another task sequence',
      mutate: (j) => (j.versions[0].taskSequenceId = '0b226848-2b30-4863-ab1c-c8bbd66e1c42'),
      path: 'versions[0].taskSequenceId',
      message: /expected the task sequence's id/,
    },
    {
      label: 'a member whose groupId is not its group',
      mutate: (j) => (j.versions[0].steps[2].groupMembers[2].groupMembers[1].groupId = j.versions[0].steps[2].id),
      path: `${INJECT}.groupId`,
      message: /expected the enclosing group's id/,
    },
    {
      label: 'a top-level step with a groupId',
      mutate: (j) => (j.versions[0].steps[0].groupId = j.versions[0].steps[1].id),
      path: 'versions[0].steps[0].groupId',
      message: /expected null for a top-level step/,
    },
    {
      label: 'a step pointing at another version',
      mutate: (j) => (j.versions[0].steps[0].taskSequenceVersionId = '11111111-1111-1111-1111-111111111111'),
      path: 'versions[0].steps[0].taskSequenceVersionId',
      message: /expected null or this version's id/,
    },
    {
      label: 'a group with a typeId',
      mutate: (j) => (j.versions[0].steps[1].typeId = '00000001-0000-0000-0000-000000000002'),
      path: 'versions[0].steps[1].typeId',
      message: /expected null for a group/,
    },
    {
      label: 'a plain step without a typeId',
      mutate: (j) => (j.versions[0].steps[0].typeId = null),
      path: 'versions[0].steps[0].typeId',
      message: /expected a GUID/,
    },
    {
      label: 'a plain step with members',
      mutate: (j) => {
        const step = j.versions[0].steps[0];
        const member = structuredClone(j.versions[0].steps[1].groupMembers[0]);
        member.groupId = step.id;
        step.groupMembers = [member];
      },
      path: 'versions[0].steps[0].groupMembers',
      message: /expected no members for a step that is not a group/,
    },
    {
      label: 'a duplicated step id',
      mutate: (j) => (j.versions[0].steps[4].groupMembers[0].id = j.versions[0].steps[0].id),
      path: 'versions[0].steps[4].groupMembers[0].id',
      message: /appears more than once/,
    },
    {
      label: 'a group whose members are not an array',
      file: APP_INSTALLS,
      mutate: (j) => (j.versions[0].steps[0].groupMembers = null),
      path: 'versions[0].steps[0].groupMembers',
      message: /expected an array, got null/,
    },
    {
      label: 'tags that are not strings',
      mutate: (j) => (j.versions[0].tags = ['ok', 7]),
      path: 'versions[0].tags[1]',
      message: /expected a string/,
    },
    {
      label: 'a missing type field',
      file: REFRESH,
      mutate: (j) => delete j.versions[0].steps[0].groupMembers[1].type,
      path: 'versions[0].steps[0].groupMembers[1].type',
      message: /expected a JSON value/,
    },
  ];

  for (const c of cases) {
    it(c.label, () => {
      const json = load(c.file ?? BARE_METAL);
      c.mutate(json);
      assertBad(json, c.path, c.message);
    });
  }

  it('a duplicated version number', () => {
    const json = load(REFRESH);
    const second = structuredClone(json.versions[0]);
    second.id = '22222222-2222-2222-2222-222222222222';
    for (const s of second.steps) s.taskSequenceVersionId = second.id;
    json.versions.push(second);
    assertBad(json, 'versions[1].versionNo', /version 1 appears more than once/);
  });

  it('input that is not an object at all', () => {
    for (const bad of [null, [], 'text', 3]) {
      assert.throws(
        () => parseTaskSequenceExport(bad),
        (err: unknown) => isDeployrError(err, 'INVALID_INPUT') && /^task sequence export: expected an object/.test(err.message),
      );
    }
  });

  for (const key of ['__proto__', 'constructor', 'prototype']) {
    it(`the key ${key} anywhere (top level, settings, unknown fields)`, () => {
      const top = rawText(REFRESH).trim().replace(/^\{/, `{"${key}":{"polluted":true},`);
      assertBad(JSON.parse(top), key, /not allowed/);

      const json = load(REFRESH);
      const settings = JSON.parse(`{"${key}":"x"}`);
      json.versions[0].steps[0].groupMembers[0].settings = settings;
      assertBad(json, `versions[0].steps[0].groupMembers[0].settings.${key}`, /not allowed/);

      const deep = load(REFRESH);
      deep.versions[0].extraInfo = JSON.parse(`{"a":[{"${key}":1}]}`);
      assertBad(deep, `versions[0].extraInfo.a[0].${key}`, /not allowed/);
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    });
  }
});

describe('GUID normalisation', () => {
  it('lowercases ids and content references, keeping the structure valid', () => {
    const json = load(APP_INSTALLS);
    const upper = JSON.parse(JSON.stringify(json).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (g) => g.toUpperCase()));
    const ts = parseTaskSequenceExport(upper);
    // Only GUIDs changed case, so exporting gives back the original (lowercase) export.
    assert.deepStrictEqual(exportTaskSequence(ts), json);
  });
});

describe('walkSteps', () => {
  it('walks the nested groups of the bare-metal export depth-first, groups before their members', () => {
    const ts = parseTaskSequenceExport(load(BARE_METAL));
    const seen = [...walkSteps(ts.versions[0]?.steps ?? [])].map((v) => [v.depth, v.path.join(' / '), v.step.name]);
    assert.deepEqual(seen, [
      [0, '', 'Customize - Configure Initial Variables'],
      [0, '', 'Pre Reqs'],
      [1, 'Pre Reqs', 'Readiness Checker - VMs'],
      [1, 'Pre Reqs', 'Readiness Checker - Physicals'],
      [0, '', 'Windows PE'],
      [1, 'Windows PE', 'Format disk'],
      [1, 'Windows PE', 'Apply OS from Cloud'],
      [1, 'Windows PE', 'Drivers'],
      [2, 'Windows PE / Drivers', 'Migrate Drivers from WinPE'],
      [2, 'Windows PE / Drivers', 'Inject cloud drivers'],
      [1, 'Windows PE', 'Prepare OS'],
      [1, 'Windows PE', 'Reboot'],
      [0, '', 'Full OS'],
      [1, 'Full OS', 'Configure new OS'],
      [1, 'Full OS', 'Enable BranchCache'],
      [1, 'Full OS', 'Install updates'],
      [0, '', 'OS Configuration'],
      [1, 'OS Configuration', 'Module - Configure OS'],
      [0, '', 'UI Modification'],
      [1, 'UI Modification', 'Customize - Configure Default Start Menu Layout'],
      [1, 'UI Modification', 'Customize - Configure User Explorer Defaults'],
      [0, '', 'OEM Tools (Non-VMs)'],
      [1, 'OEM Tools (Non-VMs)', 'HP'],
      [1, 'OEM Tools (Non-VMs)', 'Lenovo'],
      [1, 'OEM Tools (Non-VMs)', 'Dell'],
      [1, 'OEM Tools (Non-VMs)', 'Panasonic'],
      [1, 'OEM Tools (Non-VMs)', 'Acer'],
      [1, 'OEM Tools (Non-VMs)', 'Reboot'],
      [0, '', 'Software'],
      [1, 'Software', 'App - Install M365 Apps - Office'],
      [1, 'Software', 'Apps - Install VSCode from Cloud'],
      [1, 'Software', 'Apps - Install WMI Explorer'],
      [0, '', 'Customize - Inventory OSD Data in Registry'],
    ]);
  });

  it('gives each member its enclosing group as parent, and the parent id equals the groupId', () => {
    const ts = parseTaskSequenceExport(load(BARE_METAL));
    for (const visit of walkSteps(ts.versions[0]?.steps ?? [])) {
      assert.equal(visit.parent?.id ?? null, visit.step.groupId);
      assert.equal(visit.depth, visit.path.length);
    }
  });

  it('walks a tree nested deeper than the exports', () => {
    const leaf = (name: string) => ({ name, isGroup: false, enabled: true, groupMembers: [] });
    const group = (name: string, members: unknown[]) => ({ name, isGroup: true, enabled: true, groupMembers: members });
    const steps = [group('a', [group('b', [group('c', [leaf('x')]), leaf('y')])]), leaf('z')] as unknown as TaskSequence['versions'][number]['steps'];
    assert.deepEqual(
      [...walkSteps(steps)].map((v) => `${v.path.join('/')}:${v.step.name}`),
      [':a', 'a:b', 'a/b:c', 'a/b/c:x', 'a/b:y', ':z'],
    );
  });
});

describe('countSteps and findStep', () => {
  it('counts steps at every depth, optionally groups and enabled ones only', () => {
    const bare = parseTaskSequenceExport(load(BARE_METAL)).versions[0]?.steps ?? [];
    assert.equal(countSteps(bare), 20);
    assert.equal(countSteps(bare, { includeGroups: true }), 33);
    const apps = parseTaskSequenceExport(load(APP_INSTALLS)).versions[0]?.steps ?? [];
    assert.equal(countSteps(apps), 3);
    assert.equal(countSteps(apps, { enabledOnly: true }), 2); // "Install 2Pint StifleR" is disabled
    assert.equal(countSteps([]), 0);
  });

  it('finds a nested step by id in any case', () => {
    const steps = parseTaskSequenceExport(load(BARE_METAL)).versions[0]?.steps ?? [];
    const inject = steps[2]?.groupMembers[2]?.groupMembers[1];
    assert.ok(inject);
    assert.equal(findStep(steps, inject.id.toUpperCase()), inject);
    assert.equal(findStep(steps, '99999999-9999-9999-9999-999999999999'), undefined);
  });
});

describe('activeVersion', () => {
  function withVersions(statuses: string[]): TaskSequence {
    const ts = parseTaskSequenceExport(load(REFRESH));
    const template = ts.versions[0];
    assert.ok(template);
    ts.versions = statuses.map((status, i) => ({ ...template, versionNo: i + 1, status }));
    return ts;
  }

  it('picks the highest Active version when none is asked for', () => {
    const ts = withVersions(['Active', 'Active', 'In_Development', 'Inactive']);
    assert.equal(activeVersion(ts).versionNo, 2);
    assert.equal(activeVersion(ts, null).versionNo, 2);
  });

  it('returns the asked-for version when it is Active', () => {
    const ts = withVersions(['Active', 'Active', 'In_Development']);
    assert.equal(activeVersion(ts, 1).versionNo, 1);
  });

  it('refuses an asked-for version that is not Active (CONFLICT) or missing (NOT_FOUND)', () => {
    const ts = withVersions(['Active', 'Active', 'In_Development']);
    assert.throws(() => activeVersion(ts, 3), (e: unknown) => isDeployrError(e, 'CONFLICT') && /version 3 .* is In_Development, not Active/.test(e.message));
    assert.throws(() => activeVersion(ts, 9), (e: unknown) => isDeployrError(e, 'NOT_FOUND') && /has no version 9/.test(e.message));
  });

  it('refuses a task sequence with no Active version (the real In_Development export)', () => {
    const ts = parseTaskSequenceExport(load(OS_CONFIG));
    assert.throws(() => activeVersion(ts), (e: unknown) => isDeployrError(e, 'CONFLICT') && /has no Active version/.test(e.message));
    assert.throws(() => activeVersion({ ...ts, versions: [] }), (e: unknown) => isDeployrError(e, 'CONFLICT'));
  });
});

describe('step types', () => {
  it('has DeployR built-ins under 00000001-… and our own under 00000002-…, keyed by lowercase id', () => {
    for (const [id, info] of Object.entries(STEP_TYPES)) {
      assert.equal(id, info.typeId);
      assert.equal(id, id.toLowerCase());
      assert.match(id, info.origin === 'deployr' ? /^00000001-0000-0000-0000-0000000000[0-9a-f]{2}$/ : /^00000002-0000-0000-0000-00000000000[0-9a-f]$/);
      assert.equal(STEP_TYPE_IDS[info.kind], id);
    }
    assert.equal(Object.keys(STEP_TYPES).length, 16);
    assert.equal(STEP_TYPE_IDS.runCommandLine, '00000002-0000-0000-0000-000000000001');
    assert.equal(STEP_TYPE_IDS.applyImage, '00000002-0000-0000-0000-000000000002');
    assert.equal(STEP_TYPE_IDS.runServerSideScript, '00000002-0000-0000-0000-000000000003');
  });

  it('knows the kind and environment of every built-in step in the bare-metal export', () => {
    const steps = parseTaskSequenceExport(load(BARE_METAL)).versions[0]?.steps ?? [];
    const byName = new Map([...walkSteps(steps)].map((v) => [v.step.name, v.step]));
    const expect: Array<[string, string, string | undefined]> = [
      ['Format disk', 'formatDisk', 'winpe'],
      ['Apply OS from Cloud', 'applyOperatingSystemFromCloud', 'winpe'],
      ['Inject cloud drivers', 'injectDriversFromCloud', 'winpe'],
      ['Prepare OS', 'prepareOperatingSystem', 'winpe'],
      ['Configure new OS', 'configureOperatingSystem', 'fullos'],
      ['Enable BranchCache', 'enableBranchCache', 'fullos'],
      ['Install updates', 'installUpdates', 'fullos'],
      ['Module - Configure OS', 'runTaskSequence', 'any'],
      ['Apps - Install VSCode from Cloud', 'runPowerShellScript', 'any'],
      ['Windows PE', 'group', undefined],
      ['Readiness Checker - VMs', 'custom', undefined],
      // …021 is in DeployR's built-in range and its step takes DeployR's built-in content (…0002), not a community content item.
      ['Customize - Configure Initial Variables', 'configureInitialVariables', 'any'],
    ];
    for (const [name, kind, environment] of expect) {
      const step = byName.get(name);
      assert.ok(step, name);
      assert.equal(stepKind(step), kind, name);
      assert.equal(stepTypeInfo(step.typeId)?.environment, environment, name);
    }
  });

  it('never takes an id in DeployR\'s built-in range for a custom step definition', () => {
    assert.equal(stepKind({ isGroup: false, typeId: '00000001-0000-0000-0000-000000000019' }), 'unknownBuiltIn');
    assert.equal(isDeployrBuiltInId('00000001-0000-0000-0000-0000000000FF'), true);
    assert.equal(stepKind({ isGroup: false, typeId: 'cccccccc-0000-0000-0000-000000000001' }), 'custom');
    assert.equal(isDeployrBuiltInId('00000002-0000-0000-0000-000000000001'), false);
  });

  it('looks type ids up in any case and never through the prototype', () => {
    assert.equal(stepTypeInfo('00000001-0000-0000-0000-00000000000B')?.kind, 'installApplication');
    assert.equal(stepTypeInfo('constructor'), undefined);
    assert.equal(stepTypeInfo(null), undefined);
  });
});
