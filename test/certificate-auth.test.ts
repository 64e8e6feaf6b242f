// Certificate authentication over the real service: refused certificates with their audit reasons, CRL reload, token binding.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { createTestPki, type ClientCertificateOptions, type IssuedCertificate, type TestPki } from './helpers/pki.js';
import { httpsJson, type JsonResponse } from './helpers/https-json.js';
import { configureSecurityAndWait, runDeployr, startService, tempHome, waitFor, type ServiceProcess } from './helpers/deployr-process.js';

interface AuditRow { method: string; subject: string; result: string; reason: string; source: string | null; device: string | null; at: string; detail: Record<string, unknown> }

let pki: TestPki;
let home: { home: string; cleanup(): void };
let service: ServiceProcess;
let ca: string;
let crlPath: string;
const certs: Record<string, IssuedCertificate> = {};

/** Writes a file by rename, so the watcher never reads it half-written. */
function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Runs `deployr configure security ARGS` and waits until the service has applied it. */
const configure = (args: string[]): Promise<void> => configureSecurityAndWait(home.home, service, args);

function certLogin(cert?: IssuedCertificate, chain = false, deviceId?: string): Promise<JsonResponse> {
  return httpsJson(`${service.url}/v1/auth/certificate`, {
    ca, body: { context: 'fullos', ...(deviceId ? { deviceId } : {}) },
    ...(cert ? { cert: chain ? cert.chainPem : cert.certPem, key: cert.keyPem } : {}),
  });
}

async function auditRows(): Promise<AuditRow[]> {
  const r = await runDeployr(['audit', '--json', '--method', 'certificate', '--result', 'failure'], { home: home.home });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRow);
}

before(async () => {
  pki = await createTestPki();
  home = tempHome('deployr-cert-auth-');
  const day = 86_400_000;
  const client = (cn: string, o: Omit<ClientCertificateOptions, 'cn'> = {}): Promise<IssuedCertificate> => pki.issueClient({ cn, ...o });
  Object.assign(certs, {
    a: await client('machine-a.contoso.test'),
    b: await client('machine-b.contoso.test', { issuer: 'intermediate' }),
    victim: await client('machine-v.contoso.test'),
    expired: await client('old.contoso.test', { notBefore: new Date(Date.now() - 3 * day), notAfter: new Date(Date.now() - day) }),
    notYetValid: await client('future.contoso.test', { notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 2 * day) }),
    wrongCa: await client('stranger.contoso.test', { issuer: 'other' }),
    serverAuthOnly: await client('server-ish.contoso.test', { eku: 'serverAuth' }),
    revoked: await client('revoked.contoso.test'),
    otherName: await client('intruder.example.net'),
  });
  writeFileSync(join(home.home, 'ca.pem'), pki.root.certPem);
  crlPath = join(home.home, 'clients.crl');
  // With a CRL, OpenSSL checks every CA of the chain: one CRL from the root and one from the intermediate.
  writeAtomically(crlPath, (await pki.crl([certs.revoked!.serialNumber], 'root')) + (await pki.crl([], 'intermediate')));
  await configure(['--cert-ca', join(home.home, 'ca.pem'), '--cert-crl', crlPath, '--cert-subject', '*.contoso.test']);
  service = await startService({ home: home.home });
  ca = readFileSync(service.caFile, 'utf8');
});

after(async () => {
  await service?.stop();
  home?.cleanup();
});

test('GET /v1/auth/methods names certificate with the trusted CA, never a secret', async () => {
  const r = await httpsJson(`${service.url}/v1/auth/methods`, { ca });
  assert.deepEqual(r.body, { methods: [{ method: 'certificate', issuers: ['CN=deployr Test Root CA, O=deployr tests'] }], configured: true });
});

test('refused certificates: every one gets the same 401 body, and the audit trail has its reason', async () => {
  const cases: [string, IssuedCertificate | undefined, boolean, string][] = [
    ['expired', certs.expired, false, 'cert_expired'],
    ['not yet valid', certs.notYetValid, false, 'cert_not_yet_valid'],
    ['wrong CA', certs.wrongCa, false, 'cert_untrusted'],
    ['missing intermediate', certs.b, false, 'cert_untrusted'],
    ['no clientAuth EKU', certs.serverAuthOnly, false, 'cert_no_client_auth_eku'],
    ['revoked in the CRL', certs.revoked, false, 'cert_revoked'],
    ['subject does not match', certs.otherName, false, 'cert_subject_mismatch'],
    ['none presented', undefined, false, 'cert_missing'],
  ];
  const bodies = new Set<string>();
  for (const [name, cert, chain] of cases) {
    const r = await certLogin(cert, chain, `dev-${name.replaceAll(' ', '-')}`);
    assert.equal(r.status, 401, name);
    bodies.add(r.text);
  }
  assert.equal(bodies.size, 1, 'one body for every reason');
  assert.deepEqual(JSON.parse([...bodies][0]!), { error: { code: 'AUTH_FAILED', message: 'Authentication failed.' } });

  const rows = await auditRows();
  for (const [name, cert, , reason] of cases) {
    const row = rows.find((e) => e.device === `dev-${name.replaceAll(' ', '-')}`);
    assert.ok(row, `audit row for ${name}`);
    assert.equal(row.reason, reason, name);
    assert.equal(row.subject, cert ? cert.thumbprint : 'none', name);
    assert.equal(row.source, '127.0.0.1');
    assert.ok(!Number.isNaN(Date.parse(row.at)));
  }
});

