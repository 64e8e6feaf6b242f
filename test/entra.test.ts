// Tests of the Entra ID pieces: the device-flow client and the token validator, against a local oidc-provider stand-in.
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { startEntraStandIn } from './helpers/entra-stand-in.js';
import type { EntraStandIn, EntraStandInOptions } from './helpers/entra-stand-in.js';
import {
  DeviceFlowError,
  discoverDeviceEndpoints,
  pollDeviceFlow,
  renderDeviceCodePrompt,
  startDeviceFlow,
} from '../src/client/device-flow.js';
import type { DeviceAuthorization, DeviceEndpoints } from '../src/client/device-flow.js';
import { createEntraValidator } from '../src/auth/entra-validator.js';
import type { EntraSettings } from '../src/auth/entra-validator.js';
import { DeployrError } from '../src/domain/errors.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const OTHER_TENANT = '99999999-8888-7777-6666-555555555555';
const CLIENT = '66666666-7777-8888-9999-000000000000';
const ROLE = 'DeployR.Technician';
const EXPIRED = 'The sign-in code expired before it was approved; start again';

/** Starts a stand-in that the test closes when it ends. */
async function standIn(t: TestContext, options: Partial<EntraStandInOptions> = {}): Promise<EntraStandIn> {
  const s = await startEntraStandIn({ tenantId: TENANT, clientId: CLIENT, ...options });
  t.after(() => s.close());
  return s;
}

function settingsFor(s: { authority: string }, overrides: Partial<EntraSettings> = {}): EntraSettings {
  return { tenantId: TENANT, clientId: CLIENT, role: ROLE, authority: s.authority, ...overrides };
}

/** Discovery plus the start of a device flow. */
async function begin(s: EntraStandIn): Promise<{ endpoints: DeviceEndpoints; device: DeviceAuthorization }> {
  const endpoints = await discoverDeviceEndpoints(s.authority, TENANT);
  const device = await startDeviceFlow({
    deviceAuthorizationEndpoint: endpoints.deviceAuthorizationEndpoint,
    clientId: CLIENT,
    scope: `openid profile api://${CLIENT}/.default`,
  });
  return { endpoints, device };
}

