// End to end: the seed page's scenario with the real service, configuration tool and client processes on loopback.

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT, importJWK, type CryptoKey } from 'jose';
import Database from 'better-sqlite3';
import { EXPORTS_DIR, runDeployr, setPasscode, startService, tempHome, waitFor, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson, type JsonResponse } from './helpers/https-json.js';
import { kekFromBytes, unsealPrivateKey } from '../src/auth/key-sealing.js';

const PASSCODE = 'Tangerine-Lighthouse-42';
const NEW_PASSCODE = 'Marmalade-Observatory-77';
const TS_ID = '80e8121b-c426-4bb9-866e-faf06af2c398';
const CI_ID = '2e7e9f6a-465b-45bb-8588-ae9c1ae72929';

describe('passcode-protected service, configuration tool and client', () => {
  const { home, cleanup } = tempHome();
  let svc: ServiceProcess;
  let ca: string;
  const responses: string[] = [];
  const login = async (passcode: string, context = 'boot'): Promise<JsonResponse> => {
    const r = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode, context }, ca });
    responses.push(r.text);
    return r;
  };

  before(async () => {
    svc = await startService({ home });
    ca = readFileSync(svc.caFile, 'utf8');
  });
  after(async () => {
    await svc?.stop();
    cleanup();
  });

  test('starts with nothing configured, warns, and names the command that sets a passcode', async () => {
    assert.match(svc.output(), /no authentication method is configured/);
    assert.match(svc.output(), /deployr configure security --passcode/);
    const methods = await httpsJson(`${svc.url}/v1/auth/methods`, { ca });
    assert.deepEqual(methods.body, { methods: [], configured: false });
    const r = await login(PASSCODE);
    assert.equal(r.status, 401);
  });

  test('with nothing configured the client keeps asking for the passcode, cannot proceed and says why', async () => {
    const r = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile], { input: 'a-guess-one\nanother-guess\n' });
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /no authentication method configured/i);
    assert.equal((r.stdout.match(/no passcode can be accepted/g) ?? []).length, 2, r.stdout);
    assert.match(r.stderr, /cannot proceed/);
  });

  test('the health route answers without a token; the service serves its self-signed certificate with SAN localhost and 127.0.0.1', async () => {
    const r = await httpsJson(`${svc.url}/v1/health`, { ca });
    assert.equal(r.status, 200);
    assert.equal((r.body as { status: string }).status, 'ok');
    assert.equal(statSync(join(home, 'tls', 'server.key')).mode & 0o077, 0, 'the key file is private');
  });

  test('a mismatched verification, a short, a blocklisted and an empty passcode change nothing', async () => {
    for (const [first, second, why] of [
      [PASSCODE, PASSCODE + 'x', /do not match/],
      ['short1', 'short1', /too short/],
      ['deployr123', 'deployr123', /common passcodes/],
      ['', '', /empty/],
    ] as const) {
      const r = await setPasscode(home, first, second);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(!r.stderr.includes(first) || first === '', 'the error does not repeat the passcode');
    }
    // The policy is checked before the verification prompt: one line of input is enough to hear why.
    const early = await runDeployr(['configure', 'security', '--passcode'], { home, input: 'short1\n' });
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, /too short/);
    assert.doesNotMatch(early.stdout + early.stderr, /Verify passcode/);
    const show = await runDeployr(['configure', 'show'], { home });
    assert.match(show.stdout, /Passcode: not set/);
    assert.match(show.stdout, /revision 0/);
  });

  test('the seed scenario: set a passcode, the service applies it, the client is challenged and continues on its own', async () => {
    const set = await setPasscode(home, PASSCODE);
    assert.equal(set.code, 0, set.stderr);
    assert.doesNotMatch(set.stderr, /fewer than 15/);
    const imported = await runDeployr(['ts', 'import', join(EXPORTS_DIR, 'task-sequence-80e8121b-in-place-refresh.json')], { home });
    assert.equal(imported.code, 0, imported.stderr);
    await waitFor(async () => ((await httpsJson(`${svc.url}/v1/auth/methods`, { ca })).body as { configured: boolean }).configured, 5000, 'the service to apply the passcode');
    const check = await runDeployr(['configure', 'check', '--local-port', String(svc.localPort)], { home });
    assert.equal(check.code, 0, check.stdout);
    assert.match(check.stdout, /has applied the current settings/);

    const client = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile], { input: `wrong-passcode-here\n${PASSCODE}\n1\n` });
    assert.equal(client.code, 0, client.stderr);
    assert.match(client.stdout, /The passcode is incorrect\. Try again\./);
    assert.match(client.stdout, /Signed in \(passcode\)/);
    assert.match(client.stdout, /Module In-place Refresh/);
  });

  test('a short passcode is accepted with a warning (NIST recommends 15 or more)', async () => {
    const other = tempHome();
    try {
      const r = await setPasscode(other.home, 'Quokka-7x');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /fewer than 15 characters/);
    } finally { other.cleanup(); }
  });

  test('the client trusts the server by a pinned fingerprint, and refuses an untrusted certificate with a clear message', async () => {
    const pinned = await runDeployr(['client', '--server', svc.url, '--fingerprint', svc.fingerprint, '--ts', TS_ID], { input: `${PASSCODE}\n` });
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.match(pinned.stdout, /Module In-place Refresh \(80e8121b-c426-4bb9-866e-faf06af2c398:1\)/);
    const untrusted = await runDeployr(['client', '--server', svc.url], { input: `${PASSCODE}\n` });
    assert.equal(untrusted.code, 3);
    assert.match(untrusted.stderr, /not trusted/);
    assert.equal(untrusted.stderr.trim().split('\n').length, 1);
    const wrongPin = await runDeployr(['client', '--server', svc.url, '--fingerprint', 'AA'.repeat(32)], { input: `${PASSCODE}\n` });
    assert.equal(wrongPin.code, 3);
    assert.match(wrongPin.stderr, /does not match the fingerprint/);
  });

  test('an unreachable server and end of input give one-line errors and a non-zero exit', async () => {
    const unreachable = await runDeployr(['client', '--server', 'https://127.0.0.1:1', '--ca', svc.caFile]);
    assert.notEqual(unreachable.code, 0);
    assert.match(unreachable.stderr, /Cannot reach the server/);
    const eof = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile], { input: '' });
    assert.notEqual(eof.code, 0);
    assert.match(eof.stderr, /No passcode was entered/);
  });

  test('every protected route refuses a request without a valid token with 401', async () => {
    const paths = ['/v1/task-sequences', `/v1/task-sequences/${TS_ID}`, '/v1/content-items', `/v1/content-items/${CI_ID}`];
    for (const path of paths) {
      for (const headers of [{}, { authorization: 'Bearer not-a-token' }, { authorization: 'Basic abc' }] as Record<string, string>[]) {
        const r = await httpsJson(svc.url + path, { ca, headers });
        assert.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`);
        assert.equal((r.body as { error: { code: string } }).error.code, 'TOKEN_INVALID');
      }
    }
    const ok = await login(PASSCODE);
    assert.equal(ok.status, 200);
    const { token } = ok.body as { token: string };
    const list = await httpsJson(`${svc.url}/v1/task-sequences`, { ca, token });
    assert.equal(list.status, 200);
    assert.deepEqual((list.body as { taskSequences: { id: string }[] }).taskSequences.map((t) => t.id), [TS_ID]);
    const one = await httpsJson(`${svc.url}/v1/task-sequences/${TS_ID}`, { ca, token });
    assert.equal((one.body as { name: string }).name, 'Module In-place Refresh');
    const missing = await httpsJson(`${svc.url}/v1/task-sequences/00000000-0000-0000-0000-00000000abcd`, { ca, token });
    assert.equal(missing.status, 404);
    responses.push(list.text, one.text);
  });

  test('every login failure gets the same 401 body; malformed requests get a clear 400', async () => {
    const wrong = await login('not-the-passcode');
    const empty = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: '', context: 'boot' }, ca });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.body, { error: { code: 'AUTH_FAILED', message: 'Authentication failed.' } });
    assert.equal(empty.status, 400);
    for (const body of ['{not json', JSON.stringify({ passcode: 1, context: 'boot' }), JSON.stringify({ passcode: 'x', context: 'elsewhere' }), '{"passcode":"x","context":"boot","__proto__":{"admin":true}}']) {
      const r = await httpsJson(`${svc.url}/v1/auth/passcode`, { body, ca });
      assert.equal(r.status, 400, body);
      assert.equal((r.body as { error: { code: string } }).error.code, 'INVALID_INPUT');
    }
  });

  test('tampered, expired, wrong-audience and wrongly typed tokens are refused', async () => {
    const ok = await login(PASSCODE);
    const { token } = ok.body as { token: string };
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'someone-else' })).toString('base64url')}.${s}`;
    const db = new Database(join(home, 'deployr.db'), { readonly: true });
    const row = db.prepare('SELECT kid, private_jwk FROM signing_keys').get() as { kid: string; private_jwk: string };
    db.close();
    // The key is sealed at rest: the test holds the home, so it opens it with the home's KEK file.
    const kek = kekFromBytes(Buffer.from(readFileSync(join(home, 'keys', 'signing-kek'), 'utf8').trim(), 'hex'), 'signing-kek');
    const key = (await importJWK(unsealPrivateKey(kek, row.kid, row.private_jwk), 'EdDSA')) as CryptoKey;
    const now = Math.floor(Date.now() / 1000);
    const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
      new SignJWT({ ...payload, ...claims }).setProtectedHeader({ alg: 'EdDSA', typ: 'deployr-session+jwt', kid: row.kid, ...header }).sign(key);
    const control = await sign({});
    const expired = await sign({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 });
    const wrongAudience = await sign({ aud: 'urn:someone-else' });
    const wrongType = await sign({}, { typ: 'at+jwt' });
    const controlRes = await httpsJson(`${svc.url}/v1/task-sequences`, { ca, token: control });
    assert.equal(controlRes.status, 200, 'a correctly re-signed token works, so the refusals below are for their flaw');
    for (const [name, bad] of [['tampered', tampered], ['expired', expired], ['wrong audience', wrongAudience], ['wrong type', wrongType]] as const) {
      const r = await httpsJson(`${svc.url}/v1/task-sequences`, { ca, token: bad });
      assert.equal(r.status, 401, name);
    }
  });

  test('changing the passcode while the service runs: old passcode and old tokens refused within 2 s, the new one works', async () => {
    const before = await login(PASSCODE);
    const { token } = before.body as { token: string };
    assert.equal((await httpsJson(`${svc.url}/v1/task-sequences`, { ca, token })).status, 200);
    const changed = await setPasscode(home, NEW_PASSCODE);
    assert.equal(changed.code, 0, changed.stderr);
    const started = Date.now();
    await waitFor(async () => (await httpsJson(`${svc.url}/v1/task-sequences`, { ca, token })).status === 401, 2000, 'the old token to be refused');
    assert.ok(Date.now() - started <= 2000);
    assert.equal((await login(PASSCODE)).status, 401);
    assert.equal((await login(NEW_PASSCODE)).status, 200);
  });

  test('audit rows record every change and login, without the passcode', async () => {
    const r = await runDeployr(['audit', '--json'], { home });
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; method: string; result: string; reason: string; source: string | null });
    assert.ok(rows.some((e) => e.kind === 'settings' && e.reason === 'passcode_set'));
    assert.ok(rows.some((e) => e.kind === 'settings' && e.reason === 'passcode_changed'));
    assert.ok(rows.some((e) => e.kind === 'login' && e.result === 'failure' && e.reason === 'wrong_passcode' && e.source === '127.0.0.1'));
    assert.ok(rows.some((e) => e.kind === 'login' && e.result === 'success'));
    assert.ok(rows.some((e) => e.kind === 'login' && e.reason === 'not_configured'));
    const verify = await runDeployr(['audit', 'verify'], { home });
    assert.equal(verify.code, 0, verify.stdout);
  });

  test('configure show prints every setting, the passcode only as set with its age', async () => {
    const r = await runDeployr(['configure', 'show'], { home });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Passcode: set \(last changed .*generation 2\)/);
    assert.match(r.stdout, /Methods in the client's order: passcode/);
    assert.doesNotMatch(r.stdout, /argon2/);
  });

  test('the passcodes appear nowhere in plain text: not in any file under the home, the logs, or any response', async () => {
    await svc.stop();
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path); else files.push(path);
      }
    };
    walk(home);
    assert.ok(files.some((f) => f.endsWith('deployr.db')));
    for (const secret of [PASSCODE, NEW_PASSCODE]) {
      const needles = [Buffer.from(secret, 'utf8'), Buffer.from(secret, 'utf16le')];
      for (const f of files) {
        const bytes = readFileSync(f);
        for (const n of needles) assert.equal(bytes.indexOf(n), -1, `${secret} found in ${f}`);
      }
      assert.ok(!svc.output().includes(secret), 'not in the service log');
      for (const body of responses) assert.ok(!body.includes(secret), 'not in a response');
    }
  });
});
