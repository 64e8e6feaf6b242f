// Unit tests of server-side script arguments: they reach the script exactly, through a wrapper file, never a command line.

import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeployrError } from '../domain/errors.js';
import { runServerScript } from './server-scripts.js';

test('a .sh script gets every argument exactly as $1…, however it is quoted; a program given arguments is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-scripts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'echo-args.sh'), 'echo "{\\"name\\":\\"Count\\",\\"value\\":\\"$#\\"}"\nfor a in "$@"; do printf "%s\\n" "$a" | od -An -c | tr -d " \\n"; echo; done\n');
  const args = ["it's", 'two words', '$HOME `id` $(id)', '"quoted"', '', 'back\\slash', '‘curly’'];
  const r = await runServerScript('echo-args.sh', args, { scriptsDir: dir });
  assert.equal(r.exitCode, 0, r.output);
  assert.deepEqual(r.variables, [{ name: 'Count', value: String(args.length) }]);
  const expected = args.map((a) => [...Buffer.from(`${a}\n`)].map((b) => (b === 10 ? '\\n' : b >= 32 && b < 127 ? String.fromCharCode(b) : b.toString(8).padStart(3, '0'))).join(''));
  assert.deepEqual(r.output.split('\n').map((l) => l.replace(/\s/g, '')), expected.map((e) => e.replace(/\s/g, '')));

  writeFileSync(join(dir, 'tool'), '#!/bin/sh\necho hi\n');
  chmodSync(join(dir, 'tool'), 0o755);
  await assert.rejects(runServerScript('tool', ['secret'], { scriptsDir: dir }), (e) => isDeployrError(e, 'CONFLICT') && !(e as Error).message.includes('secret'));
  assert.equal((await runServerScript('tool', [], { scriptsDir: dir })).output, 'hi');
});