/** Runs a whole device flow in which the technician approves at once; returns the access token. */
async function tokenFromDeviceFlow(s: EntraStandIn, accountId = 'tech-oid-1'): Promise<string> {
  const { endpoints, device } = await begin(s);
  const tokens = await pollDeviceFlow({
    tokenEndpoint: endpoints.tokenEndpoint,
    clientId: CLIENT,
    deviceCode: device.deviceCode,
    interval: device.interval,
    expiresIn: device.expiresIn,
    sleep: () => s.approve(device.userCode, accountId),
  });
  return tokens.accessToken;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts a plain HTTP server that the test closes when it ends. */
async function httpServer(t: TestContext, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Asserts that `promise` rejects with a DeployrError of `code` carrying `reason`; returns it. */
async function rejectsWith(promise: Promise<unknown>, code: 'AUTH_FAILED' | 'UNAVAILABLE', reason: string): Promise<DeployrError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof DeployrError, `expected a DeployrError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.details['reason'], reason);
  return caught;
}

test('device flow end to end: pending, scripted approval, token, validator accepts it', async (t) => {
  const s = await standIn(t);
  const { endpoints, device } = await begin(s);
  assert.equal(endpoints.issuer, `${s.authority}/${TENANT}/v2.0`);
  assert.equal(s.issuer, endpoints.issuer);
  assert.equal(device.interval, 5, 'oidc-provider sends no interval, so the RFC default applies');
  assert.match(device.userCode, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);

  const prompt = renderDeviceCodePrompt(device.userCode, device.verificationUri, device.verificationUriComplete);
  assert.ok(prompt.includes(device.userCode));
  assert.ok(prompt.includes(device.verificationUri));
  assert.match(prompt, /[▀▄█]/, 'carries a QR code');

  const sleeps: number[] = [];
  const pending: number[] = [];
  const tokens = await pollDeviceFlow({
    tokenEndpoint: endpoints.tokenEndpoint,
    clientId: CLIENT,
    deviceCode: device.deviceCode,
    interval: device.interval,
    expiresIn: device.expiresIn,
    sleep: async (ms) => {
      sleeps.push(ms);
      // The technician approves only after the client has been told "pending" once.
      if (sleeps.length === 2) await s.approve(device.userCode.toLowerCase(), 'tech-oid-1', { name: 'Test Technician', username: 'tech@contoso.example' });
    },
    onPending: ({ attempt }) => pending.push(attempt),
  });
  assert.deepEqual(sleeps, [5000, 5000]);
  assert.deepEqual(pending, [1]);
  assert.equal(s.tokenRequests, 2);
  assert.equal(typeof tokens.idToken, 'string');

  const identity = await createEntraValidator().validate(tokens.accessToken, settingsFor(s));
  assert.deepEqual(identity, {
    subject: `${TENANT}/tech-oid-1`,
    tenantId: TENANT,
    objectId: 'tech-oid-1',
    name: 'Test Technician',
    username: 'tech@contoso.example',
    roles: [ROLE],
  });
});

test('validator accepts the bare client ID as audience (v2 tokens) and falls back to sub without oid', async (t) => {
  const s = await standIn(t, { audience: CLIENT });
  const validator = createEntraValidator();
  const viaFlow = await validator.validate(await tokenFromDeviceFlow(s), settingsFor(s));
  assert.equal(viaFlow.subject, `${TENANT}/tech-oid-1`);
  const minted = await s.mintToken({ oid: undefined, sub: 'sub-only' });
  assert.equal((await validator.validate(minted, settingsFor(s))).subject, `${TENANT}/sub-only`);
});

test('slow_down adds 5 s to this and every later poll', async (t) => {
  const s = await standIn(t, { slowDownBelowMs: 60_000 });
  const { endpoints, device } = await begin(s);
  const sleeps: number[] = [];
  const slowDowns: boolean[] = [];
  const tokens = await pollDeviceFlow({
    tokenEndpoint: endpoints.tokenEndpoint,
    clientId: CLIENT,
    deviceCode: device.deviceCode,
    interval: device.interval,
    expiresIn: device.expiresIn,
    sleep: async (ms) => {
      sleeps.push(ms);
      if (sleeps.length === 3) {
        s.slowDownBelowMs = 0;
        await s.approve(device.userCode, 'tech-oid-1');
      }
    },
    onPending: ({ slowDown }) => slowDowns.push(slowDown),
  });
  assert.deepEqual(sleeps, [5000, 10_000, 15_000]);
  assert.deepEqual(slowDowns, [true, true]);
  assert.equal(typeof tokens.accessToken, 'string');
});

test('polling stops on local expiry when the authority keeps saying slow_down', async (t) => {
  const s = await standIn(t, { slowDownBelowMs: 60_000, deviceCodeTtl: 30 });
  const { endpoints, device } = await begin(s);
  assert.equal(device.expiresIn, 30);
  let clock = 1_000_000;
  const sleeps: number[] = [];
  const err = await pollDeviceFlow({
    tokenEndpoint: endpoints.tokenEndpoint,
    clientId: CLIENT,
    deviceCode: device.deviceCode,
    interval: device.interval,
    expiresIn: device.expiresIn,
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
  }).catch((e: unknown) => e);
  assert.ok(err instanceof DeviceFlowError);
  assert.equal(err.message, EXPIRED);
  assert.equal(err.code, 'expired');
  assert.deepEqual(sleeps, [5000, 10_000, 15_000], 'the third wait reaches the 30 s expiry, so no third poll');
  assert.equal(s.tokenRequests, 2);
});

test('expired_token from the authority gives the one-line expiry message', async (t) => {
  const s = await standIn(t);
  const { endpoints, device } = await begin(s);
  const err = await pollDeviceFlow({
    tokenEndpoint: endpoints.tokenEndpoint,
    clientId: CLIENT,
    deviceCode: device.deviceCode,
    interval: device.interval,
    expiresIn: device.expiresIn,
    sleep: () => s.expire(device.userCode),
  }).catch((e: unknown) => e);
  assert.ok(err instanceof DeviceFlowError);
  assert.equal(err.message, EXPIRED);
  assert.equal(err.oauthError, 'expired_token');
});

test('access_denied gives "Sign-in was declined"', async (t) => {
  const s = await standIn(t);
  const { endpoints, device } = await begin(s);
  const err = await pollDeviceFlow({
    tokenEndpoint: endpoints.tokenEndpoint,
    clientId: CLIENT,
    deviceCode: device.deviceCode,
    interval: device.interval,
    expiresIn: device.expiresIn,
    sleep: () => s.deny(device.userCode),
  }).catch((e: unknown) => e);
  assert.ok(err instanceof DeviceFlowError);
  assert.equal(err.message, 'Sign-in was declined');
  assert.equal(err.code, 'denied');
});

test('any other token error is named in one line', async (t) => {
  const s = await standIn(t);
  const { endpoints } = await begin(s);
  const err = await pollDeviceFlow({
    tokenEndpoint: endpoints.tokenEndpoint,
    clientId: CLIENT,
    deviceCode: 'not-a-device-code',
    interval: 5,
    expiresIn: 600,
    sleep: async () => {},
  }).catch((e: unknown) => e);
  assert.ok(err instanceof DeviceFlowError);
  assert.equal(err.code, 'rejected');
  assert.match(err.message, /^Sign-in failed: invalid_grant/);
  assert.doesNotMatch(err.message, /\n/);
});

test('device flow against an unreachable authority: one line naming the URL', async () => {
  const authority = `http://127.0.0.1:${await closedPort()}`;
  const err = await discoverDeviceEndpoints(authority, TENANT).catch((e: unknown) => e);
  assert.ok(err instanceof DeviceFlowError);
  assert.equal(err.code, 'unreachable');
  assert.ok(err.message.includes(`${authority}/${TENANT}/v2.0/.well-known/openid-configuration`), err.message);
  assert.doesNotMatch(err.message, /\n/);

  const start = await startDeviceFlow({ deviceAuthorizationEndpoint: `${authority}/x/devicecode`, clientId: CLIENT, scope: 'openid' }).catch(
    (e: unknown) => e,
  );
  assert.ok(start instanceof DeviceFlowError);
  assert.ok(start.message.includes(`${authority}/x/devicecode`));
});

