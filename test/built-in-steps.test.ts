// End to end: DeployR's built-in steps known without an import (Windows-only ones refused with a reason; Format disk is in format-disk.test.ts), `ts show` per fixture, and one step count everywhere.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXPORTS_DIR, runDeployr, setPasscode, startService, tempHome, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';
import { group, step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const PASSCODE = 'Tangerine-Lighthouse-42';
const SET_VARIABLE = '00000001-0000-0000-0000-000000000001';
const RUN_COMMAND_LINE = '00000002-0000-0000-0000-000000000001';

describe('DeployR built-in steps, ts show and step counts with the real client and service', () => {
  const { home, cleanup } = tempHome('deployr-builtin-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-builtin-work-'));
  let svc: ServiceProcess;

  const cli = (args: string[]): Promise<CommandResult> => runDeployr(args, { home });
  const client = (args: string[], stateDir: string, env: Record<string, string> = {}): Promise<CommandResult> =>
    runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', stateDir, '--fullos', ...args], {
      env: { DEPLOYR_HOME: join(work, 'nowhere'), DEPLOYR_VAR_Passcode: PASSCODE, ...env },
    });

  async function importTs(ts: Json): Promise<string> {
    const file = join(work, `${ts.id as string}.json`);
    writeFileSync(file, JSON.stringify(ts));
    const r = await cli(['ts', 'import', file]);
    assert.equal(r.code, 0, r.stderr);
    return ts.id as string;
  }

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    svc = await startService({ home });
  });

  after(async () => {
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('the bare-metal fixture fails at its first step because it needs Windows, never asking to import DeployR\'s built-in …0021', async () => {
    const files = readdirSync(EXPORTS_DIR).filter((f) => f.startsWith('task-sequence-'));
    const imported = await cli(['ts', 'import', ...files.map((f) => join(EXPORTS_DIR, f))]);
    assert.equal(imported.code, 0, imported.stderr);
    const r = await client(['--ts', bareMetalId()], join(work, 'state-bare-metal'));
    if (process.env.SHOW_OUTPUT) console.log(r.stdout, r.stderr);
    assert.notEqual(r.code, 0, 'the run fails');
    assert.doesNotMatch(r.stdout + r.stderr, /00000001-0000-0000-0000-000000000021 is not on the server|import it with deployr step import[^\n]*0021/);
    assert.match(r.stdout, /failed at step "Customize - Configure Initial Variables": "Configure initial variables" needs Windows PE or Windows \(DeployR's Windows client\); this client cannot run it/);
  });

  test('ts show lists, for every fixture, each step\'s type and whether it can run here, and why not', async () => {
    const files = readdirSync(EXPORTS_DIR).filter((f) => f.startsWith('task-sequence-'));
    assert.equal((await cli(['ts', 'import', ...files.map((f) => join(EXPORTS_DIR, f))])).code, 0);
    for (const file of files) {
      const ts = JSON.parse(readFileSync(join(EXPORTS_DIR, file), 'utf8')) as Json;
      const show = await cli(['ts', 'show', ts.id as string]);
      if (process.env.SHOW_OUTPUT) console.log(show.stdout);
      assert.equal(show.code, 0, show.stderr);
      const stepLines = show.stdout.split('\n').filter((l) => /^\s+(\d+\.|-) /.test(l));
      assert.ok(stepLines.length > 0, `${file}: no step lines in\n${show.stdout}`);
      for (const line of stepLines) {
        assert.match(line, /\[[^\]]+\].* (runs here(; .+)?|cannot run here: .+|not run)$/, `${file}: every step says its type and whether it runs here:\n${line}`);
      }
      assert.match(show.stdout, /^ {4}\d+ of \d+ steps? can run here/m, `${file}: a summary`);
    }
    const bare = (await cli(['ts', 'show', bareMetalId()])).stdout;
    assert.match(bare, /Version 1 \(Active\): 20 steps \(not counting 13 groups\)/);
    assert.match(bare, /^ {4} 1\. Customize - Configure Initial Variables {2}\[Configure initial variables\] cannot run here: needs Windows PE or Windows \(DeployR's Windows client\)$/m);
    assert.match(bare, /^ +\d+\. Format disk {2}\[Format disk\] runs here$/m);
    assert.match(bare, /^ +\d+\. Apply OS from Cloud {2}\[Apply operating system from cloud\] cannot run here: needs Windows PE \(DeployR's Windows client\)$/m);
    assert.match(bare, /^ +\d+\. Configure new OS {2}\[Configure operating system\] cannot run here: needs Windows \(DeployR's Windows client\)$/m);
    assert.match(bare, /^ +\d+\. Module - Configure OS {2}\[Run task sequence\] runs here$/m);
    assert.match(bare, /^ +\d+\. Readiness Checker - VMs {2}\[custom step definition 7e12116e-6c80-4e28-abef-1b9219b8a3e0\](?: \(conditional\))? cannot run here: step definition 7e12116e-6c80-4e28-abef-1b9219b8a3e0 is not on the server; import it with deployr step import$/m);
    assert.match(bare, /^ +\d+\. Apps - Install VSCode from Cloud {2}\[Run PowerShell script\] runs here; needs pwsh \(PowerShell 7\) on the client's PATH$/m);
    const apps = (await cli(['ts', 'show', idOf('task-sequence-0b226848-app-installs.json')])).stdout;
    assert.match(apps, /^ +- {2}Install 2Pint StifleR 2\.14 Client {2}\[Install application\] \(disabled\) not run$/m, 'a disabled step is listed, not counted');
    assert.match(apps, /2 steps \(not counting 1 group and 1 disabled step\)/);

    // Once the step definition is imported, the custom step names it and what it needs.
    const step = await cli(['step', 'import', join(EXPORTS_DIR, '2pint-step-definition-7e12116e-check-readiness.json')]);
    assert.equal(step.code, 0, step.stderr);
    assert.match((await cli(['ts', 'show', bareMetalId()])).stdout, /\d+\. Readiness Checker - VMs {2}\[custom "Readiness Checker"\] \(conditional\) cannot run here: step definition "Readiness Checker" has no Active version$/m);
    assert.equal((await cli(['step', 'activate', '7e12116e-6c80-4e28-abef-1b9219b8a3e0', '1'])).code, 0);
    assert.match((await cli(['ts', 'show', bareMetalId()])).stdout, /\d+\. Readiness Checker - VMs {2}\[custom "Readiness Checker"\] \(conditional\) runs here; needs pwsh \(PowerShell 7\) on the client's PATH$/m);
  });

  test('one step count everywhere: import, ts show, the client\'s plan and its [n/N] counter count enabled steps, not groups or disabled ones', async () => {
    const tsId = await importTs(taskSequence('Counted', [
      group('Setup', [step('First', SET_VARIABLE, { VariableName: 'A', VariableValue: '1' })]),
      step('Off', RUN_COMMAND_LINE, { CommandLine: 'exit 3' }, { enabled: false }),
      group('Off group', [step('Inside off group', RUN_COMMAND_LINE, { CommandLine: 'exit 4' })], { enabled: false }),
      step('Second', RUN_COMMAND_LINE, { CommandLine: 'echo second' }),
    ]));
    const show = await cli(['ts', 'show', tsId]);
    assert.match(show.stdout, /Version 1 \(Active\): 2 steps \(not counting 2 groups and 2 disabled steps\)/);
    const r = await client(['--ts', tsId], join(work, 'state-counted'));
    if (process.env.SHOW_OUTPUT) console.log(r.stdout);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Task sequence: Counted \([0-9a-f-]+:1\), 2 steps \(not counting 2 groups and 2 disabled steps\):/);
    assert.match(r.stdout, /^ +1\. First {2}\[Set variable\] runs here$/m, 'the client shows the plan before the run');
    assert.match(r.stdout, /^\[1\/2\] \+ First/m);
    assert.match(r.stdout, /^\[2\/2\] \+ Second/m);
    assert.doesNotMatch(r.stdout, /\/[34]\]/, 'no counter counts groups or disabled steps');
  });
});

/** The id of the bare-metal fixture. */
function bareMetalId(): string {
  return idOf('task-sequence-8770d276-bare-metal-from-cloud.json');
}

/** The id of a fixture export. */
function idOf(file: string): string {
  return (JSON.parse(readFileSync(join(EXPORTS_DIR, file), 'utf8')) as { id: string }).id;
}
