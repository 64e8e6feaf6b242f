// Entra ID authentication over the real service: refused tokens with their audit reasons, and an unreachable authority.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEntraStandIn, type EntraStandIn } from './helpers/entra-stand-in.js';
import { httpsJson, type JsonResponse } from './helpers/https-json.js';
import { configureSecurityAndWait, runDeployr, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const OTHER_TENANT = '99999999-8888-7777-6666-555555555555';
const CLIENT = '66666666-7777-8888-9999-000000000000';
const ROLE = 'DeployR.Technician';

interface AuditRow { method: string; subject: string; result: string; reason: string; source: string | null; device: string | null; detail: Record<string, unknown> }

let standIn: EntraStandIn;
let home: { home: string; cleanup(): void };
let service: ServiceProcess;
let ca: string;



/** Runs `deployr configure security ARGS` and waits until the service has applied it. */
const configure = (args: string[]): Promise<void> => configureSecurityAndWait(home.home, service, args);

function entraLogin(accessToken: string, deviceId: string): Promise<JsonResponse> {
  return httpsJson(`${service.url}/v1/auth/entra`, { ca, body: { accessToken, context: 'boot', deviceId } });
}

async function auditRows(): Promise<AuditRow[]> {
  const r = await runDeployr(['audit', '--json', '--method', 'entra'], { home: home.home });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRow);
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

before(async () => {
  standIn = await startEntraStandIn({ tenantId: TENANT, clientId: CLIENT });
  home = tempHome('deployr-entra-auth-');
  await configure(['--entra-tenant', TENANT, '--entra-client-id', CLIENT, '--entra-role', ROLE, '--entra-authority', standIn.authority]);
  service = await startService({ home: home.home });
  ca = readFileSync(service.caFile, 'utf8');
});

after(async () => {
  await service?.stop();
  await standIn?.close();
  home?.cleanup();
});

test('GET /v1/auth/methods tells the client where and how to sign in with Entra ID', async () => {
  const r = await httpsJson(`${service.url}/v1/auth/methods`, { ca });
  assert.deepEqual(r.body, {
    methods: [{ method: 'entra', authority: standIn.authority, tenantId: TENANT, clientId: CLIENT, scope: `api://${CLIENT}/.default` }],
    configured: true,
  });
});

test('a valid token is exchanged for a token naming the user; refused tokens get one 401 body and their audit reason', async () => {
  const ok = await entraLogin(await standIn.mintToken({ oid: 'oid-42', preferred_username: 'tech@contoso.example', name: 'Tess Tech' }), 'dev-valid');
  assert.equal(ok.status, 200, ok.text);
  const { token } = ok.body as { token: string };
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string; amr: string[]; iss: string };
  assert.equal(claims.sub, `${TENANT}/oid-42`);
  assert.deepEqual(claims.amr, ['entra']);
  assert.equal((await httpsJson(`${service.url}/v1/task-sequences`, { ca, token })).status, 200);

  const cases: [string, Promise<string>, string][] = [
    ['another audience', standIn.mintToken({ aud: 'api://someone-else' }), 'entra_audience'],
    ['another tenant', standIn.mintToken({ tid: OTHER_TENANT, oid: 'intruder' }), 'entra_tenant'],
    ['role missing', standIn.mintToken({ roles: undefined }), 'entra_role'],
    ['another role', standIn.mintToken({ roles: ['Some.Other.Role'] }), 'entra_role'],
    ['expired', standIn.mintToken({}, { expiresIn: -3600 }), 'entra_expired'],
    ['unknown signing key', standIn.mintToken({}, { signWithUnknownKey: true }), 'entra_unknown_key'],
    ['not a JWT', Promise.resolve('not-a-jwt'), 'entra_malformed'],
  ];
  const bodies = new Set<string>();
  for (const [name, minted] of cases) {
    const r = await entraLogin(await minted, `dev-${name.replaceAll(' ', '-')}`);
    assert.equal(r.status, 401, `${name}: ${r.text}`);
    bodies.add(r.text);
  }
  assert.deepEqual([...bodies], [JSON.stringify({ error: { code: 'AUTH_FAILED', message: 'Authentication failed.' } })]);

  const rows = await auditRows();
  const success = rows.find((e) => e.device === 'dev-valid');
  assert.equal(success?.result, 'success');
  assert.equal(success?.subject, `${TENANT}/oid-42`);
  assert.equal(success?.detail.username, 'tech@contoso.example');
  assert.equal(success?.detail.name, 'Tess Tech');
  for (const [name, , reason] of cases) {
    const row = rows.find((e) => e.device === `dev-${name.replaceAll(' ', '-')}`);
    assert.equal(row?.result, 'failure', name);
    assert.equal(row?.reason, reason, name);
    assert.equal(row?.source, '127.0.0.1');
  }
  assert.deepEqual(rows.find((e) => e.device === 'dev-another-tenant')?.detail.claimed, { tenantId: OTHER_TENANT, objectId: 'intruder' }, 'what the refused token claimed, for the audit');
  const logged = service.output();
  assert.ok(!logged.includes(token), 'the issued token is never logged');
});

test('an unreachable authority answers 503 with a clear message; the service keeps running', async () => {
  const valid = await standIn.mintToken();
  await configure(['--entra-tenant', TENANT, '--entra-client-id', CLIENT, '--entra-role', ROLE, '--entra-authority', `http://127.0.0.1:${await closedPort()}`]);
  const r = await entraLogin(valid, 'dev-unreachable');
  assert.equal(r.status, 503, r.text);
  const body = r.body as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'UNAVAILABLE');
  assert.match(body.error.message, /Entra ID cannot be reached/);
  assert.ok(!r.text.includes(valid));

  assert.equal((await httpsJson(`${service.url}/v1/health`, { ca })).status, 200);
  assert.equal((await entraLogin(valid, 'dev-unreachable')).status, 503, 'again, without a crash');
  assert.equal(service.child.exitCode, null);
  const rows = (await auditRows()).filter((e) => e.device === 'dev-unreachable');
  assert.deepEqual(rows.map((e) => [e.result, e.reason]), [['failure', 'entra_unreachable'], ['failure', 'entra_unreachable']]);

  // Back to the reachable authority: the same token is accepted.
  await configure(['--entra-tenant', TENANT, '--entra-client-id', CLIENT, '--entra-role', ROLE, '--entra-authority', standIn.authority]);
  assert.equal((await entraLogin(valid, 'dev-back')).status, 200);
});
