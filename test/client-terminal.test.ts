// End to end through a pseudo-terminal: what the client's terminal shows while it waits out a throttle delay.

import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEPLOYR_BIN, runDeployr, setPasscode, startService, tempHome, waitFor, type ServiceProcess } from './helpers/deployr-process.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';
import { spawnPty } from './helpers/pty.js';

const PASSCODE = 'Juniper-Compass-Harbour-61';
const RUN_COMMAND_LINE = '00000002-0000-0000-0000-000000000001';

describe('the client on a terminal', () => {
  const { home, cleanup } = tempHome('deployr-pty-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-pty-work-'));
  let svc: ServiceProcess;

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    svc = await startService({ home });
  });

  after(async () => {
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('a passcode typed while the client waits out a throttle delay is never echoed; the prompt comes back masked', async () => {
    const state = join(work, 'state');
    const pty = spawnPty(process.execPath, [DEPLOYR_BIN, 'client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', state], { ...process.env, DEPLOYR_HOME: join(work, 'nowhere') });
    try {
      let at = 0;
      let typedDuringWait = false;
      // Wrong passcodes until the server makes the client wait 2 s or more; then type during the wait.
      for (let i = 0; i < 30 && !typedDuringWait; i++) {
        const next = await pty.waitFor(/◆(?:\x1b\[[0-9;]*m)*\s+Passcode|waiting (\d+) seconds?/, at);
        at = next.end;
        const wait = next.match[1];
        if (wait === undefined) {
          pty.type(`wrong-${i}\r`);
        } else if (Number(wait) >= 2) {
          pty.type('Typed-During-Wait-4471\r');
          typedDuringWait = true;
        }
      }
      assert.ok(typedDuringWait, pty.output());
      // The wait ends: the same (wrong) passcode is sent again, then the masked prompt comes back.
      const prompt = await pty.waitFor(/◆(?:\x1b\[[0-9;]*m)*\s+Passcode/, at);
      at = prompt.end;
      pty.type(`${PASSCODE}\r`);
      for (;;) {
        const next = await pty.waitFor(/Signed in|◆(?:\x1b\[[0-9;]*m)*\s+Passcode/, at);
        at = next.end;
        if (next.match[0] === 'Signed in') break;
        pty.type(`${PASSCODE}\r`);
      }
      const shown = pty.output();
      assert.doesNotMatch(shown, /Typed-During-Wait/, 'what was typed during the wait was echoed');
      assert.ok(!shown.includes(PASSCODE), 'the passcode was echoed');
      assert.match(shown, /What was typed while waiting was ignored/);
    } finally {
      await pty.kill();
    }
  });

  test('the terminal view shows the last lines of the running step\'s output, and all of a failed step\'s output', async () => {
    const go = join(work, 'output-go');
    const ts = taskSequence('Talkative', [
      step('Counts', RUN_COMMAND_LINE, { CommandLine: `for i in 1 2 3 4 5 6 7 8; do echo "progress-$i"; done; while [ ! -e "${go}" ]; do sleep 0.1; done` }),
      step('Breaks', RUN_COMMAND_LINE, { CommandLine: 'echo "broke-first-line"; for i in 1 2 3 4 5 6 7 8 9 10; do echo "detail-$i"; done; exit 3' }),
    ]);
    const file = join(work, 'talkative.json');
    writeFileSync(file, JSON.stringify(ts));
    assert.equal((await runDeployr(['ts', 'import', file], { home })).code, 0);
    const pty = spawnPty(process.execPath, [DEPLOYR_BIN, 'client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', join(work, 'state-output'), '--fullos', '--ts', ts.id as string],
      { ...process.env, DEPLOYR_HOME: join(work, 'nowhere'), DEPLOYR_VAR_Passcode: PASSCODE });
    try {
      // While the first step waits, its last lines are on the screen (not only in the log).
      await pty.waitFor(/│ progress-8/);
      assert.match(pty.output(), /│ progress-3/);
      writeFileSync(go, '');
      await waitFor(() => existsSync(go), 1000);
      const code = await pty.exited;
      assert.equal(code, 2, pty.output());
      const shown = pty.output();
      assert.match(shown, /output of "Breaks":/);
      assert.match(shown, /\| broke-first-line/, 'the first line of a failed step is shown, not only its last lines');
      assert.match(shown, /\| detail-10/);
    } finally {
      await pty.kill();
    }
  });
});
