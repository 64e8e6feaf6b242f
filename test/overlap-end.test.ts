// End to end: `configure security --overlap 0` and `--end-overlap` end a running rotation overlap at once, on every worker of `serve --workers 2`.

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configureSecurityAndWait, runDeployr, setPasscode, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';

const OLD = 'Otter-Harbour-Lantern-7';
const NEW = 'Badger-Quarry-Compass-9';

/** The workers that logged a request so far. */
function workersServing(output: string): Set<number> {
  const served = new Set<number>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as { worker?: number; req?: unknown };
      if (l.req !== undefined && l.worker !== undefined) served.add(l.worker);
    } catch { /* not a log line */ }
  }
  return served;
}

/** A service with two workers, passcode OLD, a one-hour overlap, then a rotation to NEW; returns a token of OLD. */
async function rotatedWithOverlap(t: { after(fn: () => unknown): void }, prefix: string): Promise<{ svc: ServiceProcess; home: string; ca: string; oldToken: string }> {
  const { home, cleanup } = tempHome(prefix);
  t.after(cleanup);
  assert.equal((await setPasscode(home, OLD)).code, 0);
  const svc = await startService({ home, args: ['--workers', '2'] });
  t.after(() => svc.kill());
  const ca = readFileSync(svc.caFile, 'utf8');
  await configureSecurityAndWait(home, svc, ['--overlap', '1h']);
  const login = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: OLD, context: 'boot' }, ca });
  assert.equal(login.status, 200, login.text);
  const oldToken = (login.body as { token: string }).token;
  await configureSecurityAndWait(home, svc, ['--passcode'], `${NEW}\n${NEW}\n`);
  // The overlap runs: both passcodes and the old token work, and show says so.
  assert.equal((await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: OLD, context: 'boot' }, ca })).status, 200);
  assert.equal((await httpsJson(`${svc.url}/v1/task-sequences`, { token: oldToken, ca })).status, 200);
  const show = await runDeployr(['configure', 'show'], { home });
  assert.match(show.stdout, /Previous passcode \(generation 1\) and its tokens: still accepted until \S+ \(rotation overlap running; end it now with deployr configure security --end-overlap\)/);
  assert.match(show.stdout, /Rotation overlap for the next change: 1h \(the passcode it replaces and its tokens keep working that long\)/);
  return { svc, home, ca, oldToken };
}

/** After the overlap ended: the old passcode and token are refused by every worker, the new ones work. */
async function assertOverlapEnded(svc: ServiceProcess, ca: string, oldToken: string): Promise<void> {
  const before = workersServing(svc.output());
  for (let i = 0; i < 8; i++) {
    const read = await httpsJson(`${svc.url}/v1/task-sequences`, { token: oldToken, ca });
    assert.equal(read.status, 401, `old token, request ${i}: ${read.text}`);
  }
  for (let i = 0; i < 3; i++) {
    const oldLogin = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: OLD, context: 'boot' }, ca });
    assert.equal(oldLogin.status, 401, `old passcode, attempt ${i}: ${oldLogin.text}`);
  }
  for (let i = 0; i < 4; i++) {
    const login = await httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: NEW, context: 'boot' }, ca });
    assert.equal(login.status, 200, login.text);
    assert.equal((await httpsJson(`${svc.url}/v1/task-sequences`, { token: (login.body as { token: string }).token, ca })).status, 200);
  }
  assert.deepEqual([...workersServing(svc.output())].sort(), [1, 2], `both workers answered (before the end: ${[...before].join(',')})`);
}

test('--overlap 0 ends an overlap already running: the old passcode and its tokens stop on every worker; show never contradicts itself', async (t) => {
  const { svc, home, ca, oldToken } = await rotatedWithOverlap(t, 'deployr-overlap0-');
  await configureSecurityAndWait(home, svc, ['--overlap', '0']);
  await assertOverlapEnded(svc, ca, oldToken);

  const show = await runDeployr(['configure', 'show'], { home });
  assert.doesNotMatch(show.stdout, /still accepted/);
  assert.match(show.stdout, /^ {2}Previous passcode and its tokens: no longer accepted$/m);
  assert.match(show.stdout, /^ {2}Rotation overlap for the next change: off \(the passcode it replaces and its tokens stop at once\)$/m);

  const audit = await runDeployr(['audit', '--kind', 'settings', '--json'], { home });
  assert.equal(audit.code, 0, audit.stderr);
  const ended = audit.stdout.split('\n').filter((l) => l.includes('"overlap_ended"'));
  assert.equal(ended.length, 1, audit.stdout);
  assert.match(ended[0] ?? '', /"by":"overlap"/);
  assert.match(ended[0] ?? '', /"generation":1/);
});

test('--end-overlap ends it too and keeps the overlap setting for the next change; a second one changes nothing', async (t) => {
  const { svc, home, ca, oldToken } = await rotatedWithOverlap(t, 'deployr-endoverlap-');
  await configureSecurityAndWait(home, svc, ['--end-overlap']);
  await assertOverlapEnded(svc, ca, oldToken);

  const show = await runDeployr(['configure', 'show'], { home });
  assert.doesNotMatch(show.stdout, /still accepted/);
  assert.match(show.stdout, /^ {2}Previous passcode and its tokens: no longer accepted$/m);
  assert.match(show.stdout, /^ {2}Rotation overlap for the next change: 1h \(the passcode it replaces and its tokens keep working that long\)$/m);

  const again = await runDeployr(['configure', 'security', '--end-overlap'], { home });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /warning: No rotation overlap is running: no previous passcode is accepted\./);
  assert.match(again.stdout, /^Nothing changed \(revision \d+\)\.$/m);
  assert.doesNotMatch(again.stdout, /Saved/);

  const audit = await runDeployr(['audit', '--kind', 'settings', '--json'], { home });
  const ended = audit.stdout.split('\n').filter((l) => l.includes('"overlap_ended"'));
  assert.equal(ended.length, 1, audit.stdout);
  assert.match(ended[0] ?? '', /"by":"end-overlap"/);
});
