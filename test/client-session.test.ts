// End to end: a session that expires in the middle of a run: renewed without a person where the method allows, otherwise the run stops, resumable.

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setPasscode, startService, tempHome } from './helpers/deployr-process.js';
import { fieldFixture, PASSCODE, RUN_COMMAND_LINE, runIdOf } from './helpers/field-fixture.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

describe('an expired session mid-run', () => {
  const f = fieldFixture('session');
  const { work, cli, startClient, importTs } = f;

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
