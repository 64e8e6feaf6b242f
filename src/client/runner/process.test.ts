// Unit tests of runShell: the command runs from a private script file (never an argument), which is removed afterwards.

import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { runShell, shellScript } from './process.js';

test('runShell runs the command line from a 0600 script file that is gone afterwards; exit codes and output come through', async () => {
  let output = '';
  const r = await runShell('echo "$0"; ls -l "$0" | cut -c1-10; echo "a  b" \'c\'; exit 3', { env: { PATH: process.env.PATH ?? '' }, onOutput: (c) => { output += c; } });
  assert.equal(r.exitCode, 3);
  const [file, mode, words] = output.trim().split('\n');
  assert.match(file ?? '', /deployr-command-[^/]+\/command\.sh$/);
  assert.equal(mode, '-rw-------');
  assert.equal(words, 'a  b c');
  assert.equal(existsSync(file ?? ''), false, 'the script file is removed');
});

test('on Windows the command is a .cmd file run by cmd.exe /d /s /c with the path quoted', () => {
  const s = shellScript('echo %Passcode%', 'C:\\Users\\A B\\Temp\\deployr-command-x', true);
  assert.match(s.file, /deployr-command-x[\\/]command\.cmd$/);
  assert.equal(s.text, '@echo off\r\necho %Passcode%\r\n');
  assert.deepEqual(s.args, ['/d', '/s', '/c', `""${s.file}""`]);
  assert.ok(!s.args.join(' ').includes('Passcode'), 'the command is not an argument');
});
