// `deployr admin …` with the real CLI and a real SQLite home: add, list, passwd, role, remove; password rules; the last admin; audited.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDeployr, tempHome } from './helpers/deployr-process.js';

const PASSWORD = 'Copper-Harbour-Kettle-58';

describe('deployr admin', () => {
  const { home, cleanup } = tempHome('deployr-admin-cli-');
  const cli = (args: string[], input = '') => runDeployr(args, { home, input });
  after(cleanup);

  test('add reads the password twice from standard input, and list never shows it or its hash', async () => {
    const r = await cli(['admin', 'add', 'alice', '--role', 'admin'], `${PASSWORD}\n${PASSWORD}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Added administrator alice \(admin\)/);
    const list = await cli(['admin', 'list', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const parsed = JSON.parse(list.stdout) as { administrators: { name: string; role: string }[] };
    assert.deepEqual(parsed.administrators.map((a) => [a.name, a.role]), [['alice', 'admin']]);
    assert.doesNotMatch(list.stdout, /argon2|Copper|hash/i);
    const db = readFileSync(join(home, 'deployr.db')).toString('latin1');
    assert.doesNotMatch(db, /Copper-Harbour/, 'the password is not in the database in plain text');
    assert.match(db, /\$argon2id\$/, 'an argon2id hash is stored');
  });

  test('a mismatch, a weak password, a bad name or role change nothing', async () => {
    // Independent refusals, run side by side (each is its own process).
    const [mismatch, weak, dup] = await Promise.all([
      cli(['admin', 'add', 'bob', '--role', 'viewer'], `${PASSWORD}\nSomething-Else-Entirely-1\n`),
      cli(['admin', 'add', 'bob', '--role', 'viewer'], 'password123\npassword123\n'),
      cli(['admin', 'add', 'alice', '--role', 'viewer'], `${PASSWORD}\n${PASSWORD}\n`),
    ]);
    assert.notEqual(mismatch.code, 0);
    assert.match(mismatch.stderr, /do not match; nothing changed/);
    assert.notEqual(weak.code, 0);
    assert.match(weak.stderr, /common passwords/);
    assert.doesNotMatch(weak.stderr + mismatch.stderr, /password123|Something-Else|Copper/);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /CONFLICT/);
    const list = JSON.parse((await cli(['admin', 'list', '--json'])).stdout) as { administrators: { name: string }[] };
    assert.deepEqual(list.administrators.map((a) => a.name), ['alice']);
  });

  test('the last admin cannot be removed or demoted; with a second admin both work; passwd; all audited with no secret', async () => {
    const [demote, remove] = await Promise.all([cli(['admin', 'role', 'alice', 'viewer']), cli(['admin', 'remove', 'alice'])]);
    assert.notEqual(demote.code, 0);
    assert.match(demote.stderr, /last administrator with the admin role.*\[CONFLICT\]/);
    assert.notEqual(remove.code, 0);
    assert.match(remove.stderr, /last administrator/);

    assert.equal((await cli(['admin', 'add', 'carol', '--role', 'operator'], `${PASSWORD}\n${PASSWORD}\n`)).code, 0);
    assert.equal((await cli(['admin', 'role', 'carol', 'admin'])).code, 0);
    assert.equal((await cli(['admin', 'role', 'alice', 'viewer'])).code, 0);
    const passwd = await cli(['admin', 'passwd', 'alice'], 'Walnut-Drifting-Compass-77\nWalnut-Drifting-Compass-77\n');
    assert.equal(passwd.code, 0, passwd.stderr);
    assert.equal((await cli(['admin', 'remove', 'alice'])).code, 0);

    const audit = await cli(['audit', '--kind', 'administrator', '--json']);
    const rows = audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { reason: string; subject: string; source: string; detail: { name: string } });
    assert.deepEqual(rows.map((r) => `${r.reason}:${r.detail.name}`), [
      'administrator_added:alice', 'administrator_added:carol', 'administrator_role_changed:carol', 'administrator_role_changed:alice',
      'administrator_password_changed:alice', 'administrator_removed:alice',
    ]);
    assert.ok(rows.every((r) => r.subject === 'admin' && r.source === 'local'));
    assert.doesNotMatch(audit.stdout, /Copper|Walnut|argon2/);
    assert.equal((await cli(['audit', 'verify'])).code, 0);
  });
});
