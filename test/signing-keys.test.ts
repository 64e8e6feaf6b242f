// The token-signing key at rest and its rotation, end to end: a copy of the database cannot forge a token, the home is owner-only, `deployr keys rotate` replaces the key.

import { strict as assert } from 'node:assert';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, type JsonWebKeyInput, type KeyObject } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { runDeployr, setPasscode, startService, tempHome, waitFor, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';

const PASSCODE = 'Heron-Basalt-Meadow-31';

/** A token in the service's own format (what an attacker who had a signing key would make). */
function forge(kid: string, key: KeyObject, claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const header = b64({ alg: 'EdDSA', typ: 'deployr-session+jwt', kid });
  const payload = b64({ amr: ['passcode'], ctx: 'fullos', iss: 'urn:deployr:service', aud: 'urn:deployr:api', sub: 'passcode', iat: now, nbf: now, exp: now + 3600, jti: randomUUID(), gen: 1, ...claims });
  return `${header}.${payload}.${sign(null, Buffer.from(`${header}.${payload}`), key).toString('base64url')}`;
}

async function login(svc: ServiceProcess, address = '127.0.0.1'): Promise<string> {
  const r = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'fullos' }, localAddress: address });
  assert.equal(r.status, 200, r.text);
  return (r.body as { token: string }).token;
}

const kidOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString('utf8')) as { kid: string }).kid;
const status = async (svc: ServiceProcess, token: string): Promise<number> => (await httpsJson(`${svc.url}/v1/task-sequences`, { token })).status;
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

test('a copy of the database alone cannot forge a token: the stored private key is sealed, and what an attacker makes of it is refused', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  assert.equal((await setPasscode(home, PASSCODE)).code, 0);
  const svc = await startService({ home });
  t.after(() => svc.stop());
  const real = await login(svc);
  assert.equal(await status(svc, real), 200);

  // The attacker copies the database (a backup, a replica) with its WAL, and reads the key table from the copy.
  const copy = join(home, '..', `stolen-${randomUUID()}.db`);
  t.after(() => { for (const f of [copy, `${copy}-wal`, `${copy}-shm`]) rmSync(f, { force: true }); });
  copyFileSync(join(home, 'deployr.db'), copy);
  if (existsSync(join(home, 'deployr.db-wal'))) copyFileSync(join(home, 'deployr.db-wal'), `${copy}-wal`);
  const db = new Database(copy, { readonly: false });
  const rows = db.prepare('SELECT kid, private_jwk, public_jwk FROM signing_keys').all() as { kid: string; private_jwk: string; public_jwk: string }[];
  db.close();
  assert.equal(rows.length, 1);
  const row = rows[0] as { kid: string; private_jwk: string; public_jwk: string };
  assert.equal(row.kid, kidOf(real));

  // Whatever is in the column, try it as a private key the way the service used to keep it (a JWK).
  let stolen: KeyObject | null = null;
  try { stolen = createPrivateKey({ key: JSON.parse(row.private_jwk) as object, format: 'jwk' } as JsonWebKeyInput); } catch { stolen = null; }
  if (stolen) assert.equal(await status(svc, forge(row.kid, stolen)), 401, 'a token signed with the key from the copy is refused');
  assert.equal(stolen, null, 'the column holds no usable private key');
  assert.doesNotMatch(row.private_jwk, /"d"\s*:/, 'no JWK private part ("d") in the column');
  // The next best thing an attacker can do: a key of its own under the real key id.
  const { privateKey: own } = generateKeyPairSync('ed25519');
  assert.equal(await status(svc, forge(row.kid, own)), 401);
  assert.equal(await status(svc, real), 200, 'the real token still works');
  // No forged attempt got anything: the only login row is the real one.
  const audit = await runDeployr(['audit', '--kind', 'login', '--json'], { home });
  assert.equal(audit.stdout.trim().split('\n').filter((l) => l.includes('"success"')).length, 1);
});

