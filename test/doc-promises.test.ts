// What docs/security.md promises about answers and messages, against the real service and CLI: 415 for a body that is not JSON, errors that never echo a submitted value, and a mistyped home that is not a new server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDeployr, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

const SECRET = 'Pass-Word-Not-To-Print-7731';
const COMMAND = '00000002-0000-0000-0000-000000000001';

let home: { home: string; cleanup(): void };
let service: ServiceProcess;
let ca: string;
let token = '';
let runId = '';

const cli = (args: string[]) => runDeployr(args, { home: home.home });

before(async () => {
  home = tempHome('deployr-promises-');
  assert.equal((await cli(['configure', 'security', '--bypass', 'on'])).code, 0);
  const doc = taskSequence('Promises', [step('Say', COMMAND, { commandLine: 'true' })]);
  writeFileSync(join(home.home, 'ts.json'), JSON.stringify(doc));
  assert.equal((await cli(['ts', 'import', join(home.home, 'ts.json')])).code, 0);
  mkdirSync(join(home.home, 'content', 'Scripts'), { recursive: true });
  service = await startService({ home: home.home });
  ca = readFileSync(service.caFile, 'utf8');
  const login = await httpsJson(`${service.url}/v1/auth/anonymous`, { body: { context: 'boot' }, ca });
  token = (login.body as { token: string }).token;
  const run = await httpsJson(`${service.url}/v1/runs`, { body: { taskSequenceId: doc.id, versionNo: 1 }, token, ca });
  assert.equal(run.status, 201, run.text);
  runId = (run.body as { id: string }).id;
});

after(async () => {
  await service?.stop();
  home?.cleanup();
});

test('a JSON route given another content type answers 415 UNSUPPORTED_MEDIA_TYPE with the usual error body', async () => {
  const routes: [string, boolean][] = [['/v1/auth/passcode', false], ['/v1/auth/anonymous', false], ['/v1/runs', true], [`/v1/runs/${runId}/log`, true]];
  for (const [path, withToken] of routes) {
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'application/xml']) {
      const r = await httpsJson(`${service.url}${path}`, { body: JSON.stringify({ passcode: SECRET, context: 'boot' }), headers: { 'content-type': type }, ca, ...(withToken ? { token } : {}) });
      assert.equal(r.status, 415, `${path} as ${type}: ${r.text}`);
      assert.deepEqual(r.body, { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'The request body must be JSON (content-type: application/json).' } });
    }
  }
  const json = await httpsJson(`${service.url}/v1/auth/anonymous`, { body: { context: 'boot' }, ca });
  assert.equal(json.status, 200, 'JSON still works');
});

test('errors describe, never quote, what was submitted', async (t) => {
  // A passcode file given to ts import by mistake: not a byte of it is printed. (The files live
  // outside the home: a file the test writes into the home would be tightened, with a warning.)
  const files = mkdtempSync(join(tmpdir(), 'deployr-promises-files-'));
  t.after(() => rmSync(files, { recursive: true, force: true }));
  const passcodeFile = join(files, 'passcode.txt');
  writeFileSync(passcodeFile, `${SECRET}\n`);
  const imported = await cli(['ts', 'import', passcodeFile]);
  assert.equal(imported.code, 1);
  assert.equal(imported.stderr, `error: ${passcodeFile} is not valid JSON (it does not start with { or [). [INVALID_INPUT]\n`);
  const broken = join(files, 'broken.json');
  writeFileSync(broken, `{"id": "x",\n "name": ${SECRET}}`);
  const at = await cli(['ts', 'import', broken]);
  assert.equal(at.code, 1);
  assert.match(at.stderr, /^error: .*broken\.json is not valid JSON \(at line 2, column \d+\)\. \[INVALID_INPUT\]\n$/);
  assert.ok(!at.stderr.includes('Pass-Word'), at.stderr);

  // An invalid reference over HTTP (the bootstrap script's tsid) is described, not quoted.
  const bootstrap = await httpsJson(`${service.url}/v1/Service/Bootstrap?tsid=${SECRET}`, { ca });
  assert.equal(bootstrap.status, 400);
  assert.ok(!bootstrap.text.includes(SECRET), bootstrap.text);
  assert.match(bootstrap.text, /invalid reference \(27 characters\): it is not a GUID/);

  // The client's --ts and --server, which end up in the run log the server keeps.
  for (const args of [['--server', service.url, '--ca', service.caFile, '--ts', SECRET], ['--server', SECRET]]) {
    const client = await runDeployr(['client', ...args], { home: home.home });
    assert.notEqual(client.code, 0);
    assert.ok(!client.stdout.includes(SECRET) && !client.stderr.includes(SECRET), client.stderr);
  }

  // An unknown server-side script name.
  const script = await httpsJson(`${service.url}/v1/runs/${runId}/server-script`, { body: { script: `${SECRET}.sh`, arguments: [] }, token, ca });
  assert.equal(script.status, 404);
  assert.ok(!script.text.includes(SECRET), script.text);
  assert.equal((script.body as { error: { code: string } }).error.code, 'NOT_FOUND');

  // Entra ids of the wrong form, and an unknown content purpose, typed on the command line.
  const entra = await cli(['configure', 'security', '--entra-tenant', SECRET, '--entra-client-id', '66666666-7777-8888-9999-000000000000', '--entra-role', 'DeployR.Technician']);
  assert.equal(entra.code, 1);
  assert.ok(!entra.stderr.includes(SECRET), entra.stderr);
  const purpose = await cli(['content', 'create', '--name', 'x', '--purpose', SECRET, '--type', 'Folder']);
  assert.equal(purpose.code, 1);
  assert.ok(!purpose.stderr.includes(SECRET), purpose.stderr);
  assert.match(purpose.stderr, /use one of Application, /);
});

test('every command but serve and configure refuses a home that does not exist, naming it, and makes nothing', async () => {
  const typo = join(home.home, 'typo');
  const commands = [['audit', 'verify'], ['audit'], ['audit', 'export'], ['ts', 'list'], ['ts', 'import', join(home.home, 'ts.json')], ['step', 'list'], ['runs', 'list'], ['content', 'list'], ['throttle', 'list']];
  for (const args of commands) {
    const r = await runDeployr([...args, '--home', typo]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.equal(r.stderr, `error: There is no deployr home at ${typo}: check --home or DEPLOYR_HOME (only deployr serve and deployr configure make a new one). [INVALID_INPUT]\n`, args.join(' '));
    assert.equal(r.stdout, '');
    assert.equal(existsSync(typo), false, `${args.join(' ')} made no home`);
  }
  const viaEnv = await runDeployr(['audit', 'verify'], { env: { DEPLOYR_HOME: typo } });
  assert.equal(viaEnv.code, 1);
  assert.match(viaEnv.stderr, /no deployr home at/);
  // configure still makes a new home.
  const configured = await runDeployr(['configure', 'show', '--home', typo]);
  assert.equal(configured.code, 0, configured.stderr);
  assert.equal((await runDeployr(['audit', 'verify', '--home', typo])).code, 0);
});
