// The admin HTTP API end to end (real service, TLS, SQLite): every route × every role, sign-in throttling, CSRF and origin, no secrets, the audit chain.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDeployr, setPasscode, startService, tempHome, waitFor, type ServiceProcess } from './helpers/deployr-process.js';
import { adminRequest, originOf, signIn, type AdminClient } from './helpers/admin-session.js';
import { httpsJson } from './helpers/https-json.js';

const PASSCODE = 'Heron-Meadow-Lantern-31';
const PASSWORDS = { alice: 'Copper-Harbour-Kettle-58', oscar: 'Saffron-Tidal-Quarry-64', vera: 'Juniper-Orbit-Flannel-92' } as const;
type Role = 'admin' | 'operator' | 'viewer';
const ROLE_OF: Record<keyof typeof PASSWORDS, Role> = { alice: 'admin', oscar: 'operator', vera: 'viewer' };
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

interface OpenApi { paths: Record<string, Record<string, { 'x-deployr-role'?: Role }>> }

describe('admin API', () => {
  const { home, cleanup } = tempHome('deployr-admin-api-');
  let service: ServiceProcess;
  const sessions = {} as Record<keyof typeof PASSWORDS, AdminClient>;
  const fresh = async (who: keyof typeof PASSWORDS): Promise<AdminClient> => (sessions[who] = await signIn(service.url, who, PASSWORDS[who]));

  before(async () => {
    const [set, add] = await Promise.all([
      setPasscode(home, PASSCODE),
      runDeployr(['admin', 'add', 'alice', '--role', 'admin'], { home, input: `${PASSWORDS.alice}\n${PASSWORDS.alice}\n` }),
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(add.code, 0, add.stderr);
    service = await startService({ home });
    await fresh('alice');
    for (const who of ['oscar', 'vera'] as const) {
      const r = await sessions.alice.send('POST', '/v1/admin/administrators', { name: who, role: ROLE_OF[who], password: PASSWORDS[who] });
      assert.equal(r.status, 201, r.text);
      await fresh(who);
    }
  });

  after(async () => {
    await service?.stop();
    cleanup();
  });

  test('the session cookie is HttpOnly, Secure, SameSite=Strict, Path=/; GET session says who and the role', async () => {
    const r = await adminRequest(service.url, 'POST', '/v1/admin/session', { body: { name: 'vera', password: PASSWORDS.vera }, headers: { origin: originOf(service.url) } });
    assert.equal(r.status, 204);
    const cookie = [r.headers['set-cookie']].flat()[0] as string;
    assert.match(cookie, /^deployr_admin=[A-Za-z0-9_-]{43}; /);
    for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) assert.ok(cookie.split('; ').includes(attr), `${attr} in ${cookie}`);
    const who = await adminRequest(service.url, 'GET', '/v1/admin/session', { headers: { cookie: cookie.split(';')[0] } });
    assert.equal(who.status, 200);
    assert.equal((who.body as { name: string }).name, 'vera');
    assert.equal((who.body as { role: string }).role, 'viewer');
    assert.equal(who.headers['x-content-type-options'], 'nosniff');
    assert.equal(who.headers['cache-control'], 'no-store');
  });

  test('every admin route × every role: allowed, or 403 FORBIDDEN (table from the OpenAPI document)', async () => {
    const doc = (await httpsJson(`${service.url}/v1/openapi.json`)).body as OpenApi;
    const table: { method: string; path: string; role: Role }[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!path.startsWith('/v1/admin/')) continue;
      for (const [method, op] of Object.entries(ops)) {
        if (path === '/v1/admin/session') continue; // every role (and sign-in, none): tested on its own
        if (path === '/v1/admin/runs/events') continue; // an endless stream: tested below and in test/console.browser.ts
        assert.ok(op['x-deployr-role'], `${method} ${path} names the role it needs`);
        table.push({ method: method.toUpperCase(), path, role: op['x-deployr-role'] as Role });
      }
    }
    assert.ok(table.length >= 35, `${table.length} admin routes in the OpenAPI document`);
    // Probes that pass the guard without changing anything that matters: unknown ids, empty bodies.
    const concrete = (p: string): string => p.replace('{name}', 'nobody').replace('{version}', '1').replace('{id}', '00000000-0000-0000-0000-000000000000');
    const rows: string[] = [];
    for (const row of table) {
      for (const who of ['vera', 'oscar', 'alice'] as const) {
        // A media build with a body the schema refuses: the guard answers first, and no build starts (test/admin-api-more.test.ts starts one).
        const probe = row.path === '/v1/admin/media/build' ? { zstdLevel: 0 } : {};
        const r = await sessions[who].send(row.method, concrete(row.path), row.method === 'GET' || row.method === 'DELETE' ? undefined : probe);
        const allowed = RANK[ROLE_OF[who]] >= RANK[row.role];
        if (allowed) assert.ok(r.status !== 403 && r.status !== 401, `${who} (${ROLE_OF[who]}) ${row.method} ${row.path}: ${r.status} ${r.text}`);
        else {
          assert.equal(r.status, 403, `${who} (${ROLE_OF[who]}) ${row.method} ${row.path}: ${r.status} ${r.text}`);
          assert.equal((r.body as { error: { code: string } }).error.code, 'FORBIDDEN');
        }
        rows.push(`${row.method} ${row.path} ${who}:${r.status}`);
      }
    }
    // Restore what the admin's probes changed (DELETE /security/passcode really removes it).
    const restored = await sessions.alice.send('PUT', '/v1/admin/security/passcode', { passcode: PASSCODE, verify: PASSCODE });
    assert.equal(restored.status, 200, restored.text);
    assert.ok(rows.length === table.length * 3);
  });

  test('the live run feed answers every role with an event stream', async () => {
    for (const who of ['vera', 'oscar', 'alice'] as const) {
      const { request } = await import('node:https');
      const status = await new Promise<{ status: number; type: string }>((resolve, reject) => {
        const req = request(`${service.url}/v1/admin/runs/events`, { headers: { cookie: sessions[who].cookie }, rejectUnauthorized: false, agent: false }, (res) => {
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) });
          req.destroy();
        });
        req.on('error', (e) => (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e));
        req.end();
      });
      assert.equal(status.status, 200);
      assert.match(status.type, /^text\/event-stream/);
    }
    const none = await adminRequest(service.url, 'GET', '/v1/admin/runs/events');
    assert.equal(none.status, 401);
  });

  test('HEAD of the live run feed answers at once with the stream\'s headers and ends (it used to stay open, unanswered)', async () => {
    let timer: NodeJS.Timeout | undefined;
    const head = await Promise.race([
      adminRequest(service.url, 'HEAD', '/v1/admin/runs/events', { headers: { cookie: sessions.vera.cookie } }),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('HEAD /v1/admin/runs/events did not end within 10 s')), 10_000); }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(head.status, 200);
    assert.match(String(head.headers['content-type']), /^text\/event-stream/);
    assert.equal(head.text, '');
  });

  test('a client bearer token never opens an admin route, and the admin cookie never opens a client route', async () => {
    const login = await httpsJson(`${service.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'boot' } });
    assert.equal(login.status, 200, login.text);
    const token = (login.body as { token: string }).token;
    const withToken = await adminRequest(service.url, 'GET', '/v1/admin/security', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(withToken.status, 401);
    const clientWithCookie = await adminRequest(service.url, 'GET', '/v1/task-sequences', { headers: { cookie: sessions.alice.cookie } });
    assert.equal(clientWithCookie.status, 401);
    const clientWithToken = await httpsJson(`${service.url}/v1/task-sequences`, { token });
    assert.equal(clientWithToken.status, 200);
  });

  test('changes need the same origin and the CSRF token; a refused one changes nothing', async () => {
    const a = sessions.alice;
    const refused = [
      await a.send('PUT', '/v1/admin/security/bypass', { enabled: true }, { 'x-csrf-token': undefined }),
      await a.send('PUT', '/v1/admin/security/bypass', { enabled: true }, { 'x-csrf-token': 'A'.repeat(43) }),
      await a.send('PUT', '/v1/admin/security/bypass', { enabled: true }, { 'x-csrf-token': sessions.vera.csrf }),
      await a.send('PUT', '/v1/admin/security/bypass', { enabled: true }, { origin: 'https://evil.example:7281' }),
      await a.send('PUT', '/v1/admin/security/bypass', { enabled: true }, { origin: undefined }),
      await a.send('PUT', '/v1/admin/security/bypass', { enabled: true }, { 'sec-fetch-site': 'cross-site' }),
      await a.send('PUT', '/v1/admin/security/bypass', { enabled: true }, { 'sec-fetch-site': 'same-site' }),
      await adminRequest(service.url, 'POST', '/v1/admin/session', { body: { name: 'alice', password: PASSWORDS.alice }, headers: { origin: 'https://evil.example' } }),
    ];
    for (const r of refused) {
      assert.equal(r.status, 403, r.text);
      assert.equal((r.body as { error: { code: string } }).error.code, 'FORBIDDEN');
    }
    const s = await a.send('GET', '/v1/admin/security');
    assert.equal((s.body as { bypass: boolean }).bypass, false, 'nothing changed');
    const ok = await a.send('PUT', '/v1/admin/security/rotation', { remindAfterSeconds: 90 * 86400 });
    assert.equal(ok.status, 200, ok.text);
  });

  test('sign-in: every failure answers the same; failures are throttled per source like passcode logins, persisted and audited', async () => {
    const attempt = (name: string, password: string) => adminRequest(service.url, 'POST', '/v1/admin/session', { body: { name, password }, headers: { origin: originOf(service.url) } });
    const wrong = await attempt('oscar', 'Not-The-Password-1');
    const unknown = await attempt('mallory', 'Not-The-Password-1');
    const badName = await attempt('Robert"); DROP', 'x');
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(badName.status, 401);
    assert.equal(wrong.text, unknown.text);
    assert.equal(wrong.text, badName.text);
    assert.equal(wrong.headers['set-cookie'], undefined);
    // oscar's source has had one counted failure; 3 are free, then the source waits (429 + Retry-After), even with the right password.
    let throttled = null;
    for (let i = 2; i <= 6 && !throttled; i += 1) {
      const r = await attempt('oscar', `Not-The-Password-${i}`);
      if (r.status === 429) throttled = r;
      else assert.equal(r.status, 401);
    }
    assert.ok(throttled, 'throttled after the free failures');
    assert.ok(Number(throttled.headers['retry-after']) >= 1);
    const right = await attempt('oscar', PASSWORDS.oscar);
    assert.equal(right.status, 429, 'the right password waits too');
    // Persisted in the store with the passcode logins' counters (GET /v1/admin/throttle reads the store, as `deployr throttle list` does).
    const list = (await sessions.alice.send('GET', '/v1/admin/throttle')).body as { counters: { deviceId: string | null; failures: number }[] };
    assert.ok(list.counters.some((c) => c.deviceId === 'admin:oscar' && c.failures >= 3), JSON.stringify(list));
    const rows = ((await sessions.vera.send('GET', '/v1/admin/audit?kind=login&method=admin')).body as { entries: { subject: string; result: string; reason: string }[] }).entries;
    assert.ok(rows.some((r) => r.subject === 'oscar' && r.reason === 'wrong_password'));
    assert.ok(rows.some((r) => r.subject === '(unknown)' && r.reason === 'unknown_administrator'));
    assert.ok(rows.some((r) => r.subject === 'oscar' && r.reason === 'throttled'));
    assert.ok(rows.some((r) => r.subject === 'alice' && r.result === 'success'));
    assert.ok(!rows.some((r) => /mallory|Robert/.test(r.subject)), 'an unknown name is never written');
    const cleared = await sessions.alice.send('POST', '/v1/admin/throttle/clear', { all: true });
    assert.equal(cleared.status, 200, cleared.text);
    await fresh('oscar');
  });

  test('admin actions are in the audit chain with the administrator\'s name; the chain verifies', async () => {
    const r = await sessions.alice.send('PUT', '/v1/admin/security/bypass', { enabled: true });
    assert.equal(r.status, 200, r.text);
    assert.equal((await sessions.alice.send('PUT', '/v1/admin/security/bypass', { enabled: false })).status, 200);
    const imported = await sessions.oscar.send('POST', '/v1/admin/task-sequences', JSON.parse(readFileSync(join(process.cwd(), 'test/fixtures/deployr-exports/task-sequence-b09560a1-os-configuration.json'), 'utf8').replace(/^\uFEFF/, '')));
    assert.equal(imported.status, 201, imported.text);
    const audit = await sessions.vera.send('GET', '/v1/admin/audit?q=alice');
    const entries = (audit.body as { entries: { subject: string; reason: string; source: string; kind: string }[] }).entries;
    assert.ok(entries.some((e) => e.subject === 'alice' && e.reason === 'bypass_on' && e.source === '127.0.0.1'));
    assert.ok(entries.some((e) => e.subject === 'alice' && e.kind === 'administrator' && e.reason === 'administrator_added'));
    const byOscar = (await sessions.vera.send('GET', '/v1/admin/audit?kind=task-sequence')).body as { entries: { subject: string }[] };
    assert.ok(byOscar.entries.some((e) => e.subject === 'oscar'));
    const verify = await sessions.vera.send('GET', '/v1/admin/audit/verify');
    assert.equal((verify.body as { ok: boolean }).ok, true);
  });

  test('a role change or new password ends the administrator\'s sessions at once', async () => {
    const vera = await signIn(service.url, 'vera', PASSWORDS.vera);
    assert.equal((await vera.send('GET', '/v1/admin/security')).status, 200);
    assert.equal((await sessions.alice.send('PUT', '/v1/admin/administrators/vera/role', { role: 'operator' })).status, 200);
    assert.equal((await vera.send('GET', '/v1/admin/security')).status, 401);
    assert.equal((await sessions.alice.send('PUT', '/v1/admin/administrators/vera/role', { role: 'viewer' })).status, 200);
    const demoteLast = await sessions.alice.send('PUT', '/v1/admin/administrators/alice/role', { role: 'viewer' });
    assert.equal(demoteLast.status, 409);
    const out = await sessions.alice.send('DELETE', '/v1/admin/session');
    assert.equal(out.status, 204);
    assert.equal((await sessions.alice.send('GET', '/v1/admin/session')).status, 401);
    await fresh('alice');
    await fresh('vera');
  });

  test('no response carries a secret: passcode, passwords, hashes, keys', async () => {
    const newPasscode = 'Marble-Quiet-Orchard-47';
    const set = await sessions.alice.send('PUT', '/v1/admin/security/passcode', { passcode: newPasscode, verify: newPasscode });
    assert.equal(set.status, 200, set.text);
    const mismatch = await sessions.alice.send('PUT', '/v1/admin/security/passcode', { passcode: 'Marble-Quiet-Orchard-48', verify: 'Marble-Quiet-Orchard-49' });
    assert.equal(mismatch.status, 400);
    const weak = await sessions.alice.send('POST', '/v1/admin/administrators', { name: 'weak', role: 'viewer', password: 'password123' });
    assert.equal(weak.status, 400);
    const doc = (await httpsJson(`${service.url}/v1/openapi.json`)).body as OpenApi;
    const bodies: string[] = [set.text, mismatch.text, weak.text];
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!ops.get || !path.startsWith('/v1/admin/') || path.includes('{') || path.endsWith('/events')) continue;
      bodies.push((await sessions.alice.send('GET', path)).text);
    }
    const auditKey = readFileSync(join(home, 'audit.key'), 'utf8').trim();
    const all = bodies.join('\n');
    assert.ok(all.includes('"methods"') && all.includes('"administrators"') && all.includes('"entries"'));
    for (const secret of [newPasscode, PASSCODE, 'password123', 'Marble-Quiet-Orchard-48', ...Object.values(PASSWORDS), '$argon2', auditKey, 'privateJwk', 'passwordHash', '"hash"']) {
      assert.ok(!all.includes(secret), `a response contains ${secret.slice(0, 6)}…`);
    }
    await waitFor(async () => (await httpsJson(`${service.url}/v1/auth/passcode`, { body: { passcode: newPasscode, context: 'boot' } })).status === 200, 10_000, 'the new passcode works');
  });
});

