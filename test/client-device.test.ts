// End to end: the device id at every sign-in, the machine's description with the run, checks before sign-in, and an expired session mid-run.

import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runDeployr, setPasscode, startService, tempHome } from './helpers/deployr-process.js';
import { fieldFixture, PASSCODE, RUN_COMMAND_LINE, runIdOf } from './helpers/field-fixture.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

describe('the client naming its device and checking its input', () => {
  const f = fieldFixture('device');
  const { work, cli, startClient, importTs } = f;

  test('the device id goes with every sign-in: audit and throttle list show it', async () => {
    const state = join(work, 'state-device');
    const r = await runDeployr(['client', '--server', f.svc().url, '--ca', f.svc().caFile, '--state-dir', state], {
      input: `not-the-passcode\n${PASSCODE}\n`, env: { DEPLOYR_HOME: join(work, 'nowhere') },
    });
    assert.match(r.stdout, /Signed in \(passcode\)/, r.stdout + r.stderr);
    const device = readFileSync(join(state, 'device-id'), 'utf8').trim();
    assert.match(device, /^[0-9a-f-]{36}$/);
    const audit = (await cli(['audit', '--kind', 'login'])).stdout.split('\n').filter((l) => l.includes(`\t${device}`));
    assert.ok(audit.some((l) => /\tpasscode\tfailure\t/.test(l)), `no failed login with the device in:\n${audit.join('\n')}`);
    assert.ok(audit.some((l) => /\tpasscode\tsuccess\t/.test(l)), `no successful login with the device in:\n${audit.join('\n')}`);
    // A successful sign-in clears the counters: one more wrong passcode, and the input ends.
    await runDeployr(['client', '--server', f.svc().url, '--ca', f.svc().caFile, '--state-dir', state], { input: 'still-not-it\n', env: { DEPLOYR_HOME: join(work, 'nowhere') } });
    const throttle = await cli(['throttle', 'list']);
    assert.match(throttle.stdout, new RegExp(`device ${device}`), throttle.stdout);
  });

  test('the run carries the machine: hostname, MAC addresses, serial number, make and model, shown by runs list and show', async () => {
    const sysfs = join(work, 'sysfs');
    mkdirSync(join(sysfs, 'class', 'dmi', 'id'), { recursive: true });
    mkdirSync(join(sysfs, 'class', 'net', 'eth0'), { recursive: true });
    mkdirSync(join(sysfs, 'class', 'net', 'lo'), { recursive: true });
    writeFileSync(join(sysfs, 'class', 'dmi', 'id', 'sys_vendor'), 'Contoso Ltd\n');
    writeFileSync(join(sysfs, 'class', 'dmi', 'id', 'product_name'), 'Deploybook 14\n');
    writeFileSync(join(sysfs, 'class', 'dmi', 'id', 'product_serial'), 'SN-4471-XZ\n');
    writeFileSync(join(sysfs, 'class', 'net', 'eth0', 'address'), '52:54:00:12:34:56\n');
    writeFileSync(join(sysfs, 'class', 'net', 'lo', 'address'), '00:00:00:00:00:00\n');
    const tsId = await importTs(taskSequence('Named machine', [step('Hi', RUN_COMMAND_LINE, { CommandLine: 'echo hi' })]));
    const r = await startClient(f.svc(), ['--fullos', '--ts', tsId], join(work, 'state-machine'), { DEPLOYR_VAR_Passcode: PASSCODE, DEPLOYR_SYSFS_ROOT: sysfs }).done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const runId = runIdOf(r.stdout);
    const shown = await cli(['runs', 'show', runId]);
    assert.match(shown.stdout, /machine: hostname \S+; Contoso Ltd Deploybook 14; serial SN-4471-XZ; MAC 52:54:00:12:34:56/);
    const listed = (await cli(['runs', 'list'])).stdout.split('\n').find((l) => l.startsWith(runId)) ?? '';
    assert.match(listed, /device \S+ \([0-9a-f-]{36}\)/);
  });

  test('--ts is checked before any sign-in; HOST:PORT means https; Passcode without --fullos is noted; a wrong --ca names the certificate presented', async () => {
    const before = (await cli(['audit', '--kind', 'login'])).stdout.split('\n').length;
    const badTs = await runDeployr(['client', '--server', f.svc().url, '--ca', f.svc().caFile, '--ts', 'garbage', '--state-dir', join(work, 'state-badts')], { input: `${PASSCODE}\n` });
    assert.equal(badTs.code, 1);
    assert.match(badTs.stderr, /--ts must be a task sequence id, <guid> or <guid>:<version>/);
    assert.equal((await cli(['audit', '--kind', 'login'])).stdout.split('\n').length, before, 'no sign-in was attempted');

    const noScheme = await runDeployr(['client', '--server', `127.0.0.1:${f.svc().port}`, '--ca', f.svc().caFile, '--state-dir', join(work, 'state-noscheme')], {
      input: `${PASSCODE}\n`, env: { DEPLOYR_VAR_Passcode: 'anything' },
    });
    assert.match(noScheme.stdout, /Signed in \(passcode\)/, noScheme.stdout + noScheme.stderr);
    assert.match(noScheme.stdout, /the Passcode variable is used only with --fullos/);

    const { home: other, cleanup: cleanupOther } = tempHome('deployr-otherca-');
    try {
      const otherSvc = await startService({ home: other });
      await otherSvc.stop();
      const wrongCa = await runDeployr(['client', '--server', f.svc().url, '--ca', otherSvc.caFile, '--state-dir', join(work, 'state-wrongca')], { input: `${PASSCODE}\n` });
      assert.equal(wrongCa.code, 3);
      const presented = f.svc().fingerprint;
      assert.match(wrongCa.stderr, new RegExp(`is not trusted: it presented ".*" \\(SHA-256 ${presented}\\), which does not match the --ca file: it holds ".*" \\(SHA-256 ${otherSvc.fingerprint}\\)`));
    } finally {
      cleanupOther();
    }
  });

  test('a session that expires mid-run is renewed without a person where the method allows; otherwise the run stops with its state kept instead of prompting', async () => {
    const { home: home5, cleanup: cleanup5 } = tempHome('deployr-expiry-');
    try {
      assert.equal((await setPasscode(home5, PASSCODE)).code, 0);
      const server = await startService({ home: home5, env: { DEPLOYR_TOKEN_TTL: '3' } });
      try {
        // Tokens live 3 s (and the server allows 5 s of clock skew): the first step outlasts them.
        const tsId = await importTs(taskSequence('Outlives its token', [
          step('Sleeps', RUN_COMMAND_LINE, { CommandLine: 'sleep 10' }),
          step('Next', RUN_COMMAND_LINE, { CommandLine: 'echo next' }),
        ]), home5);
        // The Passcode variable (full OS): signed in again without anyone.
        const unattended = await startClient(server, ['--fullos', '--ts', tsId], join(work, 'state-expiry-var'), { DEPLOYR_VAR_Passcode: PASSCODE }).done;
        assert.equal(unattended.code, 0, unattended.stdout + unattended.stderr);
        assert.match(unattended.stdout, /The session expired; signed in again \(passcode\)/);
        assert.match((await cli(['runs', 'show', runIdOf(unattended.stdout)], home5)).stdout, /succeeded/);

        // A passcode typed at the prompt: nobody is asked again mid-run; the run stops, resumable.
        const state = join(work, 'state-expiry-typed');
        const typed = await startClient(server, ['--ts', tsId], state, {}, `${PASSCODE}\n`).done;
        assert.equal(typed.code, 75, typed.stdout + typed.stderr);
        assert.match(typed.stdout, /The session expired during the run, and signing in again needs a passcode typed at the prompt; the run stops here with its state kept/);
        assert.match(typed.stdout, /its state is kept in/);
        assert.doesNotMatch(typed.stdout, /Passcode:/);
        const resumed = await startClient(server, [], state, {}, `${PASSCODE}\n`).done;
        assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
        assert.match(resumed.stdout, /Resuming run/);
      } finally {
        await server.stop();
      }
    } finally {
      cleanup5();
    }
  });
});
