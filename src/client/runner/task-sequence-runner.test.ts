// Unit tests of the step runner: groups, conditions, enabled, continueOnError, variables, the variables file, reboot and resume.

import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { StepReport } from '../../api/contract.js';
import { parseStepDefinitionExport, type StepDefinition } from '../../domain/step-definition.js';
import { STEP_TYPE_IDS, type StepKind } from '../../domain/step-types.js';
import type { Step } from '../../domain/task-sequence.js';
import { VariableStore } from '../../domain/variables.js';
import { executorFor } from '../executors/index.js';
import type { StepExecutor } from '../executors/types.js';
import { TerminalUi } from '../terminal-ui.js';
import { RunLog } from './run-log.js';
import type { RunState } from './state.js';
import { TaskSequenceRunner, type LoadedTaskSequence, type RunResult } from './task-sequence-runner.js';

let n = 0;
/** A step id that is a GUID. */
function id(): string {
  n++;
  return `aaaaaaaa-0000-0000-0000-${n.toString(16).padStart(12, '0')}`;
}

function step(kind: StepKind, name: string, settings: Record<string, string> = {}, extra: Partial<Step> = {}): Step {
  return {
    id: id(), taskSequenceVersionId: null, name, description: null, typeId: STEP_TYPE_IDS[kind], type: null, stepDefinitionVersionId: null,
    stepDefinitionVersionNo: null, typeVersion: null, groupId: null, groupMembers: [], settings, contentItems: {}, isGroup: false,
    continueOnError: false, enabled: true, condition: '', createdDate: 0, lastModifiedDate: 0, ...extra,
  };
}

function group(name: string, members: Step[], extra: Partial<Step> = {}): Step {
  return { ...step('setVariable', name), typeId: null, isGroup: true, groupMembers: members, settings: {}, ...extra };
}

function cmd(name: string, commandLine: string, extra: Partial<Step> = {}): Step {
  return step('runCommandLine', name, { CommandLine: commandLine }, extra);
}

interface Harness {
  run(steps: Step[], options?: {
    state?: RunState; variables?: VariableStore; executorFor?: (s: Step) => StepExecutor; children?: Record<string, LoadedTaskSequence>;
    /** Custom step definitions the fake server has, by id. */
    definitions?: Record<string, StepDefinition>;
    /** The path `findExecutable('pwsh')` gives (default: none). */
    pwsh?: string;
  }): Promise<{ result: RunResult; state: RunState; variables: VariableStore; reports: StepReport[]; output: string[]; log: string }>;
  dir: string;
}

function harness(t: TestContext): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-runner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    async run(steps, options = {}) {
      const state: RunState = options.state ?? {
        format: 1, server: 'https://example.test', runId: 'r', taskSequenceId: 'ts', versionNo: 1, name: 'T', context: 'fullos', deviceId: 'dev',
        status: 'running', startedAt: '', done: {}, entered: [], variables: {}, secretNames: [], logFile: join(dir, 'run.log'), logUploaded: 0,
      };
      const variables = options.variables ?? new VariableStore();
      const reports: StepReport[] = [];
      const output: string[] = [];
      const log = new RunLog(state.logFile, (text) => variables.redact(text));
      const runner = new TaskSequenceRunner({
        state, variables, log, ui: new TerminalUi({ isTTY: false, write: (text) => output.push(text) }, 'T'), workRoot: dir,
        env: { PATH: process.env.PATH ?? '' }, signal: new AbortController().signal,
        ...(options.executorFor ? { executorFor: options.executorFor } : {}),
        ports: {
          fetchTaskSequence: async (ref) => {
            const child = options.children?.[ref];
            if (!child) throw new Error(`no task sequence ${ref}`);
            return child;
          },
          fetchContent: async () => { throw new Error('no content in this test'); },
          serverScript: async () => { throw new Error('no server in this test'); },
          fetchStepDefinition: async (stepDefinitionId) => options.definitions?.[stepDefinitionId] ?? null,
          reportStep: async (r) => { reports.push(r); },
          saveState: async () => {},
          findExecutable: async (name) => (name === 'pwsh' ? (options.pwsh ?? null) : `/usr/bin/${name}`),
        },
      });
      const result = await runner.run({ id: 'ts', name: 'T', versionNo: 1, steps });
      return { result, state, variables, reports, output, log: readFileSync(state.logFile, 'utf8') };
    },
  };
}

/** The final status reported for each step name. */
function finals(reports: StepReport[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of reports) if (r.status !== 'running') out[r.name] = r.status;
  return out;
}

