// End to end: every example in examples/ imports, and the README's quick start (hello-world) runs with the real client; the other two run as well.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEPLOYR_BIN, REPO_ROOT, runDeployr, setPasscode, startService, tempHome, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';

const PASSCODE = 'Tangerine-Lighthouse-42';
const EXAMPLES = join(REPO_ROOT, 'examples');
const HELLO = 'e0a11d00-0000-4000-8000-000000000001';

describe('examples/', () => {
  const { home, cleanup } = tempHome('deployr-examples-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-examples-work-'));
  let svc: ServiceProcess;
  const cli = (args: string[]): Promise<CommandResult> => runDeployr(args, { home });

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    svc = await startService({ home });
  });
  after(async () => {
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('every example imports, and ts show finds every step runnable here', async () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));
    assert.deepEqual(files.sort(), ['apply-raw-image.json', 'conditions-and-variables.json', 'hello-world.json']);
    for (const file of files) {
      const r = await cli(['ts', 'import', join(EXAMPLES, file)]);
      assert.equal(r.code, 0, `${file}: ${r.stderr}`);
      const id = (JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as { id: string }).id;
      const show = await cli(['ts', 'show', id]);
      assert.equal(show.code, 0, show.stderr);
      assert.doesNotMatch(show.stdout, /cannot run here/, `${file}:\n${show.stdout}`);
    }
  });

  test('the README quick start: hello-world runs end to end with the real client, the passcode typed at the prompt', async () => {
    assert.equal((await cli(['ts', 'import', join(EXAMPLES, 'hello-world.json')])).code, 0);
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    assert.match(readme, new RegExp(`deployr ts import examples/hello-world\\.json[\\s\\S]*deployr client --server https://localhost:7281 --ca ~/\\.deployr/tls/server\\.crt --ts ${HELLO}`));
    const r = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--ts', HELLO, '--state-dir', join(work, 'state-hello')], { input: `${PASSCODE}\n` });
    if (process.env.SHOW_OUTPUT) console.log(r.stdout, r.stderr);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Task sequence "Hello world \(example\)" succeeded\./);
    const runId = /^Run ([0-9a-f-]{36}):/m.exec(r.stdout)?.[1] ?? '';
    const show = await cli(['runs', 'show', runId]);
    assert.match(show.stdout, /\| Hello, world from task sequence Hello world \(example\) on \S+/, 'the greeting is the step\'s output');
  });

  test('conditions-and-variables runs: a variable set by a script, one group skipped, a failing step continued, a disabled step not counted', async () => {
    assert.equal((await cli(['ts', 'import', join(EXAMPLES, 'conditions-and-variables.json')])).code, 0);
    const r = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--fullos', '--ts', 'e0a11d00-0000-4000-8000-000000000003', '--state-dir', join(work, 'state-cv')],
      { env: { DEPLOYR_VAR_Passcode: PASSCODE } });
    if (process.env.SHOW_OUTPUT) console.log(r.stdout);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /7 steps \(not counting 2 groups and 1 disabled step\)/);
    const runId = /^Run ([0-9a-f-]{36}):/m.exec(r.stdout)?.[1] ?? '';
    const show = await cli(['runs', 'show', runId]);
    assert.match(show.stdout, /\| done: Conditions and variables \(example\) \(e0a11d00-0000-4000-8000-000000000003:1\), colour blue, shade dark-blue/);
    assert.match(r.stdout, /- Only when the colour is red \(skipped\)/);
    assert.match(r.stdout, /! A failing step that may fail {2}\(continued/);
  });

  test('apply-raw-image: its setup script stores the image, and the run writes it to the file named by TargetDevice', async () => {
    // The script calls `deployr`: a wrapper on PATH runs this build.
    const bin = join(work, 'bin');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'deployr'), `#!/bin/sh\nexec '${process.execPath}' '${DEPLOYR_BIN}' "$@"\n`);
    chmodSync(join(bin, 'deployr'), 0o755);
    const setup = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('sh', [join(EXAMPLES, 'apply-raw-image.sh')], { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, DEPLOYR_HOME: home } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
    assert.equal(setup.code, 0, setup.out);
    const target = join(work, 'disk.img');
    const r = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--fullos', '--ts', 'e0a11d00-0000-4000-8000-000000000002', '--var', `TargetDevice=${target}`, '--state-dir', join(work, 'state-image')],
      { env: { DEPLOYR_VAR_Passcode: PASSCODE } });
    if (process.env.SHOW_OUTPUT) console.log(r.stdout);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const written = readFileSync(target);
    assert.equal(written.length, 4 * 1024 * 1024);
    assert.equal(written.subarray(0, 26).toString(), 'deployr example raw image\n');
    assert.match(r.stdout, /SHA-256 [0-9a-f]{64} verified/);
  });
});
