// End to end: a client in the field: Ctrl-C and SIGTERM keep the run resumable, a short server outage is waited out, silent clients show as stale, the device is named.

import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEPLOYR_BIN, runDeployr, setPasscode, startService, tempHome, waitFor, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';
import { step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const PASSCODE = 'Marigold-Ferry-Quartz-83';
const RUN_COMMAND_LINE = '00000002-0000-0000-0000-000000000001';
const RUN_SERVER_SCRIPT = '00000002-0000-0000-0000-000000000003';

/** A client process that a test can signal while it runs. */
interface ClientProcess {
  child: ChildProcess;
  output(): string;
  done: Promise<CommandResult>;
}

/** A Run command line step that writes `marker`, then waits until `go` exists (so a test can act mid-step). */
function waitingStep(name: string, marker: string, go: string): Json {
  return step(name, RUN_COMMAND_LINE, { CommandLine: `echo started >> "${marker}"; while [ ! -e "${go}" ]; do sleep 0.1; done; echo "${name} done"` });
}

describe('the client in the field', () => {
  const { home, cleanup } = tempHome('deployr-field-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-field-work-'));
  let svc: ServiceProcess;
  const children: ChildProcess[] = [];

  const cli = (args: string[], h = home): Promise<CommandResult> => runDeployr(args, { home: h });
  const startClient = (server: ServiceProcess, args: string[], stateDir: string, env: Record<string, string> = {}, input = ''): ClientProcess => {
    const child = spawn(process.execPath, [DEPLOYR_BIN, 'client', '--server', server.url, '--ca', server.caFile, '--state-dir', stateDir, ...args], {
      env: { ...process.env, DEPLOYR_HOME: join(work, 'nowhere'), ...env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdin!.end(input);
    const done = new Promise<CommandResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    return { child, output: () => stdout + stderr, done };
  };
  const runIdOf = (text: string): string => {
    const id = /^Run ([0-9a-f-]{36}):/m.exec(text)?.[1];
    assert.ok(id, `no run id in:\n${text}`);
    return id;
  };
  async function importTs(ts: Json, h = home): Promise<string> {
    const file = join(work, `${ts.id as string}.json`);
    writeFileSync(file, JSON.stringify(ts));
    const r = await cli(['ts', 'import', file], h);
    assert.equal(r.code, 0, r.stderr);
    return ts.id as string;
  }

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    const scripts = join(home, 'content', 'Scripts');
    mkdirSync(scripts, { recursive: true });
    writeFileSync(join(scripts, 'hello.sh'), 'echo "hello from the server"\n');
    svc = await startService({ home });
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal} during a step stops it, keeps the state, shows the run as interrupted; the next start resumes and finishes it`, async () => {
      const marker = join(work, `${signal}-marker`);
      const go = join(work, `${signal}-go`);
      const tsId = await importTs(taskSequence(`Interrupted by ${signal}`, [
        step('First', RUN_COMMAND_LINE, { CommandLine: `echo first >> "${marker}.first"` }),
        waitingStep('Long', marker, go),
        step('Last', RUN_COMMAND_LINE, { CommandLine: 'echo last' }),
      ]));
      const state = join(work, `state-${signal}`);
      const env = { DEPLOYR_VAR_Passcode: PASSCODE };
      const first = startClient(svc, ['--fullos', '--ts', tsId], state, env);
      await waitFor(() => existsSync(marker), 60_000, 'the long step to start');
      first.child.kill(signal);
      const r1 = await first.done;
      assert.equal(r1.code, signal === 'SIGINT' ? 130 : 143, r1.stdout + r1.stderr);
      assert.match(r1.stdout, new RegExp(`interrupted during "Long"; its state is kept in`));
      assert.match(r1.stdout, /To resume, start the client again with the same state folder: deployr client --server \S+ --ca \S+ --state-dir /);
      assert.ok(existsSync(join(state, 'state.json')), 'the state was kept');
      const runId = runIdOf(r1.stdout);
      const shown = await cli(['runs', 'show', runId]);
      assert.match(shown.stdout, new RegExp(`Interrupted by ${signal} .* interrupted`));
      assert.match(shown.stdout, new RegExp(`interrupted by ${signal} during "Long"`));
      assert.match((await cli(['runs', 'list'])).stdout, new RegExp(`${runId}  interrupted`));

      writeFileSync(go, '');
      const r2 = await startClient(svc, [], state, env).done;
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
      assert.match(r2.stdout, new RegExp(`Resuming run ${runId}`));
      assert.equal(readFileSync(`${marker}.first`, 'utf8'), 'first\n', 'the step done before the interruption did not run again');
      assert.equal(readFileSync(marker, 'utf8'), 'started\nstarted\n', 'the interrupted step ran again');
      const after = await cli(['runs', 'show', runId]);
      assert.match(after.stdout, /succeeded/);
      assert.match(after.stdout, /\+ Long {2}\(succeeded/);
      assert.match(after.stdout, /\+ Last {2}\(succeeded/);
    });
  }

  test('the service stops for 5 s in the middle of a run: the client retries, visibly, and the run finishes', async () => {
    const { home: home2, cleanup: cleanup2 } = tempHome('deployr-outage-');
    try {
      assert.equal((await setPasscode(home2, PASSCODE)).code, 0);
      mkdirSync(join(home2, 'content', 'Scripts'), { recursive: true });
      writeFileSync(join(home2, 'content', 'Scripts', 'hello.sh'), 'echo "hello from the server"\n');
      let server = await startService({ home: home2 });
      const marker = join(work, 'outage-marker');
      const go = join(work, 'outage-go');
      const tsId = await importTs(taskSequence('Outage', [
        waitingStep('Before', marker, go),
        step('Needs the server', RUN_SERVER_SCRIPT, { ScriptName: 'hello.sh', Parameters: '' }),
        step('After', RUN_COMMAND_LINE, { CommandLine: 'echo after' }),
      ]), home2);
      const c = startClient(server, ['--fullos', '--ts', tsId], join(work, 'state-outage'), { DEPLOYR_VAR_Passcode: PASSCODE });
      try {
        await waitFor(() => existsSync(marker), 60_000, 'the first step to start');
        const port = server.port;
        await server.stop();
        writeFileSync(go, '');
        await waitFor(() => /Server unreachable \(ECONNREFUSED\), retrying in/.test(c.output()), 60_000, 'the retry line');
        await new Promise((r) => setTimeout(r, 5000));
        server = await startService({ home: home2, args: ['--port', String(port)] });
        const r = await c.done;
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /The server answers again; carrying on/);
        assert.match(r.stdout, /succeeded/);
        const shown = await cli(['runs', 'show', runIdOf(r.stdout)], home2);
        assert.match(shown.stdout, /Outage .* succeeded/);
        assert.match(shown.stdout, /\+ Before {2}\(succeeded/);
        assert.match(shown.stdout, /\+ Needs the server {2}\(succeeded/);
        assert.match(shown.stdout, /\+ After {2}\(succeeded/);
      } finally {
        await server.stop();
      }
    } finally {
      cleanup2();
    }
  });

  test('without patience an outage fails the step with one line that ends in one full stop', async () => {
    const { home: home3, cleanup: cleanup3 } = tempHome('deployr-nopatience-');
    try {
      assert.equal((await setPasscode(home3, PASSCODE)).code, 0);
      let server = await startService({ home: home3 });
      const marker = join(work, 'nopatience-marker');
      const go = join(work, 'nopatience-go');
      const tsId = await importTs(taskSequence('No patience', [
        waitingStep('Before', marker, go),
        step('Needs the server', RUN_SERVER_SCRIPT, { ScriptName: 'hello.sh', Parameters: '' }),
      ]), home3);
      const c = startClient(server, ['--fullos', '--ts', tsId, '--patience', '0'], join(work, 'state-nopatience'), { DEPLOYR_VAR_Passcode: PASSCODE });
      try {
        await waitFor(() => existsSync(marker), 60_000, 'the first step to start');
        const port = server.port;
        await server.stop();
        writeFileSync(go, '');
        const r = await c.done;
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stdout, /failed: "Needs the server" failed: .*Cannot reach the server at https:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\. Check the address and that the service is running\. Log:/);
        assert.doesNotMatch(r.stdout, /\.\./);
        server = await startService({ home: home3, args: ['--port', String(port)] });
      } finally {
        await server.stop();
      }
    } finally {
      cleanup3();
    }
  });

  test('a run whose client goes silent shows as stale (DEPLOYR_RUN_STALE_AFTER), and as running again when the client reports', async () => {
    const { home: home4, cleanup: cleanup4 } = tempHome('deployr-stale-');
    try {
      assert.equal((await setPasscode(home4, PASSCODE)).code, 0);
      const server = await startService({ home: home4, env: { DEPLOYR_RUN_STALE_AFTER: '3s' } });
      const marker = join(work, 'stale-marker');
      const go = join(work, 'stale-go');
      const tsId = await importTs(taskSequence('Goes quiet', [waitingStep('Waits', marker, go)]), home4);
      const c = startClient(server, ['--fullos', '--ts', tsId], join(work, 'state-stale'), { DEPLOYR_VAR_Passcode: PASSCODE });
      try {
        await waitFor(() => existsSync(marker), 60_000, 'the step to start');
        const runId = runIdOf(c.output());
        const status = async (): Promise<string> => {
          const line = (await cli(['runs', 'list'], home4)).stdout.split('\n').find((l) => l.startsWith(runId)) ?? '';
          return line.slice(38).trim().split(/\s+/)[0] ?? '';
        };
        // The client sends heartbeats while the step runs: the run is not stale while it lives.
        c.child.kill('SIGSTOP');
        await waitFor(async () => (await status()) === 'stale', 60_000, 'the run to show as stale');
        const shown = await cli(['runs', 'show', runId], home4);
        assert.match(shown.stdout, /Goes quiet .* stale/);
        assert.match(shown.stdout, /stale: the client has not reported since/);
        c.child.kill('SIGCONT');
        await waitFor(async () => (await status()) === 'running', 60_000, 'the run to show as running again');
        writeFileSync(go, '');
        const r = await c.done;
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(await status(), 'succeeded');
      } finally {
        if (c.child.exitCode === null) { c.child.kill('SIGCONT'); c.child.kill('SIGKILL'); }
        await server.stop();
      }
    } finally {
      cleanup4();
    }
  });

  test('the device id goes with every sign-in: audit and throttle list show it', async () => {
    const state = join(work, 'state-device');
    const r = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', state], {
      input: `not-the-passcode\n${PASSCODE}\n`, env: { DEPLOYR_HOME: join(work, 'nowhere') },
    });
    assert.match(r.stdout, /Signed in \(passcode\)/, r.stdout + r.stderr);
    const device = readFileSync(join(state, 'device-id'), 'utf8').trim();
    assert.match(device, /^[0-9a-f-]{36}$/);
    const audit = (await cli(['audit', '--kind', 'login'])).stdout.split('\n').filter((l) => l.includes(`\t${device}`));
    assert.ok(audit.some((l) => /\tpasscode\tfailure\t/.test(l)), `no failed login with the device in:\n${audit.join('\n')}`);
    assert.ok(audit.some((l) => /\tpasscode\tsuccess\t/.test(l)), `no successful login with the device in:\n${audit.join('\n')}`);
    // A successful sign-in clears the counters: one more wrong passcode, and the input ends.
    await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', state], { input: 'still-not-it\n', env: { DEPLOYR_HOME: join(work, 'nowhere') } });
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
    const r = await startClient(svc, ['--fullos', '--ts', tsId], join(work, 'state-machine'), { DEPLOYR_VAR_Passcode: PASSCODE, DEPLOYR_SYSFS_ROOT: sysfs }).done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const runId = runIdOf(r.stdout);
    const shown = await cli(['runs', 'show', runId]);
    assert.match(shown.stdout, /machine: hostname \S+; Contoso Ltd Deploybook 14; serial SN-4471-XZ; MAC 52:54:00:12:34:56/);
    const listed = (await cli(['runs', 'list'])).stdout.split('\n').find((l) => l.startsWith(runId)) ?? '';
    assert.match(listed, /device \S+ \([0-9a-f-]{36}\)/);
  });

  test('--ts is checked before any sign-in; HOST:PORT means https; Passcode without --fullos is noted; a wrong --ca names the certificate presented', async () => {
    const before = (await cli(['audit', '--kind', 'login'])).stdout.split('\n').length;
    const badTs = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--ts', 'garbage', '--state-dir', join(work, 'state-badts')], { input: `${PASSCODE}\n` });
    assert.equal(badTs.code, 1);
    assert.match(badTs.stderr, /--ts must be a task sequence id, <guid> or <guid>:<version>/);
    assert.equal((await cli(['audit', '--kind', 'login'])).stdout.split('\n').length, before, 'no sign-in was attempted');

    const noScheme = await runDeployr(['client', '--server', `127.0.0.1:${svc.port}`, '--ca', svc.caFile, '--state-dir', join(work, 'state-noscheme')], {
      input: `${PASSCODE}\n`, env: { DEPLOYR_VAR_Passcode: 'anything' },
    });
    assert.match(noScheme.stdout, /Signed in \(passcode\)/, noScheme.stdout + noScheme.stderr);
    assert.match(noScheme.stdout, /the Passcode variable is used only with --fullos/);

    const { home: other, cleanup: cleanupOther } = tempHome('deployr-otherca-');
    try {
      const otherSvc = await startService({ home: other });
      await otherSvc.stop();
      const wrongCa = await runDeployr(['client', '--server', svc.url, '--ca', otherSvc.caFile, '--state-dir', join(work, 'state-wrongca')], { input: `${PASSCODE}\n` });
      assert.equal(wrongCa.code, 3);
      const presented = svc.fingerprint;
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