test('a key stored in plain text by an earlier version is sealed in place at first start, and its tokens keep working', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  assert.equal((await setPasscode(home, PASSCODE)).code, 0);
  // What an earlier version left: a plain JWK in signing_keys, no KEK file.
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const kid = randomUUID();
  const db = new Database(join(home, 'deployr.db'));
  db.prepare('INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at) VALUES (?, ?, ?, ?)')
    .run(kid, JSON.stringify(privateKey.export({ format: 'jwk' })), JSON.stringify(publicKey.export({ format: 'jwk' })), new Date().toISOString());
  db.close();
  const before = forge(kid, privateKey);

  const svc = await startService({ home });
  t.after(() => svc.stop());
  assert.equal(await status(svc, before), 200, 'a token signed before the upgrade is still accepted');
  assert.equal(kidOf(await login(svc)), kid, 'the same key signs on');
  const check = new Database(join(home, 'deployr.db'), { readonly: true });
  const stored = check.prepare('SELECT private_jwk FROM signing_keys WHERE kid = ?').pluck().get(kid) as string;
  check.close();
  assert.doesNotMatch(stored, /"d"\s*:/, 'the private key is no longer in plain text');
  assert.match(stored, /"sealed":"A256GCM"/);
  assert.equal(mode(join(home, 'keys', 'signing-kek')), '600');
  const audit = await runDeployr(['audit', '--kind', 'keys', '--json'], { home });
  assert.match(audit.stdout, /"reason":"sealed_at_rest"/);
  assert.equal((await runDeployr(['audit', 'verify'], { home })).code, 0);
});

test('without its KEK file a home with sealed keys refuses to start, in one line naming the file, and changes nothing', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  assert.equal((await setPasscode(home, PASSCODE)).code, 0);
  const first = await startService({ home });
  await first.stop();
  const kek = join(home, 'keys', 'signing-kek');
  renameSync(kek, `${kek}.away`);
  const read = (): string => { const d = new Database(join(home, 'deployr.db'), { readonly: true }); try { return JSON.stringify(d.prepare('SELECT * FROM signing_keys').all()); } finally { d.close(); } };
  const keysBefore = read();
  const r = await runDeployr(['serve', '--port', '0', '--local-port', '0', '--host', '127.0.0.1'], { home });
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] as string, new RegExp(`^error: ${kek.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is missing`));
  assert.equal(existsSync(kek), false, 'no new KEK was made');
  assert.equal(read(), keysBefore, 'no new signing key was made');
  // `keys rotate` refuses the same way.
  const rot = await runDeployr(['keys', 'rotate'], { home });
  assert.notEqual(rot.code, 0);
  assert.match(rot.stderr, /signing-kek is missing/);
  // With the file back, it starts and the old tokens' key signs on.
  renameSync(`${kek}.away`, kek);
  const again = await startService({ home });
  t.after(() => again.stop());
  assert.equal(await status(again, await login(again)), 200);
});

