// End to end: while a step runs, no secret variable appears in any process's command line (nor in its children's environment).

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runDeployr, setPasscode, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

const SET_VARIABLE = '00000001-0000-0000-0000-000000000001';
const RUN_COMMAND_LINE = '00000002-0000-0000-0000-000000000001';
const RUN_SERVER_SCRIPT = '00000002-0000-0000-0000-000000000003';

/** What one look at /proc found. */
interface ProcessView { pid: string; cmdline: string; environ: string | null }

/** Every process's command line (arguments joined by spaces) and, where this user may read it, its environment. */
function processes(): ProcessView[] {
  const out: ProcessView[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline: string;
    try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { continue; }
    let environ: string | null = null;
    try { environ = readFileSync(`/proc/${pid}/environ`, 'utf8').replace(/\0/g, '\n'); } catch { /* another user's process */ }
    out.push({ pid, cmdline, environ });
  }
  return out;
}

describe('secrets never reach the process list', { skip: process.platform !== 'linux' ? 'reads /proc' : false }, () => {
  const { home, cleanup } = tempHome('deployr-ps-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-ps-work-'));
  const passcode = `Tangerine-Lighthouse-${randomBytes(6).toString('hex')}`;
  const mySecret = `MySecretValue${randomBytes(8).toString('hex')}`;
  let svc: ServiceProcess;

  before(async () => {
    assert.equal((await setPasscode(home, passcode)).code, 0);
    const scripts = join(home, 'content', 'Scripts');
    mkdirSync(scripts, { recursive: true });
    // Takes its two parameters as $1 and $2 (as before), and shows it got them by writing them to a file.
    writeFileSync(join(scripts, 'slow.sh'), `sleep 3.61\nprintf '%s %s' "$1" "$2" > '${join(work, 'server-args.txt')}'\necho '{"name":"ArgCount","value":"'$#'"}'\n`);
    svc = await startService({ home });
  });

  after(async () => {
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('a Run command line and a Run server-side script with %Passcode% and a Secret variable: neither value is in any /proc/*/cmdline or a step\'s environ', async () => {
    const commandOut = join(work, 'command-out.txt');
    const ts = taskSequence('Secrets in commands', [
      step('Secret', SET_VARIABLE, { VariableName: 'MySecret', VariableValue: mySecret, Secret: 'true' }),
      step('Command', RUN_COMMAND_LINE, { CommandLine: `sleep 3.71; echo %Passcode% %MySecret% > "${commandOut}"` }),
      step('Server script', RUN_SERVER_SCRIPT, { ScriptName: 'slow.sh', Parameters: '%Passcode% %MySecret%' }),
      step('Count', RUN_COMMAND_LINE, { CommandLine: `echo %ArgCount% > "${join(work, 'count.txt')}"` }),
    ]);
    const tsFile = join(work, 'ts.json');
    writeFileSync(tsFile, JSON.stringify(ts));
    assert.equal((await runDeployr(['ts', 'import', tsFile], { home })).code, 0);
    // The passcode comes from a file, so that the client's own command line and environment hold no secret either.
    const varsFile = join(work, 'vars.txt');
    writeFileSync(varsFile, `Passcode=${passcode}\n`, { mode: 0o600 });

    const running = runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', join(work, 'state'), '--fullos', '--ts', `${ts.id as string}:1`, '--vars', varsFile],
      { env: { DEPLOYR_HOME: join(work, 'nowhere') }, timeoutMs: 120_000 });
    let finished = false;
    void running.finally(() => { finished = true; });

    const leaks: string[] = [];
    const seen = { command: false, server: false };
    const scriptFiles = new Map<string, number>();
    let looks = 0;
    while (!finished) {
      looks++;
      for (const p of processes()) {
        for (const [name, value] of [['Passcode', passcode], ['MySecret', mySecret]] as const) {
          if (p.cmdline.includes(value)) leaks.push(`${name} in the command line of ${p.pid}: ${p.cmdline.replace(value, '<' + name + '>')}`);
          if (p.environ?.includes(value)) leaks.push(`${name} in the environment of ${p.pid} (${p.cmdline.slice(0, 80)})`);
        }
        if (/^sleep 3\.71 ?$/.test(p.cmdline)) seen.command = true;
        if (/^sleep 3\.61 ?$/.test(p.cmdline)) seen.server = true;
        const file = /^\/bin\/sh (\/\S+\/deployr-(?:command|script)-[^/]+\/\S+)/.exec(p.cmdline)?.[1];
        if (file !== undefined && !scriptFiles.has(file)) {
          try { scriptFiles.set(file, statSync(file).mode & 0o777); } catch { /* just ended */ }
        }
      }
      await new Promise((r) => setTimeout(r, 40));
    }
    const r = await running;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(seen.command && seen.server, `both steps were seen running (${looks} looks: ${JSON.stringify(seen)})`);
    assert.deepEqual([...new Set(leaks)], [], 'no secret in any process\'s arguments or environment');

    // The commands still got the values, and the script its two parameters.
    assert.equal(readFileSync(commandOut, 'utf8').trim(), `${passcode} ${mySecret}`);
    assert.equal(readFileSync(join(work, 'server-args.txt'), 'utf8'), `${passcode} ${mySecret}`);
    assert.equal(readFileSync(join(work, 'count.txt'), 'utf8').trim(), '2');
    // The script files were private while they ran and are gone now.
    assert.ok(scriptFiles.size >= 2, `the shell ran script files: ${[...scriptFiles.keys()].join(', ')}`);
    for (const [file, mode] of scriptFiles) {
      assert.equal(mode, 0o600, `${file} is 0600`);
      assert.equal(existsSync(file), false, `${file} is removed`);
    }
    assert.ok(!r.stdout.includes(passcode) && !r.stdout.includes(mySecret), 'the client never prints them');
  });
});
