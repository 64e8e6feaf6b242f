// Entra ID over the real service: only access tokens for deployr's API with a `tid` are accepted; ID tokens and tokens without a tenant are refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startEntraStandIn, type EntraStandIn } from './helpers/entra-stand-in.js';
import { httpsJson, type JsonResponse } from './helpers/https-json.js';
import { configureSecurityAndWait, runDeployr, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = '66666666-7777-8888-9999-000000000000';
const ROLE = 'DeployR.Technician';

let standIn: EntraStandIn;
let home: { home: string; cleanup(): void };
let service: ServiceProcess;
let ca: string;

function entraLogin(accessToken: string, deviceId: string): Promise<JsonResponse> {
  return httpsJson(`${service.url}/v1/auth/entra`, { ca, body: { accessToken, context: 'boot', deviceId } });
}

/** The audit reason of the entra login from `deviceId`. */
async function reasonFor(deviceId: string): Promise<string | undefined> {
  const r = await runDeployr(['audit', '--json', '--method', 'entra'], { home: home.home });
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { device: string | null; reason: string });
  return rows.find((row) => row.device === deviceId)?.reason;
}

/** A form POST to the stand-in. */
async function form(path: string, body: Record<string, string>): Promise<{ status: number; body: Record<string, string> }> {
  const r = await fetch(`${standIn.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
  return { status: r.status, body: (await r.json()) as Record<string, string> };
}

/** A whole device code flow against the real stand-in: both tokens it gives. */
async function deviceFlowTokens(): Promise<{ accessToken: string; idToken: string }> {
  const resource = `api://${CLIENT}`;
  const device = await form('/device/auth', { client_id: CLIENT, scope: 'openid access', resource });
  assert.equal(device.status, 200, JSON.stringify(device.body));
  await standIn.approve(device.body.user_code as string, 'tech-7', { name: 'Tess Tech' });
  const tokens = await form('/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.body.device_code as string, client_id: CLIENT, resource });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.ok(tokens.body.access_token && tokens.body.id_token, 'the stand-in gives an access token and an ID token');
  return { accessToken: tokens.body.access_token, idToken: tokens.body.id_token };
}

before(async () => {
  standIn = await startEntraStandIn({ tenantId: TENANT, clientId: CLIENT });
  home = tempHome('deployr-entra-at-');
  await configureSecurityAndWait(home.home, null, ['--entra-tenant', TENANT, '--entra-client-id', CLIENT, '--entra-role', ROLE, '--entra-authority', standIn.authority]);
  service = await startService({ home: home.home });
  ca = readFileSync(service.caFile, 'utf8');
});

after(async () => {
  await service?.stop();
  await standIn?.close();
  home?.cleanup();
});

test('the real stand-in\'s access token is accepted; its ID token from the same sign-in is refused', async () => {
  const { accessToken, idToken } = await deviceFlowTokens();
  const ok = await entraLogin(accessToken, 'dev-flow-access');
  assert.equal(ok.status, 200, ok.text);
  const refused = await entraLogin(idToken, 'dev-flow-id');
  assert.equal(refused.status, 401, refused.text);
  assert.match(await reasonFor('dev-flow-id') ?? '', /^entra_/);
});

test('hand-signed with the stand-in\'s key: no tid → 401, ID-token-shaped → 401, Entra v2 access tokens → 200', async () => {
  const cases: [string, Promise<string>, number, string][] = [
    ['no tid', standIn.mintToken({ tid: undefined }), 401, 'entra_tenant'],
    // aud = the bare client id, a nonce, no scp, no azp: an ID token of deployr's app (with the role assigned).
    ['ID-token-shaped', standIn.mintToken({ aud: CLIENT, nonce: 'n-0S6_WzA2Mj', azp: undefined }), 401, 'entra_not_access_token'],
    ['ID token without a nonce (device flow)', standIn.mintToken({ aud: CLIENT, azp: undefined }), 401, 'entra_not_access_token'],
    ['access-token claims plus a nonce', standIn.mintToken({ aud: CLIENT, nonce: 'n-1', scp: 'access' }), 401, 'entra_not_access_token'],
    ['an at_hash', standIn.mintToken({ at_hash: 'x8z1Yg9Jm1qQ' }), 401, 'entra_not_access_token'],
    ['v2 access token, aud = client id, roles only (.default, no scope exposed)', standIn.mintToken({ aud: CLIENT }), 200, 'ok'],
    ['v2 access token, aud = api://client id, scp', standIn.mintToken({ scp: 'access_as_user' }), 200, 'ok'],
    ['v1 access token (appid instead of azp)', standIn.mintToken({ azp: undefined, appid: '77777777-0000-0000-0000-000000000000', ver: '1.0', scp: 'user_impersonation' }), 200, 'ok'],
  ];
  for (const [name, token, status, reason] of cases) {
    const device = `dev-${name.replace(/\W+/g, '-')}`;
    const r = await entraLogin(await token, device);
    assert.equal(r.status, status, `${name}: ${r.text}`);
    assert.equal(await reasonFor(device), reason, name);
  }
});