test('a chain through the intermediate is accepted; the token is bound to that certificate', async () => {
  const withChain = await certLogin(certs.b, true);
  assert.equal(withChain.status, 200, withChain.text);
  const a = await certLogin(certs.a);
  assert.equal(a.status, 200, a.text);
  const { token } = a.body as { token: string };
  const cnf = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string; cnf: { 'x5t#S256': string } };
  assert.equal(cnf.sub, certs.a!.thumbprint);
  assert.equal(Buffer.from(cnf.cnf['x5t#S256'], 'base64url').toString('hex'), certs.a!.thumbprint);

  const list = (cert?: IssuedCertificate, chain = false) => httpsJson(`${service.url}/v1/task-sequences`, {
    ca, token, ...(cert ? { cert: chain ? cert.chainPem : cert.certPem, key: cert.keyPem } : {}),
  });
  assert.equal((await list(certs.a)).status, 200, 'with certificate A');
  assert.equal((await list(certs.b, true)).status, 401, 'with certificate B');
  assert.equal((await list()).status, 401, 'without a certificate');
  assert.equal((await list(certs.wrongCa)).status, 401, 'with an untrusted certificate');

  const success = await runDeployr(['audit', '--json', '--method', 'certificate', '--result', 'success'], { home: home.home });
  const rows = success.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditRow);
  const rowA = rows.find((e) => e.subject === certs.a!.thumbprint);
  assert.equal(rowA?.reason, 'ok');
  assert.equal(rowA?.detail.certificateSubject, 'CN=machine-a.contoso.test');
});

/**
 * A request on a keep-alive agent (pooled connections and cached TLS sessions, like a real client).
 * When the service closes idle connections (it does on a trust change) a request may race onto a
 * pooled socket being closed: like any keep-alive client, retry once on a reset of a reused socket.
 */
function viaAgent(agent: Agent, path: string, token?: string, retried = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${service.url}${path}`, {
      agent, method: token ? 'GET' : 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' && req.reusedSocket && !retried) resolve(viaAgent(agent, path, token, true));
      else reject(err);
    });
    req.end(token ? undefined : JSON.stringify({ context: 'fullos', deviceId: 'dev-victim' }));
  });
}

test('a CRL changed on disk is applied without a restart; a certificate-bound token follows the trust in force', async (t) => {
  // A keep-alive client: neither its pooled connection nor a resumed TLS session may outlive the old CRL.
  const agent = new Agent({ keepAlive: true, ca, cert: certs.victim!.certPem, key: certs.victim!.keyPem });
  t.after(() => agent.destroy());
  const before = await httpsJson(`${service.url}/v1/auth/certificate`, { ca, body: { context: 'fullos' }, cert: certs.victim!.certPem, key: certs.victim!.keyPem });
  assert.equal(before.status, 200, before.text);
  const { token } = before.body as { token: string };
  assert.equal(await viaAgent(agent, '/v1/task-sequences', token), 200);
  assert.equal(await viaAgent(agent, '/v1/task-sequences', token), 200);
  const pid = service.child.pid;

  writeAtomically(crlPath, (await pki.crl([certs.revoked!.serialNumber, certs.victim!.serialNumber], 'root')) + (await pki.crl([], 'intermediate')));
  await waitFor(async () => (await viaAgent(agent, '/v1/auth/certificate')) === 401, 15_000, 'the new CRL to apply');
  assert.equal(service.child.pid, pid);
  assert.equal(service.child.exitCode, null, 'still the same process');
  // The first refusal may be a request that raced the change on its old connection (cert_connection_stale,
  // answered with Connection: close); from then on the client is on a new connection, checked against the new CRL.
  const victimReasons = new Set((await auditRows()).filter((e) => e.device === 'dev-victim').map((e) => e.reason));
  assert.ok([...victimReasons].every((r) => r === 'cert_revoked' || r === 'cert_connection_stale'), [...victimReasons].join());
  assert.equal(await viaAgent(agent, '/v1/task-sequences', token), 401, 'a token bound to a now revoked certificate, keep-alive client');
  assert.equal(await viaAgent(agent, '/v1/auth/certificate'), 401);
  assert.deepEqual((await auditRows()).filter((e) => e.device === 'dev-victim').map((e) => e.reason).slice(-1), ['cert_revoked']);
  const denied = await httpsJson(`${service.url}/v1/task-sequences`, { ca, token, cert: certs.victim!.certPem, key: certs.victim!.keyPem });
  assert.equal(denied.status, 401, 'a token bound to a now revoked certificate, new connection');
  assert.equal((await certLogin(certs.a)).status, 200, 'other certificates still work');

  // Narrow the subject rule: a token issued before is checked against the rule in force.
  const a = await certLogin(certs.a);
  const tokenA = (a.body as { token: string }).token;
  await configure(['--cert-ca', join(home.home, 'ca.pem'), '--cert-crl', crlPath, '--cert-subject', 'machine-b.contoso.test']);
  const after = await httpsJson(`${service.url}/v1/task-sequences`, { ca, token: tokenA, cert: certs.a!.certPem, key: certs.a!.keyPem });
  assert.equal(after.status, 401);
  assert.equal((await certLogin(certs.a, false, 'dev-narrowed')).status, 401);
  assert.equal((await auditRows()).find((e) => e.device === 'dev-narrowed')?.reason, 'cert_subject_mismatch');
  assert.equal((await certLogin(certs.b, true)).status, 200);
});
