// Every authentication method end to end with the real `deployr client` and `deployr serve` processes, and their audit rows.
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestPki } from './helpers/pki.js';
import { startEntraStandIn } from './helpers/entra-stand-in.js';
import {
  configureSecurityAndWait, DEPLOYR_BIN, EXPORTS_DIR, runDeployr, startService, tempHome, waitFor,
  type CommandResult, type ServiceProcess,
} from './helpers/deployr-process.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = '66666666-7777-8888-9999-000000000000';
const PASSCODE = 'Methods-Passcode-2026!';
const TS_FILE = join(EXPORTS_DIR, 'task-sequence-0b226848-app-installs.json');
const TS_ID = '0b226848-2b30-4863-ab1c-c8bbd66e1c42';
/** A task sequence id no server has: a full-OS client signs in, lists, and stops before running anything. */
const ABSENT_TS = '00000000-0000-4000-8000-000000000042';

interface AuditRow { kind: string; method: string; subject: string; result: string; reason: string; source: string | null; device: string | null; at: string; detail: Record<string, unknown> }

/** A running `deployr client` whose output can be watched while it runs. */
interface ClientProcess {
  output(): string;
  /** Resolves when `pattern` appears on standard output, with its match. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  done: Promise<CommandResult>;
}

/** Starts the real client against `service` (its own state folder; standard input as given, then closed). */
function startClient(t: TestContext, service: ServiceProcess, args: string[], options: { input?: string; env?: Record<string, string> } = {}): ClientProcess {
  const state = join(service.home, `client-state-${Math.random().toString(16).slice(2)}`);
  const child = spawn(process.execPath, [DEPLOYR_BIN, 'client', '--server', service.url, '--ca', service.caFile, ...args], {
    env: { ...process.env, DEPLOYR_CLIENT_STATE: state, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdin.end(options.input ?? '');
  const done = new Promise<CommandResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return {
    output: () => stdout,
    async waitForOutput(pattern, timeoutMs = 20_000) {
      let match: RegExpExecArray | null = null;
      await waitFor(() => (match = pattern.exec(stdout)) !== null || child.exitCode !== null, timeoutMs, `client output ${pattern}`);
      if (!match) throw new Error(`the client ended without printing ${pattern}:\n${stdout}\n${stderr}`);
      return match;
    },
    done,
  };
}

/** `deployr configure security ARGS` (the passcode, when asked, on standard input), then waits until the service applies it. */
function configure(service: ServiceProcess, args: string[]): Promise<void> {
  return configureSecurityAndWait(service.home, service, args, `${PASSCODE}\n${PASSCODE}\n`);
}

async function loginAudit(home: string): Promise<AuditRow[]> {
  const r = await runDeployr(['audit', '--json', '--kind', 'login', '--since', '10m'], { home });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRow);
}

/** A service in its own home with one task sequence imported; stopped and removed when the test ends. */
async function serviceWithTaskSequence(t: TestContext, prefix: string): Promise<ServiceProcess> {
  const home = tempHome(prefix);
  t.after(() => home.cleanup());
  const imported = await runDeployr(['ts', 'import', TS_FILE], { home: home.home });
  assert.equal(imported.code, 0, imported.stderr);
  const service = await startService({ home: home.home });
  t.after(() => service.stop());
  return service;
}

/** Signed in with `method`, then read the task sequences with the token (the chooser lists them, then input ends). */
function assertSignedInAndListed(r: CommandResult, method: string): void {
  assert.match(r.stdout, new RegExp(`Signed in \\(${method}\\); the session is valid until `), r.stdout + r.stderr);
  assert.ok(r.stdout.includes(TS_ID), `the task sequence list was read with the token:\n${r.stdout}`);
  assert.match(r.stderr, /No task sequence was chosen; stopping\./);
}

test('all four methods with the real client, in DeployR order and precedence, each audited', { concurrency: 2 }, async (t) => {
  const pki = await createTestPki();
  const machine = await pki.issueClient({ cn: 'machine-007.contoso.test' });

  const passcodeBypassCertificate = t.test('nothing configured, then anonymous, certificate (PEM and PFX), passcode', async (t) => {
    const startedAt = Date.now();
    const service = await serviceWithTaskSequence(t, 'deployr-methods-a-');
    const files = join(service.home, 'pki');
    mkdirSync(files);
    writeFileSync(join(files, 'ca.pem'), pki.root.certPem);
    writeFileSync(join(files, 'machine.crt'), machine.certPem);
    writeFileSync(join(files, 'machine.key'), machine.keyPem);

    // Nothing configured: the client keeps asking for the passcode, says why, and cannot proceed.
    const nothing = await startClient(t, service, ['--device-id', 'dev-nothing'], { input: 'guess-one\nguess-two\n' }).done;
    assert.notEqual(nothing.code, 0);
    assert.match(nothing.stdout, /The server has no authentication method configured, so no one can proceed/);
    assert.equal(nothing.stdout.match(/no passcode can be accepted/g)?.length, 2, 'asked again after each passcode');
    assert.match(nothing.stderr, /^error: The server has no authentication method configured; cannot proceed\./m);

    // Anonymous (bypass): a warning on every client start, still a token and an audit row.
    await configure(service, ['--bypass', 'on']);
    const anonymous = await startClient(t, service, ['--device-id', 'dev-anon']).done;
    assertSignedInAndListed(anonymous, 'anonymous');
    assert.match(anonymous.stdout, /WARNING: this server allows anonymous \(bypass\) authentication/);
    const shown = await runDeployr(['configure', 'show'], { home: service.home });
    assert.match(shown.stdout, /Methods in the client's order: anonymous\n/);
    assert.match(shown.stdout, /WARNING: bypass \(anonymous\) authentication is ON/);
    assert.match(service.output(), /WARNING: bypass \(anonymous\) authentication is ON/);

    // Certificate: only a client given --cert/--key (or --pfx) uses it; bypass off again.
    await configure(service, ['--bypass', 'off', '--cert-ca', join(files, 'ca.pem')]);
    const pem = startClient(t, service, ['--cert', join(files, 'machine.crt'), '--key', join(files, 'machine.key'), '--device-id', 'dev-cert']).done;
    const withoutCert = startClient(t, service, ['--device-id', 'dev-nocert']).done;
    const openssl = spawnSync('openssl', ['version']).status === 0;
    let pfx: Promise<CommandResult> | null = null;
    if (openssl) {
      const made = spawnSync('openssl', ['pkcs12', '-export', '-in', join(files, 'machine.crt'), '-inkey', join(files, 'machine.key'), '-out', join(files, 'machine.pfx'), '-passout', 'env:PFX_PASS'], {
        env: { ...process.env, PFX_PASS: 'pfx-secret-1' },
      });
      assert.equal(made.status, 0, made.stderr.toString());
      pfx = startClient(t, service, ['--pfx', join(files, 'machine.pfx'), '--device-id', 'dev-pfx'], { env: { DEPLOYR_PFX_PASSWORD: 'pfx-secret-1' } }).done;
    } else {
      t.diagnostic('openssl is not installed: the PFX client is not tested');
    }
    assertSignedInAndListed(await pem, 'certificate');
    if (pfx) assertSignedInAndListed(await pfx, 'certificate');
    const refused = await withoutCert;
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /None of the sign-in methods this server offers is available to this client \(certificate\)/);

    // Passcode: a wrong one is told and asked again; the right one signs in.
    await configure(service, ['--clear-cert', '--passcode']);
    const passcode = await startClient(t, service, ['--device-id', 'dev-passcode'], { input: `not-the-passcode\n${PASSCODE}\n` }).done;
    assertSignedInAndListed(passcode, 'passcode');
    assert.match(passcode.stdout, /The passcode is incorrect\. Try again\./);
    assert.ok(!passcode.stdout.includes(PASSCODE) && !passcode.stderr.includes(PASSCODE) && !service.output().includes(PASSCODE), 'the passcode is never echoed or logged');

    const rows = await loginAudit(service.home);
    const pick = (device: string) => rows.filter((e) => e.device === device).map((e) => [e.method, e.subject, e.result, e.reason]);
    assert.deepEqual(pick('dev-nothing'), [['passcode', 'passcode', 'failure', 'not_configured'], ['passcode', 'passcode', 'failure', 'not_configured']]);
    assert.deepEqual(pick('dev-anon'), [['anonymous', 'anonymous', 'success', 'ok']]);
    assert.deepEqual(pick('dev-cert'), [['certificate', machine.thumbprint, 'success', 'ok']]);
    if (pfx) assert.deepEqual(pick('dev-pfx'), [['certificate', machine.thumbprint, 'success', 'ok']]);
    assert.deepEqual(pick('dev-nocert'), [], 'a client without a certificate does not try it');
    assert.deepEqual(pick('dev-passcode'), [['passcode', 'passcode', 'failure', 'wrong_passcode'], ['passcode', 'passcode', 'success', 'ok']]);
    for (const row of rows) {
      assert.equal(row.source, '127.0.0.1');
      assert.ok(Date.parse(row.at) >= startedAt - 1000 && Date.parse(row.at) <= Date.now(), `time of ${row.at}`);
    }
    // The audit command's filters.
    const failures = await runDeployr(['audit', '--json', '--method', 'passcode', '--result', 'failure'], { home: service.home });
    assert.deepEqual(failures.stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditRow).reason), ['not_configured', 'not_configured', 'wrong_passcode']);
    const table = await runDeployr(['audit', '--method', 'certificate'], { home: service.home });
    assert.ok(table.stdout.includes(machine.thumbprint) && table.stdout.includes('dev-cert'));
  });

  const entra = t.test('Entra ID device flow with scripted approval; a full-OS Passcode start while Entra ID is on', async (t) => {
    const standIn = await startEntraStandIn({ tenantId: TENANT, clientId: CLIENT });
    t.after(() => standIn.close());
    const service = await serviceWithTaskSequence(t, 'deployr-methods-b-');
    const ca = join(service.home, 'ca.pem');
    writeFileSync(ca, pki.root.certPem);
    await configure(service, ['--entra-tenant', TENANT, '--entra-client-id', CLIENT, '--entra-role', 'DeployR.Technician', '--entra-authority', standIn.authority, '--passcode', '--cert-ca', ca]);
    const shown = await runDeployr(['configure', 'show'], { home: service.home });
    assert.match(shown.stdout, /Methods in the client's order: certificate → entra → passcode\n/);

    // At boot, without a certificate: certificate is skipped, Entra ID comes before the passcode.
    const client = startClient(t, service, ['--device-id', 'dev-entra']);
    const [, userCode] = await client.waitForOutput(/Enter the code: ([A-Z]{4}-[A-Z]{4})/);
    assert.match(client.output(), new RegExp(`Open ${standIn.issuer.replace(/[.]/g, '\\.')}/device`));
    assert.match(client.output(), /[▀▄█]/, 'a QR code');
    await standIn.approve(userCode!, 'tech-oid-7', { name: 'Tess Tech', username: 'tess@contoso.example' });
    const signedIn = await client.done;
    assertSignedInAndListed(signedIn, 'entra');

    // A full-OS start passing the Passcode variable is accepted while Entra ID is on; the token is
    // limited to the task sequence named at start, so one that does not exist gets no token at all
    // (the same refusal as any failure; the audit row says why).
    const fullos = await startClient(t, service, ['--fullos', '--ts', ABSENT_TS, '--device-id', 'dev-fullos'], { env: { DEPLOYR_VAR_Passcode: PASSCODE } }).done;
    assert.notEqual(fullos.code, 0);
    assert.match(fullos.stderr, /The Passcode variable was not accepted by the server/, fullos.stdout + fullos.stderr);

    const rows = await loginAudit(service.home);
    const entraRow = rows.find((e) => e.device === 'dev-entra');
    assert.deepEqual([entraRow?.method, entraRow?.subject, entraRow?.result, entraRow?.reason], ['entra', `${TENANT}/tech-oid-7`, 'success', 'ok']);
    assert.equal(entraRow?.detail.username, 'tess@contoso.example');
    assert.equal(entraRow?.detail.name, 'Tess Tech');
    const fullosRow = rows.find((e) => e.device === 'dev-fullos');
    assert.deepEqual([fullosRow?.method, fullosRow?.result, fullosRow?.reason, fullosRow?.detail.context], ['passcode', 'failure', 'unknown_task_sequence', 'fullos']);
  });

  await Promise.all([passcodeBypassCertificate, entra]);
});