test('a group whose condition is not met skips its whole subtree; disabled steps are skipped', async (t) => {
  const h = harness(t);
  const steps = [
    step('setVariable', 'Set make', { VariableName: 'Make', VariableValue: 'HP' }),
    group('Lenovo tools', [cmd('Lenovo 1', 'exit 0'), group('Inner', [cmd('Lenovo 2', 'exit 0')])], {
      condition: '{"operator":"and","items":[{"field":"MAKE","operator":"equals","value":"lenovo"}]}',
    }),
    group('HP tools', [cmd('HP 1', 'echo hp')], { condition: '{"operator":"and","items":[{"field":"Make","operator":"equals","value":"hp"}]}' }),
    cmd('Disabled', 'exit 1', { enabled: false }),
  ];
  const { result, reports } = await h.run(steps);
  assert.deepEqual(result, { status: 'succeeded' });
  const f = finals(reports);
  assert.equal(f['Lenovo tools'], 'skipped');
  assert.equal(f['Lenovo 1'], undefined, 'nothing inside the skipped group ran or was reported');
  assert.equal(f['Lenovo 2'], undefined);
  assert.equal(f['HP 1'], 'succeeded');
  assert.equal(f['Disabled'], 'skipped');
});

test('continueOnError on a step and on a group lets the run go on; a failing step without it stops the run', async (t) => {
  const h = harness(t);
  const steps = [
    cmd('Fails but continues', 'exit 3', { continueOnError: true }),
    group('Tolerant group', [cmd('Fails inside', 'exit 4'), cmd('Never runs', 'exit 0')], { continueOnError: true }),
    cmd('Runs', 'exit 0'),
    cmd('Fails', 'echo boom; exit 5'),
    cmd('After the failure', 'exit 0'),
  ];
  const { result, reports } = await h.run(steps);
  assert.equal(result.status, 'failed');
  assert.match((result as { message: string }).message, /at step "Fails": the command line failed \(exit code 5\)/);
  const f = finals(reports);
  assert.equal(f['Fails but continues'], 'continued');
  assert.equal(f['Fails inside'], 'failed');
  assert.equal(f['Never runs'], undefined);
  assert.equal(f['Tolerant group'], 'continued');
  assert.equal(f['Runs'], 'succeeded');
  assert.equal(f['Fails'], 'failed');
  assert.equal(f['After the failure'], undefined);
  const failedReport = reports.find((r) => r.name === 'Fails' && r.status === 'failed');
  assert.equal(failedReport?.exitCode, 5);
  assert.match(failedReport?.outputTail ?? '', /boom/);
});

test('a PowerShell condition without pwsh fails the step with a clear reason', async (t) => {
  const h = harness(t);
  const { result, reports } = await h.run([cmd('Guarded', 'exit 0', { condition: "(Get-Date).Year -gt 2000" })]);
  assert.equal(result.status, 'failed');
  const r = reports.find((x) => x.name === 'Guarded');
  assert.match(r?.message ?? '', /PowerShell 7 \(pwsh\) is not installed/);
});

test('settings expand %VAR%, are exposed in the variables file, and a script can set new variables through it', async (t) => {
  const h = harness(t);
  const script = [
    'node -e \'',
    'const fs = require("fs"); const f = process.env.DEPLOYR_VARIABLES_FILE;',
    'const v = JSON.parse(fs.readFileSync(f, "utf8"));',
    'v.FromScript = "seen " + v.Greeting + " " + v.Extra; v.Hidden = { value: "s3cr3t-value", secret: true };',
    'fs.writeFileSync(f, JSON.stringify(v));',
    '\'',
  ].join(' ');
  const steps = [
    step('setVariable', 'Greet', { VariableName: 'Greeting', VariableValue: 'hi %Name%' }),
    step('runCommandLine', 'Script', { CommandLine: script, Extra: 'x-%Greeting%' }),
    cmd('Use', 'echo "%FromScript%" and %Hidden%'),
  ];
  const { result, variables, reports, log } = await h.run(steps, { variables: new VariableStore({ Name: 'Ada' }) });
  assert.deepEqual(result, { status: 'succeeded' });
  assert.equal(variables.get('FromScript'), 'seen hi Ada x-hi Ada');
  assert.equal(variables.get('Extra'), undefined, 'a setting is exposed to the step only');
  assert.ok(variables.isSecret('Hidden'));
  const use = reports.find((r) => r.name === 'Use' && r.status === 'succeeded');
  assert.match(use?.outputTail ?? '', /seen hi Ada x-hi Ada and \*{8}/);
  assert.ok(!log.includes('s3cr3t-value'), 'the secret value never reaches the log');
});

test('secret variables are masked in output, messages and the log', async (t) => {
  const h = harness(t);
  const variables = new VariableStore({ Passcode: 'Tangerine-Lighthouse-42' });
  const { result, reports, log, output } = await h.run([cmd('Leaky', 'echo pass=%Passcode%; exit 1')], { variables });
  assert.equal(result.status, 'failed');
  const all = JSON.stringify(reports) + log + output.join('');
  assert.ok(!all.includes('Tangerine-Lighthouse-42'));
  assert.match(all, /pass=\*{8}/);
});

