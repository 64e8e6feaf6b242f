// Passcode rotation: old tokens end at once (or after an overlap window), the passcode's age and reminder, and concurrent rotations.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { createArgon2Hasher, type PasscodeHasher } from '../src/auth/passcode-hasher.js';
import { SecurityAdmin } from '../src/auth/security-admin.js';
import { configureCheck, configureShow, showLines, type ConfigureDeps } from '../src/cli/configure.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { DEPLOYR_BIN, EXPORTS_DIR, runDeployr, setPasscode, startService, tempHome, waitFor } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';
import { AUDIT_KEY, FAST_ARGON2, securityFixture, source, type SecurityFixture } from './helpers/security-fixture.js';

const OLD = 'Otter-Harbour-Lantern-7';
const NEW = 'Badger-Quarry-Compass-9';
const HOUR = 3600_000;

async function fixture(t: TestContext): Promise<SecurityFixture> {
  const f = await securityFixture({ passcode: OLD });
  t.after(() => f.close());
  return f;
}

async function tokenFor(f: SecurityFixture, passcode: string, address = '10.3.0.1'): Promise<string> {
  const a = await f.attempt(passcode, source(address));
  assert.ok(a.ok, `login with ${passcode === OLD ? 'the old' : 'the new'} passcode`);
  return a.token.token;
}

const accepted = (f: SecurityFixture, token: string): Promise<boolean> => f.login.authenticate(token, () => null).then(() => true, () => false);

test('by default a change ends the old passcode and every token issued under it at once', async (t) => {
  const f = await fixture(t);
  const oldToken = await tokenFor(f, OLD);
  assert.equal(await accepted(f, oldToken), true);
  await f.setPasscode(NEW);
  assert.equal(await accepted(f, oldToken), false, 'the old token is refused on the very next request');
  assert.equal((await f.attempt(OLD, source('10.3.0.2'))).ok, false);
  const newToken = await tokenFor(f, NEW, '10.3.0.3');
  assert.equal(await accepted(f, newToken), true);
  const rows = await f.store.list({ kind: 'settings' });
  assert.deepEqual(rows.map((r) => [r.reason, r.detail.generation, r.detail.overlapSeconds]), [['passcode_set', 1, 0], ['passcode_changed', 2, 0]]);
});

test('the no-wait check never admits a token on settings older than a millisecond', async (t) => {
  const f = await fixture(t);
  const oldToken = await tokenFor(f, OLD);
  assert.equal(f.login.authenticateCached('eyJ.not.seen', () => null), null, 'a token never verified needs the full check');
  const principal = await f.login.authenticate(oldToken, () => null);
  const quick = f.login.authenticateCached(oldToken, () => null);
  assert.ok(quick === null || quick === principal, 'right after a full check: the same principal, or null when a millisecond has passed');
  await f.setPasscode(NEW);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(f.login.authenticateCached(oldToken, () => null), null, 'settings not compared for 5 ms: the full check must run');
  await assert.rejects(f.login.authenticate(oldToken, () => null), { code: 'TOKEN_INVALID' });
  let after: unknown = 'threw';
  try { after = f.login.authenticateCached(oldToken, () => null); } catch (err) { assert.equal((err as { code?: string }).code, 'TOKEN_INVALID'); }
  assert.ok(after === 'threw' || after === null, 'after the rotation was seen the no-wait check refuses the same way (or defers to the full check)');
});

test('with an overlap window both passcodes (and their tokens) work until it ends, then only the new one', async (t) => {
  const f = await fixture(t);
  await f.admin.apply([{ kind: 'rotation', overlapSeconds: 2 * 3600 }]);
  const oldToken = await tokenFor(f, OLD);
  await f.setPasscode(NEW);
  assert.equal(await accepted(f, oldToken), true);
  assert.equal((await f.attempt(OLD, source('10.3.1.1'))).ok, true);
  assert.equal((await f.attempt(NEW, source('10.3.1.2'))).ok, true);
  f.advance(2 * HOUR - 1000);
  const lateOldToken = await tokenFor(f, OLD, '10.3.1.3');
  assert.equal(await accepted(f, lateOldToken), true);
  f.advance(1000);
  assert.equal((await f.attempt(OLD, source('10.3.1.4'))).ok, false, 'the window is over');
  assert.equal(await accepted(f, lateOldToken), false, 'tokens of the old passcode end with the window');
  assert.equal((await f.attempt(NEW, source('10.3.1.5'))).ok, true);
});

