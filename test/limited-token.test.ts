// A full-OS passcode token limited to one task sequence reads only its closure (that task sequence, the ones it runs, their content) and its own runs, over HTTPS against a real service.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEntraStandIn, type EntraStandIn } from './helpers/entra-stand-in.js';
import { configureSecurityAndWait, runDeployr, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = '66666666-7777-8888-9999-000000000000';
const PASSCODE = 'Limited-Token-Passcode-2026!';
const RUN_TS = '00000001-0000-0000-0000-00000000000d';
const COMMAND = '00000002-0000-0000-0000-000000000001';

let home: { home: string; cleanup(): void };
let service: ServiceProcess;
let standIn: EntraStandIn;
let ca: string;
const ids = { outer: '', module: '', other: '', inOuter: '', inModule: '', inOther: '' };
const hashes = { inOuter: '', inOther: '' };
let sourceCounter = 0;

/** Each login from its own loopback address, so the throttle never mixes the cases. */
function nextSource(): string {
  sourceCounter += 1;
  return `127.0.9.${sourceCounter}`;
}

async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runDeployr(args, { home: home.home });
}

async function contentItem(name: string, text: string): Promise<string> {
  const created = await cli(['content', 'create', '--name', name, '--purpose', 'Other', '--type', 'SingleFile']);
  assert.equal(created.code, 0, created.stderr);
  const id = /\(([0-9a-f-]{36})\)/.exec(created.stdout)?.[1] as string;
  const file = join(home.home, `${name}.txt`);
  writeFileSync(file, text);
  assert.equal((await cli(['content', 'add-version', id, file])).code, 0);
  assert.equal((await cli(['content', 'activate', id, '1'])).code, 0);
  return id;
}

async function importTs(json: Record<string, unknown>): Promise<string> {
  const file = join(home.home, `ts-${String(json.id)}.json`);
  writeFileSync(file, JSON.stringify(json));
  const r = await cli(['ts', 'import', file]);
  assert.equal(r.code, 0, r.stderr);
  return String(json.id);
}

async function limitedLogin(taskSequence: unknown, passcode = PASSCODE): Promise<{ status: number; body: unknown; token: string }> {
  const r = await httpsJson(`${service.url}/v1/auth/passcode`, { body: { passcode, context: 'fullos', taskSequence }, ca, localAddress: nextSource() });
  return { status: r.status, body: r.body, token: (r.body as { token?: string } | null)?.token ?? '' };
}

const get = (path: string, token: string) => httpsJson(`${service.url}${path}`, { token, ca });

before(async () => {
  home = tempHome('deployr-limited-');
  mkdirSync(home.home, { recursive: true });
  standIn = await startEntraStandIn({ tenantId: TENANT, clientId: CLIENT });
  ids.inOuter = await contentItem('in-outer', 'used by the outer task sequence\n');
  ids.inModule = await contentItem('in-module', 'used by the module\n');
  ids.inOther = await contentItem('in-other', 'used only by another task sequence: the limited token must not read it\n');
  const withContent = (item: string) => step('Use content', COMMAND, { commandLine: 'true' }, { contentItems: { content: `${item}:1` } });
  ids.module = await importTs(taskSequence('Module', [withContent(ids.inModule)]));
  ids.outer = await importTs(taskSequence('Outer', [withContent(ids.inOuter), step('Run module', RUN_TS, { childTaskSequenceId: `${ids.module}:1` })]));
  ids.other = await importTs(taskSequence('Other', [withContent(ids.inOther)]));
  service = await startService({ home: home.home });
  ca = readFileSync(service.caFile, 'utf8');
  await configureSecurityAndWait(home.home, service, ['--passcode'], `${PASSCODE}\n${PASSCODE}\n`);
  await configureSecurityAndWait(home.home, service, ['--entra-tenant', TENANT, '--entra-client-id', CLIENT, '--entra-role', 'DeployR.Technician', '--entra-authority', standIn.authority]);
  for (const key of ['inOuter', 'inOther'] as const) {
    const shown = await cli(['content', 'show', ids[key], '--json']);
    hashes[key] = (JSON.parse(shown.stdout) as { versions: { files: { sha256: string }[] }[] }).versions[0]!.files[0]!.sha256;
  }
});

after(async () => {
  await service?.stop();
  await standIn?.close();
  home?.cleanup();
});

