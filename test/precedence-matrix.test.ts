// The precedence matrix: every set of configured methods × boot/full OS × every credential, against one real service.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { createTestPki, type IssuedCertificate } from './helpers/pki.js';
import { startEntraStandIn, type EntraStandIn } from './helpers/entra-stand-in.js';
import { configureSecurityAndWait, EXPORTS_DIR, runDeployr, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = '66666666-7777-8888-9999-000000000000';
const PASSCODE = 'Matrix-Passcode-2026!';
const TS_A = '0b226848-2b30-4863-ab1c-c8bbd66e1c42';

type Method = 'bypass' | 'certificate' | 'entra' | 'passcode';
type Config = Record<Method, boolean>;
type Context = 'boot' | 'fullos';
type Credential = 'none' | 'passcode' | 'passcode+taskSequence' | 'wrong passcode' | 'certificate' | 'untrusted certificate' | 'entra token';
/** `token`: any task sequence; `limited`: only the one named at start; 401: refused. */
type Outcome = 'token' | 'limited' | 401;

const CREDENTIALS: Credential[] = ['none', 'passcode', 'passcode+taskSequence', 'wrong passcode', 'certificate', 'untrusted certificate', 'entra token'];
const CONTEXTS: Context[] = ['boot', 'fullos'];

/** DESIGN.md's security model, as a table: what each credential gets under each configuration. */
function expected(c: Config, context: Context, credential: Credential): Outcome {
  switch (credential) {
    case 'none': return c.bypass ? 'token' : 401;
    // With Entra ID on, a passcode is refused at boot, and a full-OS start must name its task sequence.
    case 'passcode': return c.passcode && !c.entra ? 'token' : 401;
    case 'passcode+taskSequence':
      if (!c.passcode) return 401;
      if (!c.entra) return 'token';
      return context === 'fullos' ? 'limited' : 401;
    case 'wrong passcode': return 401;
    case 'certificate': return c.certificate ? 'token' : 401;
    // A failed higher method never falls through to anonymous, bypass or not.
    case 'untrusted certificate': return 401;
    case 'entra token': return c.entra ? 'token' : 401;
  }
}

/** The methods GET /v1/auth/methods must list, in the client's order. */
function expectedMethods(c: Config): string[] {
  return [c.bypass && 'anonymous', c.certificate && 'certificate', c.entra && 'entra', c.passcode && 'passcode'].filter((m): m is string => Boolean(m));
}

let home: { home: string; cleanup(): void };
let service: ServiceProcess;
let standIn: EntraStandIn;
let serverCa: string;
let good: IssuedCertificate;
let untrusted: IssuedCertificate;
let entraToken: string;
let sourceCounter = 0;
/** The id of the second task sequence, which a token limited to TS_A must not see. */
let tsB = '';

/** Each request comes from its own loopback address, so the passcode throttle (per source) never mixes cases. */
function nextSource(): string {
  sourceCounter += 1;
  return `127.0.${Math.floor(sourceCounter / 250) + 1}.${(sourceCounter % 250) + 1}`;
}

interface Answer { status: number; body: unknown }

function call(path: string, options: { body?: unknown; token?: string; cert?: IssuedCertificate } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpsRequest(`${service.url}${path}`, {
      method: payload ? 'POST' : 'GET', agent: false, ca: serverCa, localAddress: nextSource(),
      headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
      ...(options.cert ? { cert: options.cert.certPem, key: options.cert.keyPem } : {}),
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The one change that turns `method` on or off, through the real configuration tool. */
async function toggle(method: Method, on: boolean): Promise<void> {
  const args: Record<Method, string[]> = {
    bypass: ['--bypass', on ? 'on' : 'off'],
    certificate: on ? ['--cert-ca', join(home.home, 'clients-ca.pem')] : ['--clear-cert'],
    entra: on ? ['--entra-tenant', TENANT, '--entra-client-id', CLIENT, '--entra-role', 'DeployR.Technician', '--entra-authority', standIn.authority] : ['--clear-entra'],
    passcode: on ? ['--passcode'] : ['--clear-passcode'],
  };
  await configureSecurityAndWait(home.home, service, args[method], `${PASSCODE}\n${PASSCODE}\n`);
}

/** Logs in with the credential; returns the status and the token, if any. */
async function login(context: Context, credential: Credential): Promise<{ status: number; token?: string }> {
  const answer = await (async () => {
    switch (credential) {
      case 'none': return call('/v1/auth/anonymous', { body: { context } });
      case 'passcode': return call('/v1/auth/passcode', { body: { passcode: PASSCODE, context } });
      case 'passcode+taskSequence': return call('/v1/auth/passcode', { body: { passcode: PASSCODE, context, taskSequence: `${TS_A}:1` } });
      case 'wrong passcode': return call('/v1/auth/passcode', { body: { passcode: 'not-the-passcode', context, taskSequence: TS_A } });
      case 'certificate': return call('/v1/auth/certificate', { body: { context }, cert: good });
      case 'untrusted certificate': return call('/v1/auth/certificate', { body: { context }, cert: untrusted });
      case 'entra token': return call('/v1/auth/entra', { body: { accessToken: entraToken, context } });
    }
  })();
  const token = (answer.body as { token?: string } | null)?.token;
  return { status: answer.status, ...(token ? { token } : {}) };
}

/** What a token may read: `token` sees both task sequences, `limited` only the one named. */
async function reach(token: string, credential: Credential): Promise<Outcome | string> {
  const cert = credential === 'certificate' ? good : undefined;
  const list = await call('/v1/task-sequences', { token, ...(cert ? { cert } : {}) });
  if (list.status !== 200) return `list answered ${list.status}`;
  const ids = (list.body as { taskSequences: { id: string }[] }).taskSequences.map((ts) => ts.id);
  if (ids.length === 2 && ids.includes(tsB)) return 'token';
  if (ids.length === 1 && ids[0] === TS_A) {
    const other = await call(`/v1/task-sequences/${tsB}`, { token, ...(cert ? { cert } : {}) });
    const named = await call(`/v1/task-sequences/${TS_A}`, { token, ...(cert ? { cert } : {}) });
    return other.status === 404 && named.status === 200 ? 'limited' : `limited token: other ${other.status}, named ${named.status}`;
  }
  return `sees ${ids.join(',')}`;
}

before(async () => {
  const pki = await createTestPki();
  good = await pki.issueClient({ cn: 'machine-1.contoso.test' });
  untrusted = await pki.issueClient({ cn: 'machine-1.contoso.test', issuer: 'other' });
  standIn = await startEntraStandIn({ tenantId: TENANT, clientId: CLIENT });
  entraToken = await standIn.mintToken({ oid: 'matrix-user' });
  home = tempHome('deployr-matrix-');
  writeFileSync(join(home.home, 'clients-ca.pem'), pki.root.certPem);
  const files = ['task-sequence-0b226848-app-installs.json', 'task-sequence-80e8121b-in-place-refresh.json'].map((f) => join(EXPORTS_DIR, f));
  tsB = (JSON.parse(readFileSync(files[1]!, 'utf8')) as { id: string }).id;
  const imported = await runDeployr(['ts', 'import', ...files], { home: home.home });
  assert.equal(imported.code, 0, imported.stderr);
  service = await startService({ home: home.home });
  serverCa = readFileSync(service.caFile, 'utf8');
});

after(async () => {
  await service?.stop();
  await standIn?.close();
  home?.cleanup();
});

test('every configuration × context × credential gets the outcome DESIGN.md prescribes', async () => {
  // Gray code over {passcode, entra, certificate, bypass}: each step turns exactly one method on or off.
  const order: Method[] = ['passcode', 'entra', 'certificate', 'bypass'];
  const config: Config = { bypass: false, certificate: false, entra: false, passcode: false };
  const mismatches: string[] = [];
  let logins = 0;
  for (let step = 0; step < 16; step += 1) {
    if (step > 0) {
      const changed = order[Math.log2((step ^ (step >> 1)) ^ ((step - 1) ^ ((step - 1) >> 1)))]!;
      config[changed] = !config[changed];
      await toggle(changed, config[changed]);
    }
    const label = expectedMethods(config).join('+') || 'nothing';
    const methods = await call('/v1/auth/methods');
    const listed = (methods.body as { methods: { method: string; contexts?: string[] }[]; configured: boolean });
    if (JSON.stringify(listed.methods.map((m) => m.method)) !== JSON.stringify(expectedMethods(config))) {
      mismatches.push(`[${label}] methods listed: ${listed.methods.map((m) => m.method).join(',')}`);
    }
    if (listed.configured !== expectedMethods(config).length > 0) mismatches.push(`[${label}] configured: ${listed.configured}`);
    const passcodeInfo = listed.methods.find((m) => m.method === 'passcode');
    if (passcodeInfo && JSON.stringify(passcodeInfo.contexts) !== JSON.stringify(config.entra ? ['fullos'] : ['boot', 'fullos'])) {
      mismatches.push(`[${label}] passcode contexts: ${passcodeInfo.contexts?.join(',')}`);
    }
    const noToken = await call('/v1/task-sequences');
    if (noToken.status !== 401) mismatches.push(`[${label}] no token: ${noToken.status}`);

    await Promise.all(CONTEXTS.flatMap((context) => CREDENTIALS.map(async (credential) => {
      const want = expected(config, context, credential);
      const got = await login(context, credential);
      logins += 1;
      const outcome: Outcome | string = got.status === 200 && got.token ? await reach(got.token, credential) : got.status === 401 ? 401 : `status ${got.status}`;
      if (outcome !== want) mismatches.push(`[${label}] ${context} ${credential}: expected ${want}, got ${outcome}`);
    })));
  }
  assert.deepEqual(mismatches, []);

  // Every attempt is in the audit trail, refused or not.
  const audit = await runDeployr(['audit', '--json', '--kind', 'login'], { home: home.home });
  assert.equal(audit.code, 0, audit.stderr);
  assert.equal(audit.stdout.trim().split('\n').length, logins);
});
