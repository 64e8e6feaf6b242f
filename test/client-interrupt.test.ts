// End to end: Ctrl-C and SIGTERM during a run keep it resumable: the step stops, the state stays, the server shows the run interrupted.

import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { waitFor } from './helpers/deployr-process.js';
import { fieldFixture, PASSCODE, RUN_COMMAND_LINE, runIdOf, waitingStep } from './helpers/field-fixture.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

describe('interrupting a run', () => {
  const f = fieldFixture('interrupt');
  const { work, cli, startClient, importTs } = f;

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
      const first = startClient(f.svc(), ['--fullos', '--ts', tsId], state, env);
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
      const r2 = await startClient(f.svc(), [], state, env).done;
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

});
