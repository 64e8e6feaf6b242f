// End to end: the device id at every sign-in, the machine's description with the run, checks before sign-in, and an expired session mid-run.

import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runDeployr, startService, tempHome } from './helpers/deployr-process.js';
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
});