test('the home is owner-only after start (0700, files 0600), also a home that existed with 0755, and serve says what it tightened', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  chmodSync(home, 0o755);
  // An earlier version's files, world-readable: the database, a content file, a script someone put there.
  closeSync(openSync(join(home, 'deployr.db'), 'w', 0o644));
  chmodSync(join(home, 'deployr.db'), 0o644);
  mkdirSync(join(home, 'content', 'Scripts'), { recursive: true, mode: 0o755 });
  chmodSync(join(home, 'content'), 0o755);
  chmodSync(join(home, 'content', 'Scripts'), 0o755);
  writeFileSync(join(home, 'content', 'Scripts', 'facts.sh'), '#!/bin/sh\necho\n', { mode: 0o755 });
  chmodSync(join(home, 'content', 'Scripts', 'facts.sh'), 0o755);

  const svc = await startService({ home });
  t.after(() => svc.stop());
  assert.match(svc.output(), new RegExp(`WARNING: other users could read or change files under the home ${home.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}; tightened to owner-only: .*\\(0755 → 0700\\).*deployr\\.db \\(0644 → 0600\\)`));
  await setPasscode(home, PASSCODE);
  await waitFor(async () => (await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'fullos' } })).status === 200, 10_000, 'the passcode applied');
  assert.equal(mode(home), '700');
  for (const f of ['deployr.db', 'deployr.db-wal', 'deployr.db-shm', 'audit.key', 'keys/signing-kek', 'tls/server.key', 'tls/server.crt']) {
    assert.equal(mode(join(home, f)), '600', f);
  }
  for (const d of ['keys', 'tls', 'content', 'content/Scripts']) assert.equal(mode(join(home, d)), '700', d);
  assert.equal(mode(join(home, 'content', 'Scripts', 'facts.sh')), '700', 'a script keeps its owner bits (still runs), loses the others');

  // A content file added through the CLI is owner-only too.
  const file = join(home, '..', `payload-${randomUUID()}.txt`);
  writeFileSync(file, 'payload\n', { mode: 0o644 });
  t.after(() => rmSync(file, { force: true }));
  const created = await runDeployr(['content', 'create', '--name', 'Tool', '--purpose', 'Other', '--type', 'SingleFile'], { home });
  const id = /[0-9a-f-]{36}/.exec(created.stdout)?.[0] as string;
  assert.equal((await runDeployr(['content', 'add-version', id, file], { home })).code, 0);
  const blobs = join(home, 'content', 'blobs');
  for (const sub of readdirSync(blobs)) {
    assert.equal(mode(join(blobs, sub)), '700');
    for (const b of readdirSync(join(blobs, sub))) assert.equal(mode(join(blobs, sub, b)), '600');
  }
  // A restart finds nothing to tighten and says nothing.
  await svc.stop();
  const again = await startService({ home });
  t.after(() => again.stop());
  assert.doesNotMatch(again.output(), /WARNING: other users could read/);
});

test('deployr keys rotate: a new key signs, tokens of the old one keep working until its window ends, then it is retired; audited; workers pick it up', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  assert.equal((await setPasscode(home, PASSCODE)).code, 0);
  // Two worker processes start slowly on a busy machine: allow them longer than the helper's default.
  const svc = await startService({ home, args: ['--workers', '2'], startTimeoutMs: 180_000 });
  t.after(() => svc.stop());
  const before = await login(svc);
  const oldKid = kidOf(before);
  // Used before the rotation, so each worker that saw it remembers it as verified: retirement must end it all the same.
  for (let i = 0; i < 4; i++) assert.equal(await status(svc, before), 200);
  const listed = await runDeployr(['keys', 'list'], { home });
  assert.match(listed.stdout, new RegExp(`^${oldKid}  created \\S+  active`, 'm'));
  assert.doesNotMatch(listed.stdout, /"d"|"x"|sealed/, 'never key material');

  const rotated = await runDeployr(['keys', 'rotate', '--verify-for', '60s'], { home });
  assert.equal(rotated.code, 0, rotated.stderr);
  const newKid = /: (\S+) signs new tokens/.exec(rotated.stdout)?.[1] as string;
  assert.ok(newKid && newKid !== oldKid, rotated.stdout);
  const until = Date.parse(/accepted until (\S+) /.exec(rotated.stdout)?.[1] as string);
  assert.equal(await status(svc, before), 200, 'a token issued before the rotation is still accepted');
  assert.ok(Date.now() < until, 'that check ran inside the window (the machine was not too slow for this test)');

  // Every worker picks the new key up without a restart: logins spread over both sign with it.
  let streak = 0;
  await waitFor(async () => { streak = kidOf(await login(svc)) === newKid ? streak + 1 : 0; return streak >= 6; }, 30_000, 'six logins in a row signed by the new key');
  const after = await login(svc);
  assert.equal(kidOf(after), newKid);
  assert.equal(await status(svc, after), 200);
  const during = await runDeployr(['keys', 'list', '--json'], { home });
  const states = Object.fromEntries((JSON.parse(during.stdout) as { kid: string; state: string }[]).map((k) => [k.kid, k.state]));
  assert.deepEqual(states, { [oldKid]: 'verify-only', [newKid]: 'active' });
  const sealedOld = (() => { const d = new Database(join(home, 'deployr.db'), { readonly: true }); try { return d.prepare('SELECT private_jwk FROM signing_keys WHERE kid = ?').pluck().get(oldKid) as string; } finally { d.close(); } })();
  assert.equal(sealedOld, '', 'the replaced key\'s private key is erased at once');

  // After the window the old key is retired: its tokens are refused on every worker, the new ones are not.
  await waitFor(() => Date.now() > until + 1000, 120_000, 'the window to end');
  for (let i = 0; i < 4; i++) assert.equal(await status(svc, before), 401, 'a token of the retired key is refused');
  assert.equal(await status(svc, after), 200);
  const end = await runDeployr(['keys', 'list'], { home });
  assert.match(end.stdout, new RegExp(`^${oldKid}  created \\S+  retired`, 'm'));

  const audit = await runDeployr(['audit', '--kind', 'keys', '--json'], { home });
  const row = audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { result: string; reason: string; subject: string; detail: { oldKid: string; newKid: string } }).find((r) => r.reason === 'signing_key_rotated');
  assert.ok(row, audit.stdout);
  assert.equal(row.subject, 'admin');
  assert.deepEqual([row.detail.oldKid, row.detail.newKid], [oldKid, newKid]);
  assert.equal((await runDeployr(['audit', 'verify'], { home })).code, 0);
});