test('the passcode never expires by itself; the reminder only warns', async (t) => {
  const f = await fixture(t);
  await f.admin.apply([{ kind: 'rotation', remindAfterSeconds: 90 * 86400 }]);
  f.advance(10 * 365 * 86400_000);
  assert.equal((await f.attempt(OLD, source('10.3.2.1'))).ok, true);
  const lines = showLines(await f.store.getSecurity(), new Date(f.clock.now));
  assert.ok(lines.some((l) => /Passcode: set \(last changed .*, 3650 days ago; generation 1\)/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /REMINDER: the passcode is older than 90d/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /Passcode reminder: after 90d/.test(l)));
});

test('configure show and check give the age, the reminder and the alert (from the store when the service is down)', async (t) => {
  const f = await fixture(t);
  await f.admin.apply([{ kind: 'rotation', remindAfterSeconds: 86400 }]);
  const out: string[] = [];
  const deps: ConfigureDeps = {
    admin: f.admin, readSettings: () => f.store.getSecurity(), prompter: null as never, localPort: 1,
    io: { out: (l) => out.push(l), err: (l) => out.push(l) }, serviceStatus: async () => null,
    now: () => new Date(f.clock.now + 2 * 86400_000),
    failedLogins: async () => ({ consecutive: 120, alertSince: 1 }),
  };
  await configureShow(deps);
  assert.ok(out.some((l) => /2 days ago/.test(l)), out.join('\n'));
  assert.ok(out.some((l) => /REMINDER/.test(l)));
  assert.ok(out.some((l) => /ALERT: 120 consecutive failed logins/.test(l)));
  out.length = 0;
  assert.equal(await configureCheck(deps), 1);
  assert.ok(out.some((l) => /not running/.test(l)));
  assert.ok(out.some((l) => /REMINDER/.test(l)));
  assert.ok(out.some((l) => /ALERT: 120 consecutive failed logins/.test(l)));
});

/** A hasher whose `hash` waits at a barrier, so that two rotations read the same revision before either saves. */
function barrierHasher(parties: number): PasscodeHasher {
  const real = createArgon2Hasher({ params: FAST_ARGON2 });
  let waiting = 0;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  return {
    ...real,
    hash: async (p) => {
      waiting += 1;
      if (waiting === parties) open();
      await gate;
      return real.hash(p);
    },
  };
}

test('two concurrent rotations: exactly one wins, the other gets CONFLICT, and both attempts are audited', async (t) => {
  const f = await fixture(t);
  const hasher = barrierHasher(2);
  const storeA = openSqliteStore(f.file, AUDIT_KEY);
  const storeB = openSqliteStore(f.file, AUDIT_KEY);
  t.after(async () => { await storeA.close(); await storeB.close(); });
  const results = await Promise.allSettled([
    new SecurityAdmin(storeA, hasher).apply([{ kind: 'passcode', passcode: 'Concurrent-Rotation-AAA' }]),
    new SecurityAdmin(storeB, hasher).apply([{ kind: 'passcode', passcode: 'Concurrent-Rotation-BBB' }]),
  ]);
  assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal(lost.reason.code, 'CONFLICT');
  const winner = results.indexOf(results.find((r) => r.status === 'fulfilled')!) === 0 ? 'Concurrent-Rotation-AAA' : 'Concurrent-Rotation-BBB';
  const loser = winner.endsWith('AAA') ? 'Concurrent-Rotation-BBB' : 'Concurrent-Rotation-AAA';
  assert.equal((await f.attempt(winner, source('10.3.3.1'))).ok, true);
  assert.equal((await f.attempt(loser, source('10.3.3.2'))).ok, false);
  assert.equal((await f.attempt(OLD, source('10.3.3.3'))).ok, false);
  const rows = (await f.store.list({ kind: 'settings' })).slice(1);
  assert.deepEqual(rows.map((r) => [r.result, r.reason]), [['changed', 'passcode_changed'], ['failure', 'conflict']]);
  assert.deepEqual(rows[1]?.detail.attempted, ['passcode_changed']);
  assert.equal((await f.store.verify()).ok, true);
});

