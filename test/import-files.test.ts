// End to end: multi-file imports name the file that failed and import nothing; ts import and step import say what a file of the other kind is.

import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EXPORTS_DIR, runDeployr, tempHome } from './helpers/deployr-process.js';

const { home, cleanup } = tempHome('deployr-import-files-');
after(cleanup);

const TS = join(EXPORTS_DIR, 'task-sequence-80e8121b-in-place-refresh.json');
const APPS = join(EXPORTS_DIR, 'task-sequence-0b226848-app-installs.json');
const STEP = join(EXPORTS_DIR, '2pint-step-definition-7e12116e-check-readiness.json');

test('ts import FILE... names the bad file and imports none of the files', async () => {
  const bad = join(home, 'bad-ts.json');
  const json = JSON.parse(readFileSync(APPS, 'utf8')) as { versions: { steps: { enabled: unknown }[] }[] };
  (json.versions[0]?.steps[0] as { enabled: unknown }).enabled = 'yes';
  writeFileSync(bad, JSON.stringify(json), { mode: 0o600 }); // owner-only, like everything in the home (a wider file would be tightened with a warning)
  const r = await runDeployr(['ts', 'import', TS, bad], { home });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `error: ${bad}: versions[0].steps[0].enabled: expected a boolean, got a string; nothing was imported [INVALID_INPUT]\n`);
  const list = await runDeployr(['ts', 'list'], { home });
  assert.match(list.stdout, /^No task sequences\./m, 'the good file before it was not imported either');
});

test('ts import given a step definition export, and step import given a task sequence export, say what the file is', async () => {
  const ts = await runDeployr(['ts', 'import', STEP], { home });
  assert.equal(ts.code, 1);
  assert.equal(ts.stderr, `error: ${STEP} is a step definition export, not a task sequence export; use deployr step import ${STEP}. [INVALID_INPUT]\n`);
  const step = await runDeployr(['step', 'import', STEP, TS], { home });
  assert.equal(step.code, 1);
  assert.equal(step.stderr, `error: ${TS} is a task sequence export, not a step definition export; use deployr ts import ${TS}; nothing was imported. [INVALID_INPUT]\n`);
  assert.match((await runDeployr(['step', 'list'], { home })).stdout, /^No step definitions\./m);
});
