// End to end: custom step definitions imported with the real CLI, served by the real service and run by the real client (pwsh stood in for).

import { strict as assert } from 'node:assert';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configureSecurityAndWait, EXPORTS_DIR, runDeployr, setPasscode, startService, tempHome, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';
import { step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const PASSCODE = 'Tangerine-Lighthouse-42';
const LOCKSCREEN = 'be7ccba3-e775-4f83-84c9-4c90dac3b32b';
const LOCAL_ADMIN = '67f3b9c9-21bf-48fd-90c4-a9be28aed6b8';
const READINESS = '7e12116e-6c80-4e28-abef-1b9219b8a3e0';
const LOCKSCREEN_NAME = 'Customize - Configure Lockscreen Image from Content Item';
const FILES = readdirSync(EXPORTS_DIR).filter((f) => /step-definition-.*\.json$/.test(f));


function exportText(file: string): string {
  return readFileSync(join(EXPORTS_DIR, file), 'utf8');
}

function exportFileOf(id: string): string {
  const file = FILES.find((f) => (JSON.parse(exportText(f)) as { id: string }).id === id);
  assert.ok(file, `no export for ${id}`);
  return file;
}

/** A step in DeployR's export shape whose type is the custom step definition `typeId`. */
function customStep(name: string, typeId: string, settings: Record<string, string>, contentItems: Record<string, string>, extra: Json = {}): Json {
  return step(name, typeId, settings, { contentItems, ...extra });
}

describe('custom step definitions with the real CLI, service and client', () => {
  const { home, cleanup } = tempHome('deployr-stepdefs-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-stepdefs-work-'));
  const bin = join(work, 'bin');
  const capture = join(work, 'capture');
  let svc: ServiceProcess;
  let ca: string;
  let scriptsItem = '';
  let imagesItem = '';

  const cli = (args: string[]): Promise<CommandResult> => runDeployr(args, { home });
  /** PATH without any folder that holds a pwsh, so "not installed" is true whatever the machine has. */
  const pathWithoutPwsh = (process.env.PATH ?? '').split(delimiter).filter((d) => d && !existsSync(join(d, 'pwsh'))).join(delimiter);
  const client = (tsId: string, state: string, options: { pwsh: boolean }): Promise<CommandResult> =>
    runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', join(work, state), '--fullos', '--ts', `${tsId}:1`], {
      env: { DEPLOYR_HOME: join(work, 'nowhere'), DEPLOYR_VAR_Passcode: PASSCODE, PATH: options.pwsh ? `${bin}${delimiter}${pathWithoutPwsh}` : pathWithoutPwsh },
    });

  async function importTs(ts: Json): Promise<string> {
    const file = join(work, `${ts.id as string}.json`);
    writeFileSync(file, JSON.stringify(ts));
    const r = await cli(['ts', 'import', file]);
    assert.equal(r.code, 0, r.stderr);
    return ts.id as string;
  }

  async function createContent(name: string, folder: string): Promise<string> {
    const created = await cli(['content', 'create', '--name', name, '--purpose', 'Other', '--type', 'Folder']);
    assert.equal(created.code, 0, created.stderr);
    const id = /\(([0-9a-f-]{36})\)/.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    assert.equal((await cli(['content', 'add-version', id, folder])).code, 0);
    assert.equal((await cli(['content', 'activate', id, '1'])).code, 0);
    return id;
  }

  /** What the pwsh stand-in recorded for a step: its arguments, working folder, script and variables file. */
  function captured(stepId: string): { args: string[]; cwd: string; script: string; variables: Record<string, string> } {
    const dir = join(capture, stepId);
    assert.ok(existsSync(dir), `the pwsh stand-in was not called for step ${stepId}`);
    return {
      args: readFileSync(join(dir, 'args'), 'utf8').replace(/\n$/, '').split('\n'),
      cwd: readFileSync(join(dir, 'cwd'), 'utf8').trim(),
      script: readFileSync(join(dir, 'script.ps1'), 'utf8'),
      variables: JSON.parse(readFileSync(join(dir, 'variables.json'), 'utf8')) as Record<string, string>,
    };
  }

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    // With Entra ID configured, a full-OS passcode start gets a token limited to its task
    // sequence: the client must still be able to read the step definitions its steps use.
    // (Passcode logins never contact the authority, so a closed port will do.)
    await configureSecurityAndWait(home, null, [
      '--entra-tenant', '11111111-2222-3333-4444-555555555555', '--entra-client-id', '66666666-7777-8888-9999-000000000000',
      '--entra-role', 'DeployR.Technician', '--entra-authority', 'http://127.0.0.1:9',
    ]);
    const scripts = join(work, 'scripts');
    mkdirSync(scripts);
    writeFileSync(join(scripts, 'Set-LockScreenImage.ps1'), '# the lock screen script from the content item\nWrite-Output ${TSEnv:BrandingLockScreenImageFileName}\n');
    const images = join(work, 'images');
    mkdirSync(images);
    writeFileSync(join(images, 'lockscreen.png'), 'not really a png');
    scriptsItem = await createContent('Step definition scripts', scripts);
    imagesItem = await createContent('Lock screen images', images);

    // The stand-in for pwsh: PowerShell 7 cannot be installed on the machines these tests run on,
    // so this small script takes its place on the client's PATH. It records its arguments, its
    // working folder, the script file it was given (-File) and the variables file, and exits 0.
    mkdirSync(bin);
    mkdirSync(capture);
    writeFileSync(join(bin, 'pwsh'), [
      '#!/bin/sh',
      '# Stands in for pwsh (PowerShell 7 cannot be installed here): records what it was given, exits 0.',
      `out="${capture}/$DEPLOYR_STEP_ID"`,
      'mkdir -p "$out"',
      'printf "%s\\n" "$@" > "$out/args"',
      'pwd > "$out/cwd"',
      'while [ "$#" -gt 0 ] && [ "$1" != "-File" ]; do shift; done',
      'cp "$2" "$out/script.ps1"',
      'cp "$DEPLOYR_VARIABLES_FILE" "$out/variables.json"',
      'exit 0',
      '',
    ].join('\n'));
    chmodSync(join(bin, 'pwsh'), 0o755);

    svc = await startService({ home });
    ca = readFileSync(svc.caFile, 'utf8');
  });

  after(async () => {
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('every real step definition export imports with deployr step import and exports back byte for byte', async () => {
    assert.equal(FILES.length, 6);
    const imported = await cli(['step', 'import', ...FILES.map((f) => join(EXPORTS_DIR, f))]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(imported.stdout.trim().split('\n').length, 6);
    assert.match(imported.stdout, new RegExp(`Imported "${LOCKSCREEN_NAME}" \\(${LOCKSCREEN}\\): v1 Active, 5 options`));
    for (const f of FILES) {
      const id = (JSON.parse(exportText(f)) as { id: string }).id;
      const out = join(work, `export-${f}`);
      const r = await cli(['step', 'export', id, '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(out).equals(readFileSync(join(EXPORTS_DIR, f))), `${f}: the exported file is byte-identical`);
    }
    const initialVariables = exportFileOf('ce8e43c9-27a9-431a-a25b-eae716ac601a');
    const stdout = await cli(['step', 'export', 'ce8e43c9-27a9-431a-a25b-eae716ac601a']);
    assert.equal(stdout.stdout, exportText(initialVariables), 'the export on standard output is byte-identical too (non-ASCII text included)');
    const list = await cli(['step', 'list']);
    assert.equal(list.code, 0);
    assert.equal(list.stdout.trim().split('\n').length, 6);
    assert.match(list.stdout, new RegExp(`${READINESS} {2}Readiness Checker {2}\\(PreReqs\\) {2}\\[v1 In_Development\\]`));
    const show = await cli(['step', 'show', LOCKSCREEN]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /Version 1 \(Active\), 5 options/);
    assert.match(show.stdout, /BrandingLockScreenImageFileName \(Text, required\) = "lockscreen.png"/);
    assert.match(show.stdout, /must match \\\.png\$: Ensure the image you specify is in \.png format/);
    const missing = await cli(['step', 'show', '00000000-0000-0000-0000-0000000000ff']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No step definition with id .*deployr step import.*\[NOT_FOUND\]/);
    const audit = await cli(['audit', '--kind', 'step-definition', '--json']);
    assert.equal(audit.stdout.trim().split('\n').length, 6, 'each import is audited');

    const bad = JSON.parse(exportText(exportFileOf(LOCKSCREEN))) as { versions: Array<{ options: Array<Json> }> };
    bad.versions[0]!.options[2]!.required = 'yes';
    writeFileSync(join(work, 'bad-step.json'), JSON.stringify(bad));
    const refused = await cli(['step', 'import', join(work, 'bad-step.json')]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: \S*bad-step\.json: versions\[0\]\.options\[2\]\.required: expected a boolean, got a string \[INVALID_INPUT\]$/m);
  });

  test('GET /v1/step-definitions needs a token; a token limited to one task sequence reads only those its steps use; an unknown id is 404', async () => {
    const tsId = await importTs(taskSequence('Reader', [customStep('Lock screen', LOCKSCREEN, {}, {})]));
    const other = await importTs(taskSequence('Other', [customStep('Lock screen', LOCKSCREEN, {}, {})]));
    assert.equal((await httpsJson(`${svc.url}/v1/step-definitions/${LOCKSCREEN}`, { ca })).status, 401);
    assert.equal((await httpsJson(`${svc.url}/v1/step-definitions`, { ca })).status, 401);
    const login = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'fullos', taskSequence: `${tsId}:1` }, ca });
    assert.equal(login.status, 200, login.text);
    const token = (login.body as { token: string }).token;
    assert.equal((await httpsJson(`${svc.url}/v1/task-sequences/${other}`, { token, ca })).status, 404, 'the token is limited to its task sequence');
    const one = await httpsJson(`${svc.url}/v1/step-definitions/${LOCKSCREEN.toUpperCase()}`, { token, ca });
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.body, JSON.parse(exportText(exportFileOf(LOCKSCREEN))), 'the definition in DeployR\'s export shape');
    const list = await httpsJson(`${svc.url}/v1/step-definitions`, { token, ca });
    assert.equal(list.status, 200);
    const summaries = (list.body as { stepDefinitions: Array<{ id: string; typeName: string; versions: unknown[] }> }).stepDefinitions;
    assert.deepEqual(summaries.map((s) => s.id), [LOCKSCREEN], 'only the definition its task sequence uses');
    assert.deepEqual(summaries.find((s) => s.id === LOCKSCREEN)?.versions, [{ versionNo: 1, status: 'Active', options: 5 }]);
    const unused = await httpsJson(`${svc.url}/v1/step-definitions/${LOCAL_ADMIN}`, { token, ca });
    assert.equal(unused.status, 404, 'a definition its task sequence does not use answers as a missing one');
    const unknown = await httpsJson(`${svc.url}/v1/step-definitions/00000000-0000-0000-0000-0000000000ff`, { token, ca });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { error: { code: 'NOT_FOUND', message: 'No step definition with id 00000000-0000-0000-0000-0000000000ff; import it with: deployr step import FILE.json' } });
    assert.equal((await httpsJson(`${svc.url}/v1/step-definitions/not-a-guid`, { token, ca })).status, 400);
  });

  test('a custom step runs its script from the content item, or its inline script, with defaults and the step\'s settings as variables', async () => {
    const activated = await cli(['step', 'activate', LOCAL_ADMIN, '1']);
    assert.equal(activated.code, 0, activated.stderr);
    assert.match(activated.stdout, /is now Active/);
    const lock = customStep('Lock screen', LOCKSCREEN, { scriptName: 'Set-LockScreenImage.ps1', BrandingLockScreenImageEnforce: 'true' }, {
      StepDefsCI: `${scriptsItem}:1`, BrandingLockScreenImageCI: `${imagesItem}:1`,
    });
    const admin = customStep('Local admin', LOCAL_ADMIN, { ConfigUserName: 'Ada' }, { content: `${scriptsItem}:1` });
    const tsId = await importTs(taskSequence('Custom steps', [lock, admin]));

    const r = await client(tsId, 'state-custom', { pwsh: true });
    if (process.env.SHOW_OUTPUT) console.log(r.stdout);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(!r.stdout.includes(PASSCODE), 'the passcode is never printed');
    assert.match(r.stdout, /Step definition "Customize - Configure Lockscreen Image from Content Item" version 1: running "Set-LockScreenImage.ps1" from content item/);

    const l = captured(lock.id as string);
    const fileAt = l.args.indexOf('-File');
    assert.deepEqual(l.args.slice(0, fileAt), ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass']);
    const scriptPath = l.args[fileAt + 1] ?? '';
    assert.ok(scriptPath.endsWith(join(scriptsItem, '1', 'Set-LockScreenImage.ps1')), `the script file of the downloaded content item: ${scriptPath}`);
    assert.equal(l.script, readFileSync(join(work, 'scripts', 'Set-LockScreenImage.ps1'), 'utf8'));
    assert.equal(l.cwd, join(scriptPath, '..'), 'it runs in the content item\'s folder');
    assert.equal(l.variables['BrandingLockScreenImageFileName'], 'lockscreen.png', 'a default reaches the script');
    assert.equal(l.variables['BrandingLockScreenImageEnforce'], 'true', 'the step\'s own setting overrides the default (false)');
    assert.equal(l.variables['scriptName'], 'Set-LockScreenImage.ps1');
    assert.equal(l.variables['BrandingLockScreenImageCI'], `${imagesItem}:1`);
    assert.ok(existsSync(join(l.variables['_CONTENT-BrandingLockScreenImageCI'] ?? '', 'lockscreen.png')), '_CONTENT-<option> points at the downloaded images');
    assert.equal(l.variables['TSNAME'], 'Custom steps', 'the run\'s variables are there too');
    assert.equal(l.variables['Passcode'], PASSCODE, 'the variables file carries the run\'s variables as before, secrets included (owner-only file)');

    const a = captured(admin.id as string);
    const inline = (JSON.parse(exportText(exportFileOf(LOCAL_ADMIN))) as { versions: Array<{ options: Array<{ type: string; defaultValue: string }> }> })
      .versions[0]!.options.find((o) => o.type === 'Script')!.defaultValue;
    assert.equal(a.script, inline, 'the inline script of the definition, as it is');
    assert.ok(a.args[a.args.indexOf('-File') + 1]?.endsWith('script.ps1'));
    assert.equal(a.variables['ConfigUserName'], 'Ada', 'the step\'s setting');
    assert.equal(a.variables['ConfigUserPassword'], 'P@ssw0rd', 'the default');

    const show = await cli(['runs', 'show', /^Run ([0-9a-f-]{36}):/m.exec(r.stdout)?.[1] ?? '', '--log']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /\+ Lock screen {2}\(succeeded, exit 0, [\d.]+ s\): step definition "Customize - Configure Lockscreen Image from Content Item" version 1/);
    assert.match(show.stdout, /\+ Local admin {2}\(succeeded, exit 0, [\d.]+ s\): step definition "Customize - Create a Local Admin Account" version 1/);
    assert.match(show.stdout, /Step start: Lock screen \(custom step "Customize - Configure Lockscreen Image from Content Item"\)/);
    assert.ok(!show.stdout.includes(PASSCODE));
  });

  test('a custom step fails clearly: no pwsh, a required option missing, a value failing its rule, an unknown or inactive definition, missing content', async () => {
    const lock = (name: string, settings: Record<string, string>, contentItems: Record<string, string>): Json =>
      customStep(name, LOCKSCREEN, settings, { StepDefsCI: `${scriptsItem}:1`, ...contentItems }, { continueOnError: true });
    const steps = [
      lock('Missing images', {}, {}),
      lock('Not a png', { BrandingLockScreenImageFileName: 'lockscreen.jpg' }, { BrandingLockScreenImageCI: `${imagesItem}:1` }),
      customStep('Unknown', '0badc0de-0000-4000-8000-000000000001', {}, {}, { continueOnError: true }),
      customStep('Draft', READINESS, {}, {}, { continueOnError: true }),
      // The real export's default content item (2Pint's step scripts) is not on this server.
      customStep('Default content missing', LOCAL_ADMIN, {}, {}, { continueOnError: true }),
    ];
    const tsId = await importTs(taskSequence('Custom failures', steps));
    const r = await client(tsId, 'state-failures', { pwsh: true });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const s of steps) assert.equal(existsSync(join(capture, s.id as string)), false, `pwsh was not called for "${s.name as string}"`);
    const show = await cli(['runs', 'show', /^Run ([0-9a-f-]{36}):/m.exec(r.stdout)?.[1] ?? '']);
    if (process.env.SHOW_OUTPUT) console.log(r.stdout, show.stdout);
    assert.match(show.stdout, /! Missing images {2}\(continued.*: custom step "Customize - Configure Lockscreen Image from Content Item": required option "BrandingLockScreenImageCI" \(Content Item with Images\) has no content item/);
    assert.match(show.stdout, /! Not a png {2}\(continued.*: custom step ".*": option "BrandingLockScreenImageFileName" \(Filename of Lock Screen Image\): Ensure the image you specify is in \.png format \(validation rule \\\.png\$\)/);
    assert.match(show.stdout, /! Unknown {2}\(continued.*: step definition 0badc0de-0000-4000-8000-000000000001 is not on the server; import it with deployr step import/);
    assert.match(show.stdout, /! Draft {2}\(continued.*: version 1 of step definition "Readiness Checker" \(7e12116e-.*\) is In_Development, not Active; only an Active version runs/);
    assert.match(show.stdout, /! Default content missing {2}\(continued.*: custom step "Customize - Create a Local Admin Account": content item d819ff51-72a1-4e3c-bdf3-fcb69cf1bbab:1 of option "content" could not be downloaded: /);

    const good = customStep('Lock screen', LOCKSCREEN, {}, { StepDefsCI: `${scriptsItem}:1`, BrandingLockScreenImageCI: `${imagesItem}:1` });
    const noPwsh = await client(await importTs(taskSequence('No pwsh', [good])), 'state-nopwsh', { pwsh: false });
    assert.equal(noPwsh.code, 2, noPwsh.stdout + noPwsh.stderr);
    assert.match(noPwsh.stdout, /Task sequence "No pwsh" failed at step "Lock screen": custom step "Customize - Configure Lockscreen Image from Content Item" needs pwsh: PowerShell 7 \(pwsh\) is not installed on this machine/);
  });
});