/** Starts `deployr configure security --passcode` without input yet; `go` sends both lines. */
function pendingRotation(home: string, passcode: string): { go(): void; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [DEPLOYR_BIN, 'configure', 'security', '--passcode'], { env: { ...process.env, DEPLOYR_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { go: () => child.stdin.end(`${passcode}\n${passcode}\n`), done };
}

test('two `deployr configure security --passcode` processes at once: one saves, the other says CONFLICT in one line, both audited', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  assert.equal((await setPasscode(home, OLD)).code, 0);
  // Hold the write lock so both processes read revision 1 and hash before either can save.
  const lock = new Database(join(home, 'deployr.db'));
  lock.exec('BEGIN IMMEDIATE');
  const a = pendingRotation(home, 'Process-Rotation-AAA');
  const b = pendingRotation(home, 'Process-Rotation-BBB');
  a.go();
  b.go();
  await new Promise((r) => setTimeout(r, 2500)); // both are now waiting on the lock (busy_timeout is 5 s)
  lock.exec('ROLLBACK');
  lock.close();
  const [ra, rb] = await Promise.all([a.done, b.done]);
  const codes = [ra.code, rb.code].sort();
  assert.deepEqual(codes, [0, 1], `${ra.stderr}\n${rb.stderr}`);
  const failed = ra.code === 1 ? ra : rb;
  const lines = failed.stderr.trim().split('\n');
  assert.equal(lines.length, 1, failed.stderr);
  assert.match(lines[0] as string, /^error: The security settings were changed by someone else meanwhile; nothing was saved\. Try again\. \[CONFLICT\]$/);
  const audit = await runDeployr(['audit', '--kind', 'settings', '--json'], { home });
  const rows = audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { result: string; reason: string });
  assert.deepEqual(rows.slice(1).map((r) => `${r.result}/${r.reason}`).sort(), ['changed/passcode_changed', 'failure/conflict']);
  assert.equal((await runDeployr(['audit', 'verify'], { home })).code, 0);
});

test('end to end: after a rotation the old token gets 401 on its next request; the reminder shows in show, check and the service log', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  assert.equal((await setPasscode(home, OLD)).code, 0);
  assert.equal((await runDeployr(['configure', 'security', '--remind-after', '90d'], { home })).code, 0);
  // Make the passcode look 200 days old (as if set long ago).
  const db = new Database(join(home, 'deployr.db'));
  const row = db.prepare('SELECT doc FROM security_settings WHERE id = 1').get() as { doc: string };
  const doc = JSON.parse(row.doc) as { passcode: { changedAt: string } };
  doc.passcode.changedAt = new Date(Date.now() - 200 * 86400_000).toISOString();
  db.prepare('UPDATE security_settings SET doc = ?, revision = revision + 1 WHERE id = 1').run(JSON.stringify(doc));
  db.close();

  const svc = await startService({ home });
  t.after(() => svc.stop());
  const ca = readFileSync(svc.caFile, 'utf8');
  // The log line is written by pino, which may flush after the banner that startService waits for.
  await waitFor(() => /passcode rotation reminder/.test(svc.output()), 5000, 'the reminder in the service log');
  assert.match(svc.output(), /REMINDER: the passcode was last changed 200 days ago/);
  const show = await runDeployr(['configure', 'show', '--local-port', String(svc.localPort)], { home });
  assert.match(show.stdout, /200 days ago/);
  assert.match(show.stdout, /REMINDER: the passcode is older than 90d/);
  const check = await runDeployr(['configure', 'check', '--local-port', String(svc.localPort)], { home });
  assert.match(check.stdout, /REMINDER: the passcode is older than 90d/);

  const login = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: OLD, context: 'boot' }, ca });
  assert.equal(login.status, 200);
  const token = (login.body as { token: string }).token;
  assert.equal((await httpsJson(`${svc.url}/v1/task-sequences`, { token, ca })).status, 200);
  assert.equal((await setPasscode(home, NEW)).code, 0);
  const after = await httpsJson(`${svc.url}/v1/task-sequences`, { token, ca });
  assert.equal(after.status, 401, 'no polling delay: the next request is refused');
  assert.equal((await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: OLD, context: 'boot' }, ca })).status, 401);
  assert.equal((await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: NEW, context: 'boot' }, ca })).status, 200);
  // The change re-applies the settings; the new passcode is young, so no reminder after it.
  await waitFor(() => (svc.output().match(/security settings applied/g) ?? []).length >= 2, 5000, 'the change to be applied');
  assert.equal((svc.output().match(/passcode rotation reminder/g) ?? []).length, 1);
});

