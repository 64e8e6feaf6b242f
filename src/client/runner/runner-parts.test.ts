// Unit tests of the runner's parts: argument splitting, settings parsing, the variables file, log upload, FinishAction, the terminal view, token renewal.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { VariableStore } from '../../domain/variables.js';
import { ClientError } from '../api-client.js';
import { formatProgress, renderSteps, TerminalUi, type UiStep } from '../terminal-ui.js';
import { finishActionOf, powerCommand } from './power.js';
import { splitArguments, successCodes, timeoutFromMinutes } from './process.js';
import { RunLog } from './run-log.js';
import { TokenKeeper } from './token-keeper.js';
import { applyVariablesFile, writeVariablesFile } from './variables-file.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-parts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('splitArguments honours quotes', () => {
  assert.deepEqual(splitArguments(`-Name "two words" -Empty '' -Quote "say \\"hi\\"" plain`), ['-Name', 'two words', '-Empty', '', '-Quote', 'say "hi"', 'plain']);
  assert.deepEqual(splitArguments('   '), []);
});

test('Timeout is minutes (decimals allowed), SuccessCodes a list; bad values are refused', () => {
  assert.equal(timeoutFromMinutes(''), 0);
  assert.equal(timeoutFromMinutes('15'), 900_000);
  assert.equal(timeoutFromMinutes('0.5'), 30_000);
  assert.throws(() => timeoutFromMinutes('soon'), /minutes/);
  assert.deepEqual([...successCodes('', [0, 3010])], [0, 3010]);
  assert.deepEqual([...successCodes('0, 1 3010', [0])], [0, 1, 3010]);
  assert.throws(() => successCodes('zero', [0]), /whole numbers/);
});

test('the variables file carries variables and settings; only new or changed values come back, and secrets can be marked', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'vars.json');
  const vars = new VariableStore({ Keep: 'same', Change: 'old' });
  const written = await writeVariablesFile(file, vars, { Setting: 'from-step', keep: 'overridden' });
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  assert.equal(json.Setting, 'from-step');
  assert.equal(json.keep, 'overridden');
  assert.equal(json.Keep, undefined, 'a setting replaces a variable of the same name (any case)');
  writeFileSync(file, JSON.stringify({ ...json, Change: 'new', Added: 3, Token: { value: 'hidden', secret: true }, 'bad name': 'x' }));
  const { changed, problem } = await applyVariablesFile(file, written, vars);
  assert.equal(problem, null);
  assert.deepEqual(changed.sort(), ['Added', 'Change', 'Token']);
  assert.equal(vars.get('Setting'), undefined, 'unchanged settings do not become run variables');
  assert.equal(vars.get('Added'), '3');
  assert.ok(vars.isSecret('Token'));
  writeFileSync(file, '[1,2]');
  assert.match((await applyVariablesFile(file, written, vars)).problem ?? '', /no longer a JSON object/);
});

test('the log masks secrets and uploads in pieces that never split a character', async (t) => {
  const dir = tempDir(t);
  const vars = new VariableStore({ Passcode: 'p4ss-w0rd' });
  const log = new RunLog(join(dir, 'run.log'), (s) => vars.redact(s), () => new Date(0));
  log.write('INFO', 'the passcode is p4ss-w0rd', 'Step');
  for (let i = 0; i < 3000; i++) log.write('OUT', `ligne ${i}: déjà vu — ✓`, 'Step');
  const pieces: string[] = [];
  const end = await log.upload(0, async (text) => { pieces.push(text); });
  const whole = readFileSync(join(dir, 'run.log'), 'utf8');
  assert.ok(pieces.length > 1);
  assert.equal(pieces.join(''), whole);
  assert.equal(end, Buffer.byteLength(whole));
  assert.match(whole, /^1970-01-01T00:00:00\.000Z INFO {2}\[Step\] the passcode is \*{8}\n/);
  log.write('INFO', 'one more');
  const more: string[] = [];
  await log.upload(end, async (text) => { more.push(text); });
  assert.deepEqual(more.map((m) => m.trim().endsWith('one more')), [true]);
});

test('FinishAction values map to power actions', () => {
  assert.equal(finishActionOf(undefined), null);
  assert.equal(finishActionOf('Nothing'), null);
  assert.equal(finishActionOf('Restart'), 'restart');
  assert.equal(finishActionOf('shutdown'), 'shutdown');
  assert.equal(finishActionOf('Log Off'), 'other');
  assert.deepEqual(powerCommand('restart', 'linux'), ['systemctl', ['reboot']]);
  assert.deepEqual(powerCommand('shutdown', 'win32'), ['shutdown', ['/s', '/t', '0']]);
});

test('the terminal view: a progress bar with bytes, rate and time left; a window around the current step; plain lines without a terminal', () => {
  const line = formatProgress({ file: 'disk.img', received: 50 * 1024 * 1024, total: 100 * 1024 * 1024, bytesPerSecond: 10 * 1024 * 1024 }, 10);
  assert.equal(line, '[#####.....]  50% 50.0 MiB / 100.0 MiB, 10.0 MiB/s, 5 s left  disk.img');
  const steps: UiStep[] = Array.from({ length: 30 }, (_, i) => ({ key: String(i), name: `Step ${i}`, depth: 0, isGroup: false, status: i < 20 ? 'succeeded' : i === 20 ? 'running' : 'pending' }));
  const window = renderSteps(steps, 5, true);
  assert.equal(window.length, 5);
  assert.ok(window.some((l) => l.startsWith('▶ Step 20')));

  const written: string[] = [];
  const ui = new TerminalUi({ isTTY: false, write: (s) => written.push(s) }, 'T', () => 0);
  ui.setSteps([{ key: 'a', name: 'A', depth: 0, isGroup: false, status: 'pending' }, { key: 'b', name: 'B', depth: 0, isGroup: false, status: 'pending' }]);
  ui.update('a', 'running');
  ui.update('a', 'succeeded', 'exit 0');
  ui.update('b', 'failed', 'exit 2');
  assert.deepEqual(written, ['[1/2] > A\n', '[1/2] + A  (succeeded, exit 0)\n', '[2/2] x B  (failed, exit 2)\n']);

  const tty: string[] = [];
  const live = new TerminalUi({ isTTY: true, write: (s) => tty.push(s), columns: 100, rows: 20 }, 'T');
  live.setSteps([{ key: 'a', name: 'A', depth: 0, isGroup: false, status: 'running' }]);
  live.progress({ file: 'f', received: 1, total: 2, bytesPerSecond: 1 });
  assert.match(tty.join(''), /\x1b\[2F\x1b\[0J── T\n▶ A\n {3}\[#+\.+\] {2}50%/, 'redraws in place with the bar under the list');
});

test('an expired token is renewed once by signing in again, and the call is retried', async () => {
  let renewals = 0;
  const keeper = new TokenKeeper('old', async () => { renewals++; return 'new'; });
  const seen: string[] = [];
  const call = async (t: string): Promise<string> => {
    seen.push(t);
    if (t === 'old') throw new ClientError('HTTP', 'The token is missing, expired or not valid; sign in again.', 401);
    return 'ok';
  };
  assert.deepEqual(await Promise.all([keeper.use(call), keeper.use(call)]), ['ok', 'ok']);
  assert.equal(renewals, 1);
  assert.equal(keeper.current(), 'new');
  await assert.rejects(new TokenKeeper('x').use(async () => { throw new ClientError('HTTP', 'nope', 401); }), /nope/);
});
