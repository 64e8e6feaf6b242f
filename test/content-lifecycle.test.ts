// Retiring content with the real CLI and service: deactivate, delete a version (numbers never reused), and garbage collection of library files.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDeployr, startService, tempHome, waitFor, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

const INSTALL_APPLICATION = '00000001-0000-0000-0000-00000000000b';
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('retiring content versions and collecting unused files', () => {
  const { home, cleanup } = tempHome('deployr-lifecycle-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-lifecycle-src-'));
  const files = { a: randomBytes(200_000), b: randomBytes(300_000), c: randomBytes(100_000) };
  const blobPath = (data: Buffer): string => join(home, 'content', 'blobs', sha256(data).slice(0, 2), sha256(data));
  let service: ServiceProcess;
  let ca: string;
  let token: string;
  let item = '';
  const cli = (args: string[]) => runDeployr(args, { home });
  const versions = async (): Promise<{ versionNo: number; status: string }[]> =>
    (JSON.parse((await cli(['content', 'show', item, '--json'])).stdout) as { versions: { versionNo: number; status: string }[] }).versions.map((v) => ({ versionNo: v.versionNo, status: v.status }));
  const blobStatus = async (data: Buffer): Promise<number> => (await httpsJson(`${service.url}/v1/content/${sha256(data)}`, { method: 'HEAD', token, ca })).status;

  before(async () => {
    for (const [name, data] of Object.entries(files)) writeFileSync(join(work, `${name}.bin`), data);
    assert.equal((await cli(['configure', 'security', '--bypass', 'on'])).code, 0);
    const created = await cli(['content', 'create', '--name', 'Tools', '--purpose', 'Application', '--type', 'SingleFile']);
    item = /\(([0-9a-f-]{36})\)/.exec(created.stdout)?.[1] ?? '';
    assert.ok(item, created.stdout);
    for (const [n, name] of [[1, 'a'], [2, 'b']] as const) {
      assert.equal((await cli(['content', 'add-version', item, join(work, `${name}.bin`), '--install-command', 'true'])).code, 0);
      assert.equal((await cli(['content', 'activate', item, String(n)])).code, 0);
    }
    const ts = taskSequence('Uses tools v1', [step('Install tools', INSTALL_APPLICATION, {}, { contentItems: { Application: `${item.toUpperCase()}:1` } })]);
    writeFileSync(join(work, 'ts.json'), JSON.stringify(ts));
    assert.equal((await cli(['ts', 'import', join(work, 'ts.json')])).code, 0);
    service = await startService({ home });
    ca = readFileSync(service.caFile, 'utf8');
    token = ((await httpsJson(`${service.url}/v1/auth/anonymous`, { body: {}, ca })).body as { token: string }).token;
  });

  after(async () => {
    await service?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('a version a task sequence uses is not deactivated without --force, and nothing changes', async () => {
    const r = await cli(['content', 'deactivate', item, '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Version 1 of "Tools" is used by task sequence "Uses tools v1" .* step "Install tools", slot "Application"; deactivate it anyway with --force\./);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.deepEqual(await versions(), [{ versionNo: 1, status: 'Active' }, { versionNo: 2, status: 'Active' }]);
  });

  test('deactivating an unused version makes the older one the active one; an active version cannot be deleted', async () => {
    const r = await cli(['content', 'deactivate', item, '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Version 2 is now inactive/);
    const active = await httpsJson(`${service.url}/v1/content-items/${item}/versions/active`, { token, ca });
    assert.equal((active.body as { versionNo: number }).versionNo, 1);
    const refused = await cli(['content', 'delete-version', item, '1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Version 1 of "Tools" is active; deactivate it first \(deployr content deactivate [0-9a-f-]+ 1\)\./);
  });

  test('a deleted version is gone, and its number is never given again', async () => {
    const r = await cli(['content', 'delete-version', item, '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Deleted version 2 .*deployr content gc/);
    assert.equal((await httpsJson(`${service.url}/v1/content-items/${item}/versions/2`, { token, ca })).status, 404);
    const added = await cli(['content', 'add-version', item, join(work, 'c.bin'), '--install-command', 'true']);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /Added version 3:/, 'not 2: a task sequence or a client cache may still name version 2');
    assert.deepEqual(await versions(), [{ versionNo: 1, status: 'Active' }, { versionNo: 3, status: 'Inactive' }]);
  });

  test('gc keeps recently written unlisted files by default, lists them with --dry-run, and removes only unlisted ones', async () => {
    const kept = await cli(['content', 'gc']);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stdout, /Removed 0 files .*\nKept 1 unlisted file written within the grace period/);
    assert.ok(existsSync(blobPath(files.b)));

    const dry = await cli(['content', 'gc', '--dry-run', '--grace', '0']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`Would remove 1 file that no content version lists \\(293\\.0 KiB\\)\\.\\n  ${sha256(files.b)}`));
    assert.ok(existsSync(blobPath(files.b)), 'a dry run removes nothing');

    // An addition that died half-way left a temporary file; an old one goes too.
    mkdirSync(join(home, 'content', 'tmp'), { recursive: true });
    const abandoned = join(home, 'content', 'tmp', '999-dead.tmp');
    writeFileSync(abandoned, randomBytes(5000));
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(abandoned, old, old);

    const gc = await cli(['content', 'gc', '--grace', '0']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /Removed 1 file that no content version lists \(293\.0 KiB\), and 1 unfinished addition \(4\.88 KiB\)\./);
    assert.equal(existsSync(blobPath(files.b)), false);
    assert.equal(existsSync(abandoned), false);
    assert.ok(existsSync(blobPath(files.a)) && existsSync(blobPath(files.c)), 'files that versions list stay');
    assert.equal(await blobStatus(files.a), 200);
    await waitFor(async () => (await blobStatus(files.b)) === 404, 10_000, 'the removed file to be gone from the service');
  });

  test('--force deactivates a version in use and names what uses it; every change is in the audit trail', async () => {
    const r = await cli(['content', 'deactivate', item, '1', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /still used by task sequence "Uses tools v1"/);
    assert.equal((await httpsJson(`${service.url}/v1/content-items/${item}/versions/active`, { token, ca })).status, 404);
    const audit = await cli(['audit', '--kind', 'content', '--json']);
    const methods = audit.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { method: string }).method);
    for (const m of ['deactivate', 'delete-version', 'collect-garbage']) assert.ok(methods.includes(m), `${m} is audited (${methods.join(', ')})`);
    assert.equal((await cli(['audit', 'verify'])).code, 0);
  });

  test('a whole item is deleted only once its versions are inactive; its files then go at gc', async () => {
    const data = randomBytes(50_000);
    writeFileSync(join(work, 'drivers.bin'), data);
    const created = await cli(['content', 'create', '--name', 'Old drivers', '--purpose', 'DriverPack', '--type', 'SingleFile']);
    const id = /\(([0-9a-f-]{36})\)/.exec(created.stdout)?.[1] ?? '';
    assert.equal((await cli(['content', 'add-version', id, join(work, 'drivers.bin')])).code, 0);
    assert.equal((await cli(['content', 'activate', id, '1'])).code, 0);
    const refused = await cli(['content', 'delete', id]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /"Old drivers" has active version 1; deactivate it first \(deployr content deactivate [0-9a-f-]+ VERSION\)\./);
    assert.equal((await cli(['content', 'show', id])).code, 0, 'still there');
    assert.equal((await cli(['content', 'deactivate', id, '1'])).code, 0);
    const deleted = await cli(['content', 'delete', id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /Deleted content item "Old drivers" \([0-9a-f-]+\) with 1 version\. .*deployr content gc/);
    const gone = await cli(['content', 'show', id]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No content item with id/);
    assert.equal((await httpsJson(`${service.url}/v1/content-items/${id}/versions/1`, { token, ca })).status, 404);
    assert.ok(existsSync(blobPath(data)), 'its file stays until gc');
    assert.equal((await cli(['content', 'gc', '--grace', '0'])).code, 0);
    assert.equal(existsSync(blobPath(data)), false, 'gc removed it');
    const audit = await cli(['audit', '--kind', 'content', '--json']);
    assert.ok(audit.stdout.split('\n').some((l) => l.includes('"method":"delete"') && l.includes(id)), 'the deletion is audited');
  });

  test('bad arguments get one clear line and change nothing', async () => {
    for (const [args, message] of [
      [['content', 'deactivate', item, 'x'], /"x" is not a version number\./],
      [['content', 'delete-version', item, '9'], /Content item "Tools" has no version 9\./],
      [['content', 'deactivate', '0b226848-2b30-4863-ab1c-c8bbd66e1c42', '1'], /No content item with id 0b226848-2b30-4863-ab1c-c8bbd66e1c42\./],
      [['content', 'gc', '--grace', 'soon'], /--grace: the value given \(4 characters\) is not a duration/],
    ] as const) {
      const r = await cli([...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, message);
    }
  });
});
