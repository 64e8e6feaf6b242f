// End to end: task sequences run by the real client against the real service on loopback, every step type, runs, reboot/resume, bootstrap, round trips.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXPORTS_DIR, runDeployr, setPasscode, startService, tempHome, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';
import { group, step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const PASSCODE = 'Tangerine-Lighthouse-42';
const SET_VARIABLE = '00000001-0000-0000-0000-000000000001';
const RUN_POWERSHELL = '00000001-0000-0000-0000-000000000002';
const REBOOT = '00000001-0000-0000-0000-000000000007';
const INSTALL_APPLICATION = '00000001-0000-0000-0000-00000000000b';
const RUN_TASK_SEQUENCE = '00000001-0000-0000-0000-00000000000d';
const FORMAT_DISK = '00000001-0000-0000-0000-00000000000e';
const RUN_COMMAND_LINE = '00000002-0000-0000-0000-000000000001';
const APPLY_IMAGE = '00000002-0000-0000-0000-000000000002';
const RUN_SERVER_SCRIPT = '00000002-0000-0000-0000-000000000003';

/** A JSON query condition `field equals value`. */
function equals(field: string, value: string): string {
  return JSON.stringify({ operator: 'and', items: [{ field, operator: 'equals', value }] });
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('running task sequences with the real client and service', () => {
  const { home, cleanup } = tempHome('deployr-run-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-run-work-'));
  const image = randomBytes(3 * 1024 * 1024 + 123);
  let svc: ServiceProcess;
  let ca: string;
  const ids: Record<string, string> = {};

  const cli = (args: string[]): Promise<CommandResult> => runDeployr(args, { home });
  const client = (args: string[], stateDir: string, env: Record<string, string> = {}): Promise<CommandResult> =>
    runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', stateDir, ...args], { env: { DEPLOYR_HOME: join(work, 'nowhere'), ...env } });
  const runIdOf = (r: CommandResult): string => {
    const id = /^Run ([0-9a-f-]{36}):/m.exec(r.stdout)?.[1];
    assert.ok(id, `no run id in:\n${r.stdout}\n${r.stderr}`);
    return id;
  };

  async function importTs(ts: Json): Promise<string> {
    const file = join(work, `${ts.id as string}.json`);
    writeFileSync(file, JSON.stringify(ts));
    const r = await cli(['ts', 'import', file]);
    assert.equal(r.code, 0, r.stderr);
    return ts.id as string;
  }

  async function createContent(name: string, purpose: string, type: string, path: string, extra: string[] = []): Promise<string> {
    const created = await cli(['content', 'create', '--name', name, '--purpose', purpose, '--type', type]);
    assert.equal(created.code, 0, created.stderr);
    const id = /\(([0-9a-f-]{36})\)/.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    const added = await cli(['content', 'add-version', id, path, ...extra]);
    assert.equal(added.code, 0, added.stderr);
    assert.equal((await cli(['content', 'activate', id, '1'])).code, 0);
    return id;
  }

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'payload.txt'), 'the application payload\n');
    writeFileSync(join(app, 'install.sh'), 'mkdir -p "$1" && cp payload.txt "$1/payload.txt" && echo installed into "$1"\n');
    writeFileSync(join(work, 'disk.img'), image);
    ids.app = await createContent('Test app', 'Application', 'Folder', app, ['--install-command', 'sh ./install.sh "%InstallDir%"']);
    ids.image = await createContent('Test image', 'OperatingSystem', 'SingleFile', join(work, 'disk.img'));
    const scripts = join(home, 'content', 'Scripts');
    mkdirSync(scripts, { recursive: true });
    writeFileSync(join(scripts, 'lookup.sh'), [
      'echo "looking up $1 for run $DEPLOYR_RUN_ID"',
      'echo "{\\"name\\": \\"ComputerName\\", \\"value\\": \\"PC-$1\\"}"',
      'echo \'[{"name":"OU","value":"OU=Lab"}]\'',
      '',
    ].join('\n'));
    svc = await startService({ home });
    ca = readFileSync(svc.caFile, 'utf8');
  });

  after(async () => {
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('a task sequence using every step type runs in a full OS with --var Passcode; runs show reports every step', async () => {
    const child = taskSequence('Module', [step('Mark child', SET_VARIABLE, { VariableName: 'ChildRan', VariableValue: 'yes-%Color%' })]);
    await importTs(child);
    const installDir = join(work, 'installed');
    const target = join(work, 'target.img');
    const result = join(work, 'result.txt');
    const skippedMarker = join(work, 'skipped-marker');
    const setFromScript = 'node -e "const fs=require(\'fs\');const f=process.env.DEPLOYR_VARIABLES_FILE;const v=JSON.parse(fs.readFileSync(f,\'utf8\'));v.FromScript=v.Color+\'-\'+v.StepSetting;fs.writeFileSync(f,JSON.stringify(v))"';
    const main = taskSequence('Everything', [
      step('Set colour', SET_VARIABLE, { VariableName: 'Color', VariableValue: 'blue' }),
      group('Red only', [step('Never', RUN_COMMAND_LINE, { CommandLine: `touch "${skippedMarker}"` })], { condition: equals('Color', 'red') }),
      group('Blue', [
        step('Script sets a variable', RUN_COMMAND_LINE, { CommandLine: setFromScript, StepSetting: 'from-%TSNAME%' }),
        step('PowerShell', RUN_POWERSHELL, { Script: 'Write-Output hi', Timeout: '1' }, { continueOnError: true }),
        step('Server lookup', RUN_SERVER_SCRIPT, { ScriptName: 'lookup.sh', Parameters: '%Color%' }),
        step('Module', RUN_TASK_SEQUENCE, { childTaskSequenceId: `${child.id as string}:1` }),
        step('Install app', INSTALL_APPLICATION, {}, { contentItems: { Application: `${ids.app}:1` } }),
        step('Apply image', APPLY_IMAGE, { TargetDevice: '%ImageTarget%' }, { contentItems: { Image: `${ids.image}:1` } }),
        step('Format disk', FORMAT_DISK, { DiskIndex: '0', ScriptName: 'Format.ps1' }, { continueOnError: true }),
        step('PowerShell-guarded', RUN_COMMAND_LINE, { CommandLine: 'exit 0' }, { condition: 'Test-Path C:\\Windows', continueOnError: true }),
      ], { condition: equals('Color', 'blue') }),
      step('Disabled', RUN_COMMAND_LINE, { CommandLine: 'exit 9' }, { enabled: false }),
      step('Write result', RUN_COMMAND_LINE, {
        CommandLine: `echo "%ComputerName%|%OU%|%ChildRan%|%FromScript%|%_CONTENT-Application%|%OSVERSION%|%DEPLOYRHOST%|%Passcode%" > "${result}"; echo "pass=%Passcode%"`,
      }),
      step('Finish', SET_VARIABLE, { VariableName: 'FinishAction', VariableValue: 'Restart' }),
    ]);
    const tsId = await importTs(main);

    const state = join(work, 'state-everything');
    const r = await client(['--fullos', '--ts', `${tsId}:1`, '--var', `Passcode=${PASSCODE}`, '--var', `InstallDir=${installDir}`, '--var', `ImageTarget=${target}`], state);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const runId = runIdOf(r);
    if (process.env.SHOW_OUTPUT) console.log(r.stdout);
    assert.ok(!r.stdout.includes(PASSCODE) && !r.stderr.includes(PASSCODE), 'the passcode is never printed');
    assert.match(r.stderr, /^warning: the secret variable Passcode was given with --var, where other users of this machine can see it \(ps\); pass it with DEPLOYR_VAR_Passcode or --vars FILE instead\.$/m);
    assert.doesNotMatch(r.stderr, /variable (InstallDir|ImageTarget)/, 'only secrets are warned about');
    assert.match(r.stdout, /\[ ?\d+\/\d+\] > Apply image/, 'the step list marks the current step');
    assert.match(r.stdout, /%.*MiB \/ 3\.0 MiB, .*\/s, (done|.* left)/, 'a progress bar with bytes, rate and time left');
    assert.match(r.stdout, /FinishAction Restart: not done, because the client was started without --allow-power-actions/);

    assert.equal(sha256(readFileSync(target)), sha256(image), 'the image was written byte for byte');
    assert.equal(readFileSync(join(installDir, 'payload.txt'), 'utf8'), 'the application payload\n');
    assert.equal(existsSync(skippedMarker), false, 'the group whose condition is false did not run');
    const [computer, ou, childRan, fromScript, contentDir, osVersion, host, pass] = readFileSync(result, 'utf8').trim().split('|');
    assert.equal(computer, 'PC-blue');
    assert.equal(ou, 'OU=Lab');
    assert.equal(childRan, 'yes-blue');
    assert.equal(fromScript, 'blue-from-Everything');
    assert.ok(contentDir && existsSync(join(contentDir, 'install.sh')), '_CONTENT-Application points at the downloaded content');
    assert.notEqual(osVersion, 'WinPE');
    assert.equal(host, svc.url);
    assert.equal(pass, PASSCODE, 'a step may use the passcode variable');
    assert.equal(existsSync(join(state, 'state.json')), false, 'a finished run leaves no saved state');

    const show = await cli(['runs', 'show', runId, '--log']);
    if (process.env.SHOW_OUTPUT) console.log(show.stdout);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`Run ${runId}: Everything \\(${tsId}:1\\) succeeded`));
    assert.match(show.stdout, /signed in with passcode, fullos$/m, 'who signed in and how, said once');
    assert.match(show.stdout, /! PowerShell {2}\(continued.*pwsh/);
    assert.match(show.stdout, /- Red only {2}\(skipped.*condition not met/);
    assert.match(show.stdout, /! Format disk {2}\(continued.*needs TargetDevice/);
    assert.match(show.stdout, /! PowerShell-guarded {2}\(continued.*PowerShell 7 \(pwsh\) is not installed/);
    assert.match(show.stdout, /- Disabled {2}\(skipped.*disabled/);
    assert.match(show.stdout, /\+ Mark child {2}\(succeeded/, 'the nested task sequence\'s steps are reported');
    assert.match(show.stdout, /\| looking up blue for run/, 'the server script\'s output is in the step\'s output tail');
    assert.match(show.stdout, /Step start: Apply image/, 'the log was uploaded');
    assert.ok(!show.stdout.includes(PASSCODE), 'the passcode is not in the uploaded log or output tails');
    assert.match(show.stdout, /\| pass=\*{8}/, 'secrets in output are masked');

    const login = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'boot' }, ca });
    const token = (login.body as { token: string }).token;
    const list = await httpsJson(`${svc.url}/v1/runs`, { token, ca });
    assert.equal(list.status, 200);
    assert.ok((list.body as { runs: { id: string }[] }).runs.some((x) => x.id === runId));
    const detail = await httpsJson(`${svc.url}/v1/runs/${runId}`, { token, ca });
    assert.equal((detail.body as { status: string }).status, 'succeeded');
    assert.equal((await httpsJson(`${svc.url}/v1/runs/${runId}`, { ca })).status, 401, 'runs need a token');
    const audit = await cli(['audit', '--kind', 'run', '--json']);
    assert.match(audit.stdout, /"method":"server-script"/);
    assert.ok(!audit.stdout.includes('blue'), 'server-script arguments are not audited');
  });

  test('a gzip-compressed image is decompressed while it is written; a damaged one fails its step with a clear reason', async () => {
    const compressed = gzipSync(image);
    const damaged = Buffer.from(compressed);
    damaged[Math.floor(damaged.length / 2)] = (damaged[Math.floor(damaged.length / 2)] as number) ^ 0xff;
    mkdirSync(join(work, 'gz-good'));
    mkdirSync(join(work, 'gz-bad'));
    writeFileSync(join(work, 'gz-good', 'disk.img.gz'), compressed);
    writeFileSync(join(work, 'gz-bad', 'disk.img.gz'), damaged);
    // The damaged file is what the content library holds (its SHA-256 is of these bytes), so only gzip's own check can find it.
    const good = await createContent('Compressed image', 'OperatingSystem', 'SingleFile', join(work, 'gz-good', 'disk.img.gz'));
    const bad = await createContent('Damaged compressed image', 'OperatingSystem', 'SingleFile', join(work, 'gz-bad', 'disk.img.gz'));
    const target = join(work, 'gz-target.img');
    const badTarget = join(work, 'gz-bad-target.img');
    const tsId = await importTs(taskSequence('Compressed images', [
      step('Apply compressed', APPLY_IMAGE, { TargetDevice: target }, { contentItems: { Image: `${good}:1` } }),
      step('Apply damaged', APPLY_IMAGE, { TargetDevice: badTarget }, { contentItems: { Image: `${bad}:1` } }),
    ]));
    const r = await client(['--fullos', '--ts', `${tsId}:1`, '--var', `Passcode=${PASSCODE}`], join(work, 'state-gz'));
    assert.notEqual(r.code, 0, 'the run fails at the damaged image');
    assert.equal(sha256(readFileSync(target)), sha256(image), 'the compressed image was written decompressed, byte for byte');
    assert.match(r.stdout, /decompressed from \d+\) to .*gz-target\.img; the image's SHA-256 [0-9a-f]{64} and gzip's CRC-32 verified/);
    const show = await cli(['runs', 'show', runIdOf(r)]);
    assert.match(show.stdout, /Apply damaged.*the compressed image is damaged \(.+\) after \d+ bytes were written; the target is not usable/);
  });

  test('a failing step stops the run, and runs show names it with its exit code', async () => {
    const tsId = await importTs(taskSequence('Breaks', [
      step('Fine', RUN_COMMAND_LINE, { CommandLine: 'echo fine' }),
      step('Broken', RUN_COMMAND_LINE, { CommandLine: 'echo about to fail; exit 7' }),
      step('Unreached', RUN_COMMAND_LINE, { CommandLine: 'echo unreached' }),
    ]));
    const r = await client(['--fullos', '--ts', tsId], join(work, 'state-breaks'), { DEPLOYR_VAR_Passcode: PASSCODE });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /Task sequence "Breaks" failed at step "Broken": the command line failed \(exit code 7\)/);
    const show = await cli(['runs', 'show', runIdOf(r)]);
    assert.match(show.stdout, /Breaks .* failed/);
    assert.match(show.stdout, /reason: at step "Broken": the command line failed \(exit code 7\)/);
    assert.match(show.stdout, /x Broken {2}\(failed, exit 7/);
    assert.match(show.stdout, /\| about to fail/);
    assert.doesNotMatch(show.stdout, /Unreached/);
    const watch = await cli(['runs', 'watch', runIdOf(r)]);
    assert.equal(watch.code, 2, 'watch ends with the run and says it failed');
    assert.match(watch.stdout, /Run failed/);
  });

  test('--vars FILE gives variables, the Passcode included, as JSON or NAME=VALUE lines; a malformed file or --var gets one line that never quotes it', async () => {
    const marker = join(work, 'vars-marker');
    const tsId = await importTs(taskSequence('From a file', [step('Stage', RUN_COMMAND_LINE, { CommandLine: `echo "%Stage%" >> "${marker}"` })]));
    const json = join(work, 'vars.json');
    writeFileSync(json, JSON.stringify({ Passcode: PASSCODE, Stage: 'from json' }), { mode: 0o600 });
    const lines = join(work, 'vars.env');
    writeFileSync(lines, `# comment\nPasscode=${PASSCODE}\nStage=from lines\n`, { mode: 0o600 });
    for (const file of [json, lines]) {
      const r = await client(['--fullos', '--ts', tsId, '--vars', file, '--new-run'], join(work, 'state-vars'));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stderr, /warning/, 'a file is the right way: no warning');
    }
    assert.equal(readFileSync(marker, 'utf8'), 'from json\nfrom lines\n');
    const broken = join(work, 'vars-broken.json');
    writeFileSync(broken, `{"Stage": "x", "Passcode": ${PASSCODE}}`, { mode: 0o600 });
    const r = await client(['--fullos', '--ts', tsId, '--vars', broken], join(work, 'state-vars'));
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `error: --vars ${broken}: it starts with "{" but is not valid JSON; use a JSON object of strings or NAME=VALUE lines. [INPUT]\n`);
    for (let i = 0; i + 6 <= PASSCODE.length; i++) assert.ok(!(r.stdout + r.stderr).includes(PASSCODE.slice(i, i + 6)), 'no piece of the passcode is shown');
    // The same for a --var whose name was left out: one line, the value not quoted back, no stack trace.
    const nameless = await client(['--fullos', '--ts', tsId, '--var', `=${PASSCODE}`], join(work, 'state-vars'));
    assert.equal(nameless.code, 1);
    assert.equal(nameless.stderr, 'error: --var takes NAME=VALUE, and one of them has no NAME= before its value. [INPUT]\n');
  });

  test('a Reboot step exits 194 with the state saved; the next client start resumes after it', async () => {
    const marker = join(work, 'reboot-marker');
    const tsId = await importTs(taskSequence('Restarts', [
      step('Before', RUN_COMMAND_LINE, { CommandLine: `echo one-%Stage% >> "${marker}"` }),
      step('Set stage', SET_VARIABLE, { VariableName: 'Stage', VariableValue: 'kept' }),
      step('Restart', REBOOT, { RebootRequested: 'HD', RebootMessage: 'See you soon' }),
      step('After', RUN_COMMAND_LINE, { CommandLine: `echo two-%Stage%-%Secretish% >> "${marker}"` }),
    ]));
    const state = join(work, 'state-reboot');
    const first = await client(['--fullos', '--ts', `${tsId}:1`, '--var', `Passcode=${PASSCODE}`, '--var', 'Secretish=hush-hush-value', '--secret', 'Secretish'], state);
    assert.equal(first.code, 194, first.stdout + first.stderr);
    assert.match(first.stderr, /warning: the secret variable Secretish was given with --var/, 'a --secret name is a secret too');
    assert.ok(!first.stderr.includes('hush-hush-value'));
    assert.match(first.stdout, /Restart requested: See you soon/);
    const runId = runIdOf(first);
    const saved = readFileSync(join(state, 'state.json'), 'utf8');
    assert.ok(!saved.includes(PASSCODE) && !saved.includes('hush-hush-value'), 'secrets are not saved');
    assert.match(saved, /"Secretish"/, 'only the secret names are');
    assert.match((await cli(['runs', 'show', runId])).stdout, /Restarts .* rebooting/);

    const second = await client(['--var', `Passcode=${PASSCODE}`, '--var', 'Secretish=hush-hush-value', '--secret', 'Secretish'], state);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.match(second.stdout, new RegExp(`Resuming run ${runId}`));
    assert.equal(readFileSync(marker, 'utf8'), 'one-%Stage%\ntwo-kept-hush-hush-value\n', 'finished steps did not run again; variables survived the restart');
    const show = await cli(['runs', 'show', runId, '--log']);
    assert.match(show.stdout, /Restarts .* succeeded/);
    assert.equal((show.stdout.match(/\+ Before/g) ?? []).length, 1);
    assert.match(show.stdout, /\+ After/);
    assert.match(show.stdout, /Existing task sequence found/);
    assert.ok(!show.stdout.includes('hush-hush-value'));
  });

  test('GET /v1/Service/Bootstrap needs no token and gives a script that fetches the client from this server, checks it and starts it', async () => {
    const marker = join(work, 'bootstrap-marker');
    const tsId = await importTs(taskSequence('Bootstrapped', [step('Hello', RUN_COMMAND_LINE, { CommandLine: `echo hello > "${marker}"` })]));
    const sh = await httpsJson(`${svc.url}/v1/Service/Bootstrap?tsid=${tsId}:1`, { ca });
    assert.equal(sh.status, 200);
    assert.match(sh.text, /^#!\/bin\/sh/);
    assert.ok(sh.text.includes(svc.fingerprint), 'the script pins the server certificate for the client');
    assert.match(sh.text, /--pinnedpubkey 'sha256\/\/[A-Za-z0-9+/]{43}='/, 'and its public key for the download');
    assert.ok(sh.text.includes(`--ts '${tsId}:1'`) && sh.text.includes('--fullos'));
    assert.ok(!sh.text.includes(PASSCODE));
    const ps = await httpsJson(`${svc.url}/v1/Service/Bootstrap?shell=powershell`, { ca });
    assert.equal(ps.status, 200);
    assert.match(ps.text, /'--fingerprint', '[0-9A-F:]+'/);
    assert.equal((await httpsJson(`${svc.url}/v1/Service/Bootstrap?tsid=not-a-guid`, { ca })).status, 400);

    // The client it fetches: public, one file, its SHA-256 the ETag and the one written into both scripts.
    const bundle = await httpsJson(`${svc.url}/v1/Service/Client`, { ca });
    assert.equal(bundle.status, 200);
    const bundleSha = sha256(Buffer.from(bundle.text, 'utf8'));
    assert.equal(bundle.headers.etag, `"${bundleSha}"`);
    assert.ok(sh.text.includes(`client_sha256='${bundleSha}'`) && ps.text.includes(`$deployrClientSha256 = '${bundleSha}'`));
    assert.equal((await httpsJson(`${svc.url}/v1/Service/Client`, { ca, headers: { 'if-none-match': `"${bundleSha}"` } })).status, 304);

    // Run the script on a "machine" with Node.js and curl but no deployr: a fresh HOME, a PATH without the project.
    const home = join(work, 'bootstrap-home');
    const cached = join(home, '.deployr-client', 'bootstrap', `deployr-client-${bundleSha}.mjs`);
    const runScript = (text: string, name: string): Promise<CommandResult> => {
      const script = join(work, name);
      writeFileSync(script, text);
      return new Promise<CommandResult>((resolve, reject) => {
        const child = spawn('/bin/sh', [script, '--state-dir', join(work, 'state-bootstrap'), '--new-run'], {
          env: { HOME: home, PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, DEPLOYR_VAR_Passcode: PASSCODE }, stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    };
    const r = await runScript(sh.text, 'bootstrap.sh');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(readFileSync(marker, 'utf8'), 'hello\n');
    assert.equal(sha256(readFileSync(cached)), bundleSha, 'the client is kept under its hash');

    // A damaged copy is not run: it is downloaded again.
    writeFileSync(cached, 'console.log("tampered")');
    rmSync(marker);
    const again = await runScript(sh.text, 'bootstrap.sh');
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.ok(!again.stdout.includes('tampered'));
    assert.equal(readFileSync(marker, 'utf8'), 'hello\n');
    assert.equal(sha256(readFileSync(cached)), bundleSha);

    // A download that does not match the hash the script carries is deleted and never started.
    rmSync(join(home, '.deployr-client'), { recursive: true });
    rmSync(marker);
    const wrongSha = await runScript(sh.text.replace(`client_sha256='${bundleSha}'`, `client_sha256='${'0'.repeat(64)}'`), 'wrong-sha.sh');
    assert.equal(wrongSha.code, 1);
    assert.match(wrongSha.stderr, /^deployr bootstrap: the client downloaded from https:\/\/127\.0\.0\.1:\d+ does not match its SHA-256 \(0{64}\); it was deleted, not started\.$/m);
    assert.equal(existsSync(marker), false, 'nothing ran');
    assert.deepEqual(readdirSync(join(home, '.deployr-client', 'bootstrap')), [], 'nothing was kept');

    // A server with another key (the pin does not match) gets no download at all.
    const wrongPin = await runScript(sh.text.replace(/sha256\/\/[A-Za-z0-9+/]{43}=/, `sha256//${Buffer.alloc(32, 7).toString('base64')}`), 'wrong-pin.sh');
    assert.equal(wrongPin.code, 1);
    assert.match(wrongPin.stderr, /deployr bootstrap: cannot download the client from https:\/\/127\.0\.0\.1:\d+\./);
    assert.equal(existsSync(marker), false);
  });

  test('only Active versions run; ts activate makes one Active; POST /v1/runs refuses an inactive version', async () => {
    const ts = taskSequence('Draft', [step('Noop', RUN_COMMAND_LINE, { CommandLine: 'exit 0' })], { status: 'In_Development' });
    const tsId = await importTs(ts);
    const login = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'boot' }, ca });
    const token = (login.body as { token: string }).token;
    const refused = await httpsJson(`${svc.url}/v1/runs`, { body: { taskSequenceId: tsId, versionNo: 1 }, token, ca });
    assert.equal(refused.status, 409);
    const r1 = await client(['--fullos', '--ts', `${tsId}:1`, '--var', `Passcode=${PASSCODE}`], join(work, 'state-draft'));
    assert.notEqual(r1.code, 0);
    assert.match(r1.stderr, /no active version 1/);
    const act = await cli(['ts', 'activate', tsId, '1']);
    assert.equal(act.code, 0, act.stderr);
    assert.match(act.stdout, /is now Active/);
    const r2 = await client(['--fullos', '--ts', `${tsId}:1`, '--var', `Passcode=${PASSCODE}`], join(work, 'state-draft'));
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  });

  test('every real DeployR export imports and round-trips through ts import + ts export; bad fields are named by path', async () => {
    const files = readdirSync(EXPORTS_DIR).filter((f) => f.startsWith('task-sequence-'));
    assert.ok(files.length >= 4);
    const imported = await cli(['ts', 'import', ...files.map((f) => join(EXPORTS_DIR, f))]);
    assert.equal(imported.code, 0, imported.stderr);
    for (const f of files) {
      const original = JSON.parse(readFileSync(join(EXPORTS_DIR, f), 'utf8').replace(/^\uFEFF/, '')) as Json;
      const out = join(work, `export-${f}`);
      const r = await cli(['ts', 'export', original.id as string, '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), original, `${f} keeps its meaning`);
    }
    const bad = taskSequence('Bad', [group('G', [step('S', RUN_COMMAND_LINE, {}, { enabled: 'yes' })])]);
    const file = join(work, 'bad.json');
    writeFileSync(file, JSON.stringify(bad));
    const r = await cli(['ts', 'import', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /versions\[0\]\.steps\[0\]\.groupMembers\[0\]\.enabled: expected a boolean/);
  });
});