test('on one kept-alive connection every request\'s token is checked: a changed header, a forged token, a rotation, a list changed by another process', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  assert.equal((await setPasscode(home, OLD)).code, 0);
  const svc = await startService({ home });
  t.after(() => svc.stop());
  const ca = readFileSync(svc.caFile, 'utf8');
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  t.after(() => agent.destroy());
  const ports = new Set<number>();
  /** GET over the one kept-alive connection; its local port shows it is the same connection. */
  const get = (path: string, authorization: string): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
    request(`${svc.url}${path}`, { agent, headers: { authorization } }, (res) => {
      ports.add(res.socket.localPort ?? 0);
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
  const tokenOf = async (passcode: string): Promise<string> => {
    const r = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode, context: 'boot' }, ca });
    assert.equal(r.status, 200);
    return (r.body as { token: string }).token;
  };
  const first = await tokenOf(OLD);
  const second = await tokenOf(OLD);
  const [head, payload, signature] = first.split('.') as [string, string, string];
  const forged = `${head}.${payload}.${signature.slice(0, -4)}${signature.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
  assert.equal((await get('/v1/task-sequences', `Bearer ${first}`)).status, 200);
  assert.equal((await get('/v1/task-sequences', `Bearer ${forged}`)).status, 401, 'a forged signature on a connection that sent a good token');
  assert.equal((await get('/v1/task-sequences', 'Bearer not-a-token')).status, 401);
  assert.equal((await get('/v1/task-sequences', '')).status, 401);
  assert.equal((await get('/v1/task-sequences', `Bearer ${second}`)).status, 200);
  assert.equal((await get('/v1/task-sequences', `Bearer ${first}`)).status, 200);
  // Another process imports a task sequence: the same connection's next list shows it.
  const before = JSON.parse((await get('/v1/task-sequences', `Bearer ${first}`)).body) as { taskSequences: unknown[] };
  const exported = readdirSync(EXPORTS_DIR).find((f) => f.startsWith('task-sequence-'));
  assert.ok(exported);
  assert.equal((await runDeployr(['ts', 'import', join(EXPORTS_DIR, exported)], { home })).code, 0);
  const after = JSON.parse((await get('/v1/task-sequences', `Bearer ${first}`)).body) as { taskSequences: unknown[] };
  assert.equal(after.taskSequences.length, before.taskSequences.length + 1);
  // Another process rotates the passcode: the same token on the same connection is refused at once.
  assert.equal((await setPasscode(home, NEW)).code, 0);
  assert.equal((await get('/v1/task-sequences', `Bearer ${first}`)).status, 401);
  assert.equal((await get('/v1/task-sequences', `Bearer ${second}`)).status, 401);
  assert.equal((await get('/v1/task-sequences', `Bearer ${await tokenOf(NEW)}`)).status, 200);
  assert.equal(ports.size, 1, 'every request went over the one connection');
});
