// The admin API's later routes end to end (real service, TLS, SQLite): client-certificate trust, ending an overlap, deleting task sequences, step definitions and runs, boot media; each × every role, audited by name, no secret in a response.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXPORTS_DIR, runDeployr, setPasscode, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { signIn, type AdminClient } from './helpers/admin-session.js';
import { httpsJson } from './helpers/https-json.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const PASSCODE = 'Heron-Meadow-Lantern-31';
const PASSWORDS = { alice: 'Copper-Harbour-Kettle-58', oscar: 'Saffron-Tidal-Quarry-64', vera: 'Juniper-Orbit-Flannel-92' } as const;
type Who = keyof typeof PASSWORDS;
const ROLE_OF = { alice: 'admin', oscar: 'operator', vera: 'viewer' } as const;
const RUN_TS = '00000001-0000-0000-0000-00000000000d';
const COMMAND = '00000002-0000-0000-0000-000000000001';
const LOCKSCREEN = 'be7ccba3-e775-4f83-84c9-4c90dac3b32b';

interface ErrorBody { error: { code: string; message: string } }
interface AuditRows { entries: { subject: string; kind: string; method: string; result: string; reason: string; detail: Record<string, unknown> }[] }

describe('admin API: certificates, overlap, deletes, boot media', () => {
  const { home, cleanup } = tempHome('deployr-admin-more-');
  let service: ServiceProcess;
  let pki: TestPki;
  const s = {} as Record<Who, AdminClient>;

  /** Sends as each role; the ones below `minimum` must get 403 FORBIDDEN and change nothing; returns the allowed ones' answers. */
  const refusedBelow = async (minimum: 'operator' | 'admin', method: string, path: string, body?: unknown): Promise<void> => {
    const below: Who[] = minimum === 'admin' ? ['vera', 'oscar'] : ['vera'];
    for (const who of below) {
      const r = await s[who].send(method, path, body);
      assert.equal(r.status, 403, `${who} (${ROLE_OF[who]}) ${method} ${path}: ${r.text}`);
      assert.equal((r.body as ErrorBody).error.code, 'FORBIDDEN');
    }
  };
  const audit = async (query: string): Promise<AuditRows['entries']> => ((await s.vera.send('GET', `/v1/admin/audit?${query}`)).body as AuditRows).entries;

  before(async () => {
    pki = await createTestPki();
    // One after the other: two processes opening a fresh home at once can race on its first migration.
    const set = await setPasscode(home, PASSCODE);
    const add = await runDeployr(['admin', 'add', 'alice', '--role', 'admin'], { home, input: `${PASSWORDS.alice}\n${PASSWORDS.alice}\n` });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(add.code, 0, add.stderr);
    service = await startService({ home });
    s.alice = await signIn(service.url, 'alice', PASSWORDS.alice);
    for (const who of ['oscar', 'vera'] as const) {
      const r = await s.alice.send('POST', '/v1/admin/administrators', { name: who, role: ROLE_OF[who], password: PASSWORDS[who] });
      assert.equal(r.status, 201, r.text);
      s[who] = await signIn(service.url, who, PASSWORDS[who]);
    }
  });

  after(async () => {
    await service?.stop();
    cleanup();
  });

  test('client-certificate trust: admin only; checked as the service loads it; the view names the CAs and never repeats the bundle', async () => {
    const body = { caPem: pki.root.certPem, subjectPattern: '*.lab.test', requireClientAuthEku: true };
    await refusedBelow('admin', 'PUT', '/v1/admin/security/certificate', body);
    await refusedBelow('admin', 'DELETE', '/v1/admin/security/certificate');
    assert.equal(((await s.vera.send('GET', '/v1/admin/security')).body as { certificate: unknown }).certificate, null, 'the refused ones changed nothing');

    const leaf = await pki.issueClient({ cn: 'pc1.lab.test' });
    const notCa = await s.alice.send('PUT', '/v1/admin/security/certificate', { caPem: leaf.certPem });
    assert.equal(notCa.status, 400, notCa.text);
    assert.match((notCa.body as ErrorBody).error.message, /not a CA/);
    const relativeCrl = await s.alice.send('PUT', '/v1/admin/security/certificate', { ...body, crlPath: 'clients.crl' });
    assert.equal(relativeCrl.status, 400, relativeCrl.text);
    const missingCrl = await s.alice.send('PUT', '/v1/admin/security/certificate', { ...body, crlPath: join(home, 'no-such.crl') });
    assert.equal(missingCrl.status, 400, missingCrl.text);
    const noPem = await s.alice.send('PUT', '/v1/admin/security/certificate', { caPem: 'hello' });
    assert.equal(noPem.status, 400, noPem.text);

    const crlFile = join(home, 'clients.crl');
    writeFileSync(crlFile, await pki.crl([], 'root'));
    const ok = await s.alice.send('PUT', '/v1/admin/security/certificate', { ...body, crlPath: crlFile });
    assert.equal(ok.status, 200, ok.text);
    const view = ok.body as { methods: { method: string }[]; certificate: { subjectPattern: string; crlPath: string; requireClientAuthEku: boolean; caCertificates: { subject: string; sha256: string }[] } };
    assert.ok(view.methods.some((m) => m.method === 'certificate'));
    assert.equal(view.certificate.subjectPattern, '*.lab.test');
    assert.equal(view.certificate.crlPath, crlFile);
    assert.equal(view.certificate.caCertificates.length, 1);
    assert.match(view.certificate.caCertificates[0]!.subject, /deployr Test Root CA/);
    for (const who of ['vera', 'oscar', 'alice'] as const) {
      const r = await s[who].send('GET', '/v1/admin/security');
      assert.equal(r.status, 200);
      assert.ok(!r.text.includes('BEGIN CERTIFICATE') && !r.text.includes('caPem'), 'the bundle is not repeated');
    }
    const rows = await audit('kind=settings');
    assert.ok(rows.some((e) => e.subject === 'alice' && e.reason === 'certificate_trust_set'), JSON.stringify(rows.slice(0, 5)));

    const cleared = await s.alice.send('DELETE', '/v1/admin/security/certificate');
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal((cleared.body as { certificate: unknown }).certificate, null);
    assert.ok((await audit('kind=settings')).some((e) => e.subject === 'alice' && e.reason === 'certificate_trust_cleared'));
  });

  test('ending a rotation overlap: admin only; the previous passcode stops at once; audited by name', async () => {
    await refusedBelow('admin', 'POST', '/v1/admin/security/end-overlap');
    const rotated = await s.alice.send('PUT', '/v1/admin/security/passcode', { passcode: 'Amber-Silent-Willow-83', verify: 'Amber-Silent-Willow-83', overlapSeconds: 3600 });
    assert.equal(rotated.status, 200, rotated.text);
    assert.ok((rotated.body as { previousPasscodeValidUntil: string | null }).previousPasscodeValidUntil);
    const old = await httpsJson(`${service.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'boot' } });
    assert.equal(old.status, 200, 'the previous passcode works during the overlap');
    await refusedBelow('admin', 'POST', '/v1/admin/security/end-overlap');
    const ended = await s.alice.send('POST', '/v1/admin/security/end-overlap');
    assert.equal(ended.status, 200, ended.text);
    assert.equal((ended.body as { previousPasscodeValidUntil: string | null }).previousPasscodeValidUntil, null);
    const refused = await httpsJson(`${service.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'boot' } });
    assert.equal(refused.status, 401, 'the previous passcode stops at once');
    assert.ok((await audit('kind=settings')).some((e) => e.subject === 'alice' && e.reason === 'overlap_ended'));
    const again = await s.alice.send('POST', '/v1/admin/security/end-overlap');
    assert.equal(again.status, 200);
    assert.ok((again.body as { warnings: string[] }).warnings.some((w) => /No rotation overlap/.test(w)));
    assert.ok(!ended.text.includes('Amber-Silent-Willow-83') && !rotated.text.includes('Amber-Silent-Willow-83'));
    const back = await s.alice.send('PUT', '/v1/admin/security/passcode', { passcode: PASSCODE, verify: PASSCODE, overlapSeconds: 0 });
    assert.equal(back.status, 200, back.text);
  });

  test('deleting task sequences: operator and admin; refused with CONFLICT while another task sequence runs it; audited; the CLI too', async () => {
    const child = taskSequence('Child module', [step('Echo', COMMAND, { CommandLine: 'true' })]);
    const parent = taskSequence('Parent', [step('Run module', RUN_TS, { childTaskSequenceId: `${child.id as string}:1` })]);
    for (const ts of [child, parent]) assert.equal((await s.oscar.send('POST', '/v1/admin/task-sequences', ts)).status, 201);
    await refusedBelow('operator', 'DELETE', `/v1/admin/task-sequences/${child.id as string}`);
    const conflict = await s.oscar.send('DELETE', `/v1/admin/task-sequences/${child.id as string}`);
    assert.equal(conflict.status, 409, conflict.text);
    assert.equal((conflict.body as ErrorBody).error.code, 'CONFLICT');
    assert.match((conflict.body as ErrorBody).error.message, /is run by "Parent"/);
    assert.equal((await s.vera.send('GET', `/v1/admin/task-sequences/${child.id as string}`)).status, 200, 'still there');

    const gone = await s.oscar.send('DELETE', `/v1/admin/task-sequences/${parent.id as string}`);
    assert.equal(gone.status, 200, gone.text);
    assert.deepEqual(gone.body, { deleted: parent.id, name: 'Parent' });
    assert.equal((await s.vera.send('GET', `/v1/admin/task-sequences/${parent.id as string}`)).status, 404);
    assert.equal((await s.alice.send('DELETE', `/v1/admin/task-sequences/${parent.id as string}`)).status, 404);
    const rows = await audit('kind=task-sequence&method=delete');
    assert.ok(rows.some((e) => e.subject === 'oscar' && e.result === 'deleted' && e.detail.id === parent.id));

    // The CLI goes through the same use case (the local administrator, audited as admin).
    const cli = await runDeployr(['ts', 'delete', child.id as string], { home });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /Deleted task sequence "Child module"/);
    assert.equal((await s.vera.send('GET', `/v1/admin/task-sequences/${child.id as string}`)).status, 404);
    const missing = await runDeployr(['ts', 'delete', child.id as string], { home });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No task sequence/);
  });

  test('deleting step definitions: operator and admin; refused with CONFLICT while a task sequence uses it; audited', async () => {
    const def = JSON.parse(readFileSync(join(EXPORTS_DIR, 'step-definition-be7ccba3-lockscreen.json'), 'utf8').replace(/^\uFEFF/, '')) as Json;
    assert.equal((await s.oscar.send('POST', '/v1/admin/step-definitions', def)).status, 201);
    const user = taskSequence('Uses lockscreen', [step('Lockscreen', LOCKSCREEN)]);
    assert.equal((await s.oscar.send('POST', '/v1/admin/task-sequences', user)).status, 201);
    await refusedBelow('operator', 'DELETE', `/v1/admin/step-definitions/${LOCKSCREEN}`);
    const conflict = await s.alice.send('DELETE', `/v1/admin/step-definitions/${LOCKSCREEN}`);
    assert.equal(conflict.status, 409, conflict.text);
    assert.match((conflict.body as ErrorBody).error.message, /used by task sequence "Uses lockscreen"/);
    assert.equal((await s.oscar.send('DELETE', `/v1/admin/task-sequences/${user.id as string}`)).status, 200);
    const gone = await s.alice.send('DELETE', `/v1/admin/step-definitions/${LOCKSCREEN}`);
    assert.equal(gone.status, 200, gone.text);
    assert.equal((await s.vera.send('GET', `/v1/admin/step-definitions/${LOCKSCREEN}`)).status, 404);
    assert.ok((await audit('kind=step-definition&method=delete')).some((e) => e.subject === 'alice' && e.detail.id === LOCKSCREEN));
  });

  test('deleting one run: operator and admin; its steps and log go; audited by name', async () => {
    const ts = taskSequence('Short', [step('Echo', COMMAND, { CommandLine: 'true' })]);
    assert.equal((await s.oscar.send('POST', '/v1/admin/task-sequences', ts)).status, 201);
    const login = await httpsJson(`${service.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'fullos' } });
    assert.equal(login.status, 200, login.text);
    const token = (login.body as { token: string }).token;
    const created = await httpsJson(`${service.url}/v1/runs`, { token, body: { taskSequenceId: ts.id, versionNo: 1, deviceId: 'pc-delete-me' } });
    assert.equal(created.status, 201, created.text);
    const id = (created.body as { id: string }).id;
    const reported = await httpsJson(`${service.url}/v1/runs/${id}/steps`, { token, body: { key: randomUUID(), stepId: randomUUID(), name: 'Echo', status: 'succeeded', exitCode: 0 } });
    assert.equal(reported.status, 200, reported.text);
    await refusedBelow('operator', 'DELETE', `/v1/admin/runs/${id}`);
    assert.equal((await s.vera.send('GET', `/v1/admin/runs/${id}`)).status, 200, 'the refused ones changed nothing');
    const gone = await s.oscar.send('DELETE', `/v1/admin/runs/${id}`);
    assert.equal(gone.status, 200, gone.text);
    assert.equal((await s.vera.send('GET', `/v1/admin/runs/${id}`)).status, 404);
    assert.equal((await s.vera.send('GET', `/v1/admin/runs/${id}/log`)).status, 404);
    assert.equal((await s.oscar.send('DELETE', `/v1/admin/runs/${id}`)).status, 404);
    const rows = await audit('kind=run&method=delete');
    assert.ok(rows.some((e) => e.subject === 'oscar' && e.detail.runId === id));
  });

  test('boot media: status with download links for every role; a build is operator work, answered 202 and followed in the status', async () => {
    const empty = await s.vera.send('GET', '/v1/admin/media/status');
    assert.equal(empty.status, 200, empty.text);
    assert.equal((empty.body as { published: boolean }).published, false);
    assert.equal((empty.body as { job: unknown }).job, null);

    // Published media (written as a build writes them: the files and media.json with their hashes).
    const dir = join(home, 'media');
    mkdirSync(dir, { recursive: true });
    const files: Record<string, { size: number; sha256: string }> = {};
    for (const name of ['vmlinuz', 'initrd', 'boot.ipxe', 'deployr.iso']) {
      const bytes = Buffer.from(`${name} bytes`);
      writeFileSync(join(dir, name), bytes);
      files[name] = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    }
    writeFileSync(join(dir, 'media.json'), JSON.stringify({
      format: 1, kind: 'linux', builtAt: '2026-01-02T03:04:05.000Z', deployrVersion: 'test', kernelVersion: '6.1.0-test', nodeVersion: 'v20.0.0',
      server: 'https://deployr.lab.test:7281', fingerprint: 'AA:BB', consoles: ['tty0'], noprompt: false, secureBoot: { capable: false, reason: '--no-secure-boot' },
      initrd: { compression: 'zstd', uncompressedBytes: 1, modules: 0, firmware: 0 }, files,
    }));
    writeFileSync(join(dir, 'initrd'), 'changed after the build');
    for (const who of ['vera', 'oscar', 'alice'] as const) {
      const r = await s[who].send('GET', '/v1/admin/media/status');
      assert.equal(r.status, 200, r.text);
      const st = r.body as { published: boolean; server: string; matchesCertificate: boolean; files: { name: string; intact: boolean; url: string }[]; manifestUrl: string };
      assert.equal(st.published, true);
      assert.equal(st.server, 'https://deployr.lab.test:7281');
      assert.equal(st.matchesCertificate, false, 'pins another certificate than the service');
      assert.deepEqual(st.files.map((f) => [f.name, f.intact, f.url]), [
        ['vmlinuz', true, '/Content/Boot/vmlinuz'], ['initrd', false, '/Content/Boot/initrd'], ['boot.ipxe', true, '/Content/Boot/boot.ipxe'], ['deployr.iso', true, '/Content/Boot/deployr.iso']]);
      assert.equal(st.manifestUrl, '/Content/Boot/media.json');
    }
    const link = await httpsJson(`${service.url}/Content/Boot/boot.ipxe`);
    assert.equal(link.status, 200, 'the download link works without signing in');

    await refusedBelow('operator', 'POST', '/v1/admin/media/build', { server: 'http://deployr.lab.test' });
    const bad = await s.oscar.send('POST', '/v1/admin/media/build', { zstdLevel: 40 });
    assert.equal(bad.status, 400, bad.text);
    // A build that fails at once (the media only talk HTTPS): started in the background, then reported failed.
    const started = await s.oscar.send('POST', '/v1/admin/media/build', { server: 'http://deployr.lab.test', secureBoot: false });
    assert.equal(started.status, 202, started.text);
    const job = (started.body as { job: { id: string; state: string; by: string } }).job;
    assert.equal(job.by, 'oscar');
    type Job = { id: string; state: string; error: string | null };
    let last = null as Job | null;
    for (let i = 0; i < 100 && last?.state !== 'failed'; i += 1) {
      last = ((await s.vera.send('GET', '/v1/admin/media/status')).body as { job: Job | null }).job;
      if (last?.state !== 'failed') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(last?.id, job.id);
    assert.equal(last?.state, 'failed');
    assert.match(last?.error ?? '', /https/);
    const rows = await audit('method=media-build');
    assert.ok(rows.some((e) => e.subject === 'oscar' && e.result === 'started' && e.detail.job === job.id));
    assert.ok(rows.some((e) => e.subject === 'oscar' && e.result === 'failed' && e.detail.job === job.id));
    const verify = await s.vera.send('GET', '/v1/admin/audit/verify');
    assert.equal((verify.body as { ok: boolean }).ok, true);
  });
});