test('validator refuses tokens the real provider issued for another audience, tenant, or without the role', async (t) => {
  const validator = createEntraValidator();
  await t.test('another audience', async (t) => {
    const s = await standIn(t, { audience: 'api://someone-else' });
    await rejectsWith(validator.validate(await tokenFromDeviceFlow(s), settingsFor(s)), 'AUTH_FAILED', 'entra_audience');
  });
  await t.test('another tenant (tid)', async (t) => {
    const s = await standIn(t, { tokenTenantId: OTHER_TENANT });
    await rejectsWith(validator.validate(await tokenFromDeviceFlow(s), settingsFor(s)), 'AUTH_FAILED', 'entra_tenant');
  });
  await t.test('role missing', async (t) => {
    const s = await standIn(t, { roles: [] });
    await rejectsWith(validator.validate(await tokenFromDeviceFlow(s), settingsFor(s)), 'AUTH_FAILED', 'entra_role');
  });
  await t.test('another role than the configured one', async (t) => {
    const s = await standIn(t, { roles: ['DeployR.Reader'] });
    await rejectsWith(validator.validate(await tokenFromDeviceFlow(s), settingsFor(s)), 'AUTH_FAILED', 'entra_role');
  });
});

test('validator refuses forged, expired and malformed tokens', async (t) => {
  const s = await standIn(t);
  const validator = createEntraValidator();
  const settings = settingsFor(s);
  const good = await tokenFromDeviceFlow(s);

  await t.test('expired beyond the 60 s tolerance', async () => {
    await rejectsWith(validator.validate(await s.mintToken({}, { expiresIn: -120 }), settings), 'AUTH_FAILED', 'entra_expired');
  });
  await t.test('expired within the tolerance is still accepted', async () => {
    const identity = await validator.validate(await s.mintToken({}, { expiresIn: -30 }), settings);
    assert.equal(identity.objectId, 'minted-user');
  });
  await t.test('not yet valid (nbf)', async () => {
    const nbf = Math.floor(Date.now() / 1000) + 600;
    await rejectsWith(validator.validate(await s.mintToken({ nbf }), settings), 'AUTH_FAILED', 'entra_expired');
  });
  await t.test('"now" is honoured', async () => {
    const later = new Date(Date.now() + 2 * 3600 * 1000);
    await rejectsWith(validator.validate(good, settings, later), 'AUTH_FAILED', 'entra_expired');
  });
  await t.test('signed with an unknown key', async () => {
    const token = await s.mintToken({}, { signWithUnknownKey: true });
    await rejectsWith(validator.validate(token, settings), 'AUTH_FAILED', 'entra_unknown_key');
  });
  await t.test('signed with another key under the published kid', async () => {
    const { kid } = JSON.parse(Buffer.from(good.split('.')[0] ?? '', 'base64url').toString()) as { kid: string };
    const token = await s.mintToken({}, { signWithUnknownKey: true, kid });
    await rejectsWith(validator.validate(token, settings), 'AUTH_FAILED', 'entra_signature');
  });
  await t.test('tampered payload', async () => {
    const [h, p, sig] = good.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    claims['oid'] = 'someone-else';
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    await rejectsWith(validator.validate(tampered, settings), 'AUTH_FAILED', 'entra_signature');
  });
  await t.test('tampered signature', async () => {
    const [h, p, sig] = good.split('.') as [string, string, string];
    const i = Math.floor(sig.length / 2);
    const flipped = `${sig.slice(0, i)}${sig[i] === 'A' ? 'B' : 'A'}${sig.slice(i + 1)}`;
    await rejectsWith(validator.validate(`${h}.${p}.${flipped}`, settings), 'AUTH_FAILED', 'entra_signature');
  });
  await t.test('HS256 and alg none are refused', async () => {
    const hs = await new SignJWT({ roles: [ROLE], tid: TENANT, oid: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(s.issuer)
      .setAudience(s.audience)
      .setExpirationTime('1h')
      .sign(new Uint8Array(32));
    await rejectsWith(validator.validate(hs, settings), 'AUTH_FAILED', 'entra_signature');
    const [, p] = good.split('.') as [string, string];
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    await rejectsWith(validator.validate(none, settings), 'AUTH_FAILED', 'entra_signature');
  });
  await t.test('another issuer (v1 issuer is only accepted from Microsoft\'s authority)', async () => {
    const token = await s.mintToken({ iss: `https://sts.windows.net/${TENANT}/` });
    await rejectsWith(validator.validate(token, settings), 'AUTH_FAILED', 'entra_issuer');
  });
  await t.test('audience and tenant and role via minted tokens', async () => {
    await rejectsWith(validator.validate(await s.mintToken({ aud: 'api://other' }), settings), 'AUTH_FAILED', 'entra_audience');
    await rejectsWith(validator.validate(await s.mintToken({ tid: OTHER_TENANT }), settings), 'AUTH_FAILED', 'entra_tenant');
    await rejectsWith(validator.validate(await s.mintToken({ roles: undefined }), settings), 'AUTH_FAILED', 'entra_role');
    await rejectsWith(validator.validate(await s.mintToken({ roles: ROLE }), settings), 'AUTH_FAILED', 'entra_role');
  });
  await t.test('another kind of JWT (typ) is refused', async () => {
    // The header check runs before any key is fetched, so the signature need not match.
    const header = Buffer.from('{"alg":"RS256","typ":"deployr-session+jwt"}').toString('base64url');
    const [, p, sig] = good.split('.') as [string, string, string];
    await rejectsWith(validator.validate(`${header}.${p}.${sig}`, settings), 'AUTH_FAILED', 'entra_malformed');
  });
  await t.test('garbage is malformed and needs no network', async () => {
    const offline = { ...settings, authority: `http://127.0.0.1:${await closedPort()}` };
    await rejectsWith(validator.validate('not.a.jwt', offline), 'AUTH_FAILED', 'entra_malformed');
    await rejectsWith(validator.validate('abc', offline), 'AUTH_FAILED', 'entra_malformed');
    await rejectsWith(validator.validate('', offline), 'AUTH_FAILED', 'entra_malformed');
  });
  await t.test('error messages are generic', async () => {
    const err = await rejectsWith(validator.validate(await s.mintToken({ tid: OTHER_TENANT }), settings), 'AUTH_FAILED', 'entra_tenant');
    assert.doesNotMatch(err.message, /tenant|tid/i);
  });
});

test('validator: unreachable authority is UNAVAILABLE, not a crash', async (t) => {
  const s = await standIn(t);
  const token = await s.mintToken();
  const validator = createEntraValidator({ fetchTimeoutMs: 300 });

  await t.test('closed port', async () => {
    const authority = `http://127.0.0.1:${await closedPort()}`;
    const err = await rejectsWith(validator.validate(token, settingsFor({ authority })), 'UNAVAILABLE', 'entra_unreachable');
    assert.equal(err.message, `Entra ID authority ${authority} is unreachable`);
  });

  await t.test('an authority that never answers times out', async (t) => {
    const authority = await httpServer(t, createServer(() => {}));
    const started = Date.now();
    await rejectsWith(validator.validate(token, settingsFor({ authority })), 'UNAVAILABLE', 'entra_unreachable');
    assert.ok(Date.now() - started < 3000);
  });

  await t.test('bad discovery document', async (t) => {
    const authority = await httpServer(t, createServer((_req, res) => res.end('{"issuer": 42}')));
    await rejectsWith(validator.validate(token, settingsFor({ authority })), 'UNAVAILABLE', 'entra_unreachable');
  });

  await t.test('keys unreachable (jwks_uri on a closed port)', async (t) => {
    const jwksUri = `http://127.0.0.1:${await closedPort()}/keys`;
    const authority = await httpServer(
      t,
      createServer((_req, res) => res.end(JSON.stringify({ issuer: s.issuer, jwks_uri: jwksUri }))),
    );
    await rejectsWith(validator.validate(token, settingsFor({ authority })), 'UNAVAILABLE', 'entra_unreachable');
  });

  await t.test('discovery is cached, and fetched again after a failure', async (t) => {
    const real = await (await fetch(`${s.issuer}/.well-known/openid-configuration`)).text();
    let requests = 0;
    const authority = await httpServer(
      t,
      createServer((_req, res) => {
        requests++;
        if (requests === 1) res.writeHead(503).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(real);
      }),
    );
    const fresh = createEntraValidator({ fetchTimeoutMs: 1000 });
    await rejectsWith(fresh.validate(token, settingsFor({ authority })), 'UNAVAILABLE', 'entra_unreachable');
    assert.equal((await fresh.validate(token, settingsFor({ authority }))).objectId, 'minted-user');
    assert.equal((await fresh.validate(token, settingsFor({ authority }))).objectId, 'minted-user');
    assert.equal(requests, 2);
  });

  await t.test('the stand-in stopped after issuing the token', async () => {
    const other = await startEntraStandIn({ tenantId: TENANT, clientId: CLIENT });
    const minted = await other.mintToken();
    await other.close();
    await rejectsWith(validator.validate(minted, settingsFor(other)), 'UNAVAILABLE', 'entra_unreachable');
  });
});