test('a reboot saves progress; the next run resumes after it, skips finished steps and entered groups keep their decision', async (t) => {
  const h = harness(t);
  const marker = join(h.dir, 'marker');
  const steps = [
    cmd('Before', `echo before >> "${marker}"`),
    group('G', [step('reboot', 'Restart'), cmd('After in group', `echo after >> "${marker}"`)], {
      condition: '{"operator":"and","items":[{"field":"Phase","operator":"equals","value":"one"}]}',
    }),
    cmd('Last', `echo last >> "${marker}"`),
  ];
  const variables = new VariableStore({ Phase: 'one' });
  const first = await h.run(steps, { variables });
  assert.deepEqual(first.result, { status: 'rebooting' });
  assert.equal(readFileSync(marker, 'utf8'), 'before\n');
  // The condition would now be false, but the group was entered before the restart.
  const second = await h.run(steps, { state: first.state, variables: new VariableStore({ Phase: 'two' }) });
  assert.deepEqual(second.result, { status: 'succeeded' });
  assert.equal(readFileSync(marker, 'utf8'), 'before\nafter\nlast\n');
  assert.deepEqual(second.reports.filter((r) => r.status !== 'running').map((r) => r.name), ['After in group', 'Last']);
});

test('Run task sequence runs the child by reference; a reboot inside it resumes inside it', async (t) => {
  const h = harness(t);
  const marker = join(h.dir, 'nested');
  const child: LoadedTaskSequence = {
    id: 'child', name: 'Child', versionNo: 2,
    steps: [cmd('Child 1', `echo c1 >> "${marker}"`), step('reboot', 'Child restart'), cmd('Child 2', `echo c2 >> "${marker}"`)],
  };
  const steps = [step('runTaskSequence', 'Module', { childTaskSequenceId: 'bbbbbbbb-0000-0000-0000-000000000001:2' }), cmd('Outer', `echo outer >> "${marker}"`)];
  const children = { 'bbbbbbbb-0000-0000-0000-000000000001:2': child };
  const first = await h.run(steps, { children });
  assert.deepEqual(first.result, { status: 'rebooting' });
  const moduleKey = steps[0]!.id;
  assert.equal(first.state.done[moduleKey], undefined, 'the Run task sequence step is not done yet');
  assert.ok(Object.keys(first.state.done).some((k) => k.startsWith(`${moduleKey}/`)), 'child steps are keyed under it');
  const second = await h.run(steps, { state: first.state, children });
  assert.deepEqual(second.result, { status: 'succeeded' });
  assert.equal(readFileSync(marker, 'utf8'), 'c1\nc2\nouter\n');
});

test('a task sequence that runs itself is refused', async (t) => {
  const h = harness(t);
  const self: LoadedTaskSequence = { id: 'ts', name: 'T', versionNo: 1, steps: [] };
  self.steps.push(step('runTaskSequence', 'Again', { childTaskSequenceId: 'x' }));
  const { result } = await h.run(self.steps, { children: { x: self } });
  assert.equal(result.status, 'failed');
  assert.match((result as { message: string }).message, /would run itself/);
});

