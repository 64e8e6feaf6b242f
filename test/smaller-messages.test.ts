// Smaller promises of the docs, end to end: the throttle's exact budget, the Authorization scheme, the audit filters, Entra ID id forms, --vars lines, --ca with --fingerprint, a missing working directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDeployr, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

const PASSCODE = 'Smaller-Messages-Passcode-2026!';
const COMMAND = '00000002-0000-0000-0000-000000000001';

let home: { home: string; cleanup(): void };
let service: ServiceProcess;
let ca: string;
let tsId = '';

const cli = (args: string[], input?: string) => runDeployr(args, { home: home.home, ...(input === undefined ? {} : { input }) });

before(async () => {
  home = tempHome('deployr-messages-');
  assert.equal((await cli(['configure', 'security', '--passcode'], `${PASSCODE}\n${PASSCODE}\n`)).code, 0);
  assert.equal((await cli(['configure', 'security', '--bypass', 'on'])).code, 0);
  const doc = taskSequence('Missing folder', [step('In a folder that is not there', COMMAND, { CommandLine: 'echo hello', WorkingDirectory: join(home.home, 'no-such-folder') })]);
  tsId = String(doc.id);
  writeFileSync(join(home.home, 'ts.json'), JSON.stringify(doc));
  assert.equal((await cli(['ts', 'import', join(home.home, 'ts.json')])).code, 0);
  service = await startService({ home: home.home });
  ca = readFileSync(service.caFile, 'utf8');
});

after(async () => {
  await service?.stop();
  home?.cleanup();
});

const guess = (i: number, address: string, deviceId?: string) => httpsJson(`${service.url}/v1/auth/passcode`, {
  body: { passcode: `wrong-guess-${i}`, context: 'boot', ...(deviceId ? { deviceId } : {}) }, ca, localAddress: address,
});

test('the throttle lets through exactly the immediate guesses docs/security.md states: 3 per source, 10 per address', async () => {
  // Sent all at once, so no delay can run out in between (the delays are real time here; the
  // one-after-the-other sequence is checked with an injected clock in throttle.test.ts).
  const count = (answers: { status: number }[], status: number): number => answers.filter((a) => a.status === status).length;
  const one = await Promise.all(Array.from({ length: 8 }, (_, i) => guess(i, '127.0.8.1')));
  assert.equal(count(one, 401), 3, 'three guesses checked');
  assert.equal(count(one, 429), 5);
  const invented = await Promise.all(Array.from({ length: 16 }, (_, i) => guess(100 + i, '127.0.8.2', `invented-${i}`)));
  assert.equal(count(invented, 401), 10, 'ten guesses checked, whatever device ids are invented');
  assert.equal(count(invented, 429), 6);
});

test('the Authorization scheme is case-insensitive', async () => {
  const login = await httpsJson(`${service.url}/v1/auth/anonymous`, { body: { context: 'boot' }, ca });
  const token = (login.body as { token: string }).token;
  for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
    const r = await httpsJson(`${service.url}/v1/task-sequences`, { headers: { authorization: `${scheme} ${token}` }, ca });
    assert.equal(r.status, 200, scheme);
  }
  assert.equal((await httpsJson(`${service.url}/v1/task-sequences`, { headers: { authorization: `Basic ${token}` }, ca })).status, 401);
});

test('audit refuses a bad --limit and unknown --method, --result and --kind values, with the allowed values', async () => {
  for (const limit of ['abc', '0', '-1', '1.5']) {
    const r = await cli(['audit', `--limit=${limit}`]);
    assert.equal(r.code, 1, limit);
    assert.equal(r.stderr, 'error: --limit takes a whole number of entries from 1 to 999999999. [INVALID_INPUT]\n', limit);
  }
  const kind = await cli(['audit', '--kind', 'logins']);
  assert.equal(kind.code, 1);
  assert.equal(kind.stderr, 'error: Unknown --kind value; use one of: login, settings, alert, throttle, content, task-sequence, step-definition, run, keys. [INVALID_INPUT]\n');
  const method = await cli(['audit', '--method', 'pascode']);
  assert.equal(method.code, 1);
  assert.match(method.stderr, /^error: Unknown --method value; use one of: .*\bpasscode\b.*\. \[INVALID_INPUT\]\n$/);
  const result = await cli(['audit', '--result', 'fail']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^error: Unknown --result value; use one of: .*\bfailure\b.*\bsuccess\b.*\. \[INVALID_INPUT\]\n$/);
  const good = await cli(['audit', '--method', 'security', '--result', 'changed', '--kind', 'settings', '--limit', '2', '--json']);
  assert.equal(good.code, 0, good.stderr);
  assert.equal(good.stdout.trim().split('\n').length, 2);
});

test('Entra ID tenant and client ids are checked for their form; a tenant may be a verified domain name', async () => {
  const other = tempHome('deployr-entra-form-');
  try {
    const entra = (tenant: string, client: string) => runDeployr(['configure', 'security', '--entra-tenant', tenant, '--entra-client-id', client, '--entra-role', 'DeployR.Technician'], { home: other.home });
    const badTenant = await entra('not_a_tenant', '66666666-7777-8888-9999-000000000000');
    assert.equal(badTenant.code, 1);
    assert.match(badTenant.stderr, /^error: The Entra ID tenant must be the tenant id \(a GUID/);
    const badClient = await entra('11111111-2222-3333-4444-555555555555', 'deployr-app');
    assert.equal(badClient.code, 1);
    assert.match(badClient.stderr, /^error: The Entra ID client id must be the application \(client\) id/);
    assert.equal((await entra('contoso.onmicrosoft.com', '66666666-7777-8888-9999-000000000000')).code, 0);
    assert.equal((await entra('11111111-2222-3333-4444-555555555555', '66666666-7777-8888-9999-000000000000')).code, 0);
  } finally {
    other.cleanup();
  }
});

test('client: a --vars line that is not NAME=VALUE names the file and line; --ca with --fingerprint is refused', async () => {
  const vars = join(home.home, 'vars.env');
  writeFileSync(vars, `# variables\nTSID=${tsId}\n${PASSCODE}\n`);
  const r = await runDeployr(['client', '--server', service.url, '--ca', service.caFile, '--vars', vars]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `error: --vars ${vars}: line 3 is not NAME=VALUE (nor empty, nor a # comment). [INPUT]\n`);
  assert.ok(!r.stdout.includes(PASSCODE));
  const both = await runDeployr(['client', '--server', service.url, '--ca', service.caFile, '--fingerprint', service.fingerprint, '--ts', tsId]);
  assert.equal(both.code, 1);
  assert.equal(both.stderr, 'error: Give --ca FILE or --fingerprint SHA256, not both: each alone says which server certificate to trust. [INPUT]\n');
});

test('a Run command line step whose working directory does not exist says so', async () => {
  const r = await runDeployr(['client', '--server', service.url, '--ca', service.caFile, '--ts', tsId]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  const all = r.stdout + r.stderr;
  assert.match(all, /the working directory \(the WorkingDirectory setting\) does not exist or is not a folder/);
  assert.ok(!all.includes('ended by a signal'), all);
});
