// End to end: a short server outage is waited out (visibly), no patience fails with one line, and silent clients show as stale.

import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setPasscode, startService, tempHome, waitFor } from './helpers/deployr-process.js';
import { fieldFixture, PASSCODE, RUN_COMMAND_LINE, RUN_SERVER_SCRIPT, runIdOf, waitingStep } from './helpers/field-fixture.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

describe('the server going away', () => {
  const f = fieldFixture('outage');
  const { work, cli, startClient, importTs } = f;

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
        assert.match(r.stdout, /failed at step "Needs the server": .*Cannot reach the server at https:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\. Check the address and that the service is running\. Log:/);
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

});