test('Windows-only steps are recognised and fail with "needs Windows PE"; an unknown DeployR built-in never asks for an import; Format disk without TargetDevice says why; a custom step whose definition the server lacks says so', async (t) => {
  const h = harness(t);
  const custom = { ...cmd('Custom', ''), typeId: 'cccccccc-0000-0000-0000-000000000001' };
  const unknown = { ...cmd('Unknown built-in', ''), typeId: '00000001-0000-0000-0000-000000000019', continueOnError: true };
  const { reports } = await h.run([
    step('prepareOperatingSystem', 'Prepare', {}, { continueOnError: true }),
    step('configureInitialVariables', 'Initial variables', {}, { continueOnError: true }),
    unknown,
    step('formatDisk', 'Format', { DiskIndex: '0' }, { continueOnError: true }),
    { ...custom, continueOnError: true },
  ]);
  const message = (name: string): string => reports.find((r) => r.name === name && r.status !== 'running')?.message ?? '';
  assert.match(message('Prepare'), /"Prepare operating system" needs Windows PE \(DeployR's Windows client\)/);
  assert.match(message('Initial variables'), /"Configure initial variables" needs Windows PE or Windows/);
  assert.equal(message('Unknown built-in'), "step type 00000001-0000-0000-0000-000000000019 is a DeployR built-in step that deployr does not know; it needs DeployR's Windows client");
  assert.match(message('Format'), /needs TargetDevice .*DiskIndex is a Windows disk number/);
  assert.equal(message('Custom'), 'step definition cccccccc-0000-0000-0000-000000000001 is not on the server; import it with deployr step import');
});

/** A custom step definition with an inline script, a Text option with a default, and one the step overrides. */
function customDefinition(): StepDefinition {
  const id = 'dddddddd-0000-0000-0000-000000000001';
  const option = (name: string, type: string, defaultValue: string | null, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    name, displayName: name, description: name, required: false, defaultValue, type, contentItemPurpose: 'Other', hidden: false, validations: [], dropdownOptions: [], ...extra,
  });
  return parseStepDefinitionExport({
    id, name: 'Say hello', description: null, typeName: 'Test', versionsCount: 0, createdDate: 1, lastModifiedDate: 1, readOnly: false,
    versions: [{
      id: 'dddddddd-0000-0000-0000-0000000000a1', stepDefinitionId: id, versionNo: 1, status: 'Active', description: null, validators: null, createdDate: 1, lastModifiedDate: 1,
      options: [
        option('Greeting', 'Text', 'hello %Name%'),
        option('Target', 'Text', 'world', { required: true, validations: [{ regexRule: '^[a-z]+$', errorMessage: 'lower-case letters only' }] }),
        option('script', 'Script', 'Write-Output "$Greeting"', { hidden: true }),
      ],
    }],
  });
}

test('a custom step runs its definition\'s script with pwsh; defaults and overrides reach it as variables, for that step only', async (t) => {
  const h = harness(t);
  const def = customDefinition();
  // A stand-in for pwsh (PowerShell cannot be installed where these tests run): it records the
  // script file it was given and the variables file, and sets a variable through that file.
  const pwsh = join(h.dir, 'pwsh');
  const seen = join(h.dir, 'seen');
  writeFileSync(pwsh, [
    '#!/bin/sh',
    `while [ "$1" != "-File" ]; do shift; done; cp "$2" "${seen}.ps1"`,
    `cp "$DEPLOYR_VARIABLES_FILE" "${seen}.json"`,
    'node -e \'const fs=require("fs");const f=process.env.DEPLOYR_VARIABLES_FILE;const v=JSON.parse(fs.readFileSync(f,"utf8"));v.FromScript="done";fs.writeFileSync(f,JSON.stringify(v))\'',
    '',
  ].join('\n'));
  chmodSync(pwsh, 0o755);
  const custom = { ...cmd('Hello', ''), typeId: def.id, settings: { target: 'there' } };
  const { result, reports, variables, log } = await h.run([custom], { definitions: { [def.id]: def }, pwsh, variables: new VariableStore({ Name: 'Ada' }) });
  assert.deepEqual(result, { status: 'succeeded' });
  assert.equal(readFileSync(`${seen}.ps1`, 'utf8'), 'Write-Output "$Greeting"');
  const exposed = JSON.parse(readFileSync(`${seen}.json`, 'utf8')) as Record<string, string>;
  assert.equal(exposed['Greeting'], 'hello Ada', 'a default is exposed, %NAME% expanded');
  assert.equal(exposed['Target'], 'there', 'the step\'s own setting overrides the default');
  assert.equal(variables.get('FromScript'), 'done', 'a variable the script sets is kept');
  assert.equal(variables.get('Greeting'), undefined, 'defaults are exposed to the step only');
  assert.equal(reports.find((r) => r.name === 'Hello' && r.status === 'succeeded')?.message, 'step definition "Say hello" version 1');
  assert.match(log, /Step start: Hello \(custom step "Say hello"\)/);
});

test('a custom step fails clearly: without pwsh, with a required option empty, with a value failing its rule', async (t) => {
  const h = harness(t);
  const def = customDefinition();
  const definitions = { [def.id]: def };
  const custom = (name: string, settings: Record<string, string>): Step => ({ ...cmd(name, ''), typeId: def.id, settings, continueOnError: true });
  const { reports } = await h.run([custom('No pwsh', {}), custom('Empty', { Target: '' }), custom('Bad', { Target: 'UPPER' })], { definitions });
  const message = (name: string): string | null | undefined => reports.find((r) => r.name === name && r.status !== 'running')?.message;
  assert.equal(message('No pwsh'), 'custom step "Say hello" needs pwsh: PowerShell 7 (pwsh) is not installed on this machine');
  assert.equal(message('Empty'), 'custom step "Say hello": required option "Target" has no value');
  assert.equal(message('Bad'), 'custom step "Say hello": option "Target": lower-case letters only (validation rule ^[a-z]+$)');
});

test('an executor that throws fails its step with the error as the reason', async (t) => {
  const h = harness(t);
  const boom: StepExecutor = async () => { throw new Error('disk on fire'); };
  const { result } = await h.run([cmd('X', 'exit 0')], { executorFor: (s) => (s.name === 'X' ? boom : executorFor(s)) });
  assert.equal(result.status, 'failed');
  assert.match((result as { message: string }).message, /disk on fire/);
});