test('deployr keys rotate-kek: every key is sealed under a new KEK file; the running service signs on, and opens a key rotated afterwards', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  assert.equal((await setPasscode(home, PASSCODE)).code, 0);
  const svc = await startService({ home });
  t.after(() => svc.stop());
  const before = await login(svc);
  const kekPath = join(home, 'keys', 'signing-kek');
  const oldKek = readFileSync(kekPath, 'utf8');
  const sealedWith = (): string[] => { const d = new Database(join(home, 'deployr.db'), { readonly: true }); try { return (d.prepare("SELECT private_jwk FROM signing_keys WHERE private_jwk != ''").pluck().all() as string[]).map((p) => (JSON.parse(p) as { kek: string }).kek); } finally { d.close(); } };
  const idsBefore = sealedWith();

  const r = await runDeployr(['keys', 'rotate-kek'], { home });
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual(readFileSync(kekPath, 'utf8'), oldKek, 'the file holds a new KEK');
  assert.equal(mode(kekPath), '600');
  assert.equal(existsSync(`${kekPath}.next`), false);
  const idsAfter = sealedWith();
  assert.equal(idsAfter.length, idsBefore.length);
  assert.ok(idsAfter.every((id) => !idsBefore.includes(id)), 'every key is sealed under the new KEK');
  assert.equal(await status(svc, before), 200, 'tokens are untouched');
  assert.equal(await status(svc, await login(svc)), 200, 'the running service signs on');

  // A key made after the KEK rotation is sealed under the new KEK: the running service reads the file again to open it.
  const rotated = await runDeployr(['keys', 'rotate'], { home });
  assert.equal(rotated.code, 0, rotated.stderr);
  const newKid = /: (\S+) signs new tokens/.exec(rotated.stdout)?.[1] as string;
  await waitFor(async () => kidOf(await login(svc)) === newKid, 20_000, 'a login signed by the key sealed under the new KEK');
  const audit = await runDeployr(['audit', '--kind', 'keys', '--json'], { home });
  assert.match(audit.stdout, /"reason":"kek_rotated"/);
  assert.equal((await runDeployr(['audit', 'verify'], { home })).code, 0);
  // The old KEK no longer opens anything: with it back in place, the service refuses to start.
  await svc.stop();
  writeFileSync(kekPath, oldKek, { mode: 0o600 });
  const refused = await runDeployr(['serve', '--port', '0', '--local-port', '0', '--host', '127.0.0.1'], { home });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /was encrypted under another key-encryption key than/);
});