test('a limited token reads its task sequence, the ones it runs and their content, nothing else', async () => {
  const { status, token } = await limitedLogin(`${ids.outer}:1`);
  assert.equal(status, 200);

  const tsList = await get('/v1/task-sequences', token);
  assert.deepEqual((tsList.body as { taskSequences: { id: string }[] }).taskSequences.map((t) => t.id), [ids.outer]);
  assert.equal((await get(`/v1/task-sequences/${ids.module}`, token)).status, 200, 'the module it runs');
  assert.equal((await get(`/v1/task-sequences/${ids.other}`, token)).status, 404);

  const contentList = await get('/v1/content-items', token);
  assert.equal(contentList.status, 200);
  assert.deepEqual((contentList.body as { contentItems: { id: string }[] }).contentItems.map((c) => c.id).sort(), [ids.inOuter, ids.inModule].sort());
  assert.equal((await get(`/v1/content-items/${ids.inModule}`, token)).status, 200);
  assert.equal((await get(`/v1/content-items/${ids.inOuter}/versions/1`, token)).status, 200);
  assert.equal((await get(`/v1/content/${hashes.inOuter}`, token)).status, 200);

  // Another task sequence's content answers exactly as content that does not exist.
  const item = await get(`/v1/content-items/${ids.inOther}`, token);
  assert.equal(item.status, 404);
  assert.deepEqual(item.body, { error: { code: 'NOT_FOUND', message: `No content item with id ${ids.inOther}.` } });
  assert.equal((await get(`/v1/content-items/${ids.inOther}/versions/1`, token)).status, 404);
  assert.equal((await get(`/v1/content-items/${ids.inOther}/versions/active`, token)).status, 404);
  const blob = await get(`/v1/content/${hashes.inOther}`, token);
  assert.equal(blob.status, 404);
  assert.deepEqual(blob.body, { error: { code: 'NOT_FOUND', message: `No content file with hash ${hashes.inOther}.` } });
});

test('a limited token lists and reads only its own runs; a resumed run becomes the resuming token\'s', async () => {
  const first = await limitedLogin(ids.outer);
  const second = await limitedLogin(ids.outer);
  assert.equal(first.status, 200);
  assert.equal(second.status, 200);
  const register = async (token: string, device: string) => {
    const r = await httpsJson(`${service.url}/v1/runs`, { body: { taskSequenceId: ids.outer, versionNo: 1, deviceId: device, stepsTotal: 2 }, token, ca });
    assert.equal(r.status, 201, r.text);
    return (r.body as { id: string }).id;
  };
  const mine = await register(first.token, 'PC-MINE');
  const theirs = await register(second.token, 'PC-THEIRS');

  const listed = await get('/v1/runs', first.token);
  assert.equal(listed.status, 200);
  assert.deepEqual((listed.body as { runs: { id: string }[] }).runs.map((r) => r.id), [mine], 'not the other device\'s run');
  assert.equal((await get(`/v1/runs/${mine}`, first.token)).status, 200);
  assert.equal((await get(`/v1/runs/${theirs}`, first.token)).status, 404);
  assert.equal((await get(`/v1/runs/${theirs}/log`, first.token)).status, 404);
  const report = await httpsJson(`${service.url}/v1/runs/${theirs}/steps`, { body: { key: ids.outer, stepId: ids.outer, name: 'x', status: 'running' }, token: first.token, ca });
  assert.equal(report.status, 404);

  // After a restart the client signs in again and resumes its saved run: the new token owns it.
  const again = await limitedLogin(ids.outer);
  const resumed = await httpsJson(`${service.url}/v1/runs/${mine}/resume`, { method: 'POST', token: again.token, ca });
  assert.equal(resumed.status, 200, resumed.text);
  assert.deepEqual(((await get('/v1/runs', again.token)).body as { runs: { id: string }[] }).runs.map((r) => r.id), [mine]);
  assert.equal((await get(`/v1/runs/${mine}`, first.token)).status, 404, 'the old token no longer owns it');
});

test('POST /v1/auth/passcode refuses a malformed taskSequence with 400 before any passcode check, and an unknown one like any failure', async () => {
  for (const bad of ['garbage', `${'0'.repeat(36)}`, `${ids.outer}:0`, `${ids.outer}:x`, ` ${ids.outer}`, `${ids.outer}:1:2`]) {
    for (const passcode of [PASSCODE, 'wrong-passcode']) {
      const r = await limitedLogin(bad, passcode);
      assert.equal(r.status, 400, `${bad} with ${passcode === PASSCODE ? 'the right' : 'a wrong'} passcode`);
      assert.equal((r.body as { error: { code: string } }).error.code, 'INVALID_INPUT');
      assert.ok(!JSON.stringify(r.body).includes('garbage'), 'the value is not echoed');
    }
  }
  const unknown = await limitedLogin('0b226848-2b30-4863-ab1c-c8bbd66e1c99');
  const wrong = await limitedLogin(ids.outer, 'wrong-passcode');
  assert.equal(unknown.status, 401);
  assert.deepEqual(unknown.body, wrong.body, 'the same answer as a wrong passcode');

  const audit = await cli(['audit', '--json', '--kind', 'login']);
  const reasons = audit.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { reason: string }).reason);
  assert.ok(reasons.includes('unknown_task_sequence'), reasons.join(','));
  assert.equal(reasons.filter((r) => r === 'wrong_passcode').length, 1, 'a malformed request never reached the passcode check');
});
