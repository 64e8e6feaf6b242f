// `deployr serve --workers 2`: two real worker processes on one port share every piece of state through the store (logins, rotation, the audit chain), and stop together.

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runDeployr, setPasscode, startService, tempHome, waitFor } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';

const FIRST = 'Heron-Granite-Meadow-4';
const SECOND = 'Falcon-Cobalt-Ridge-8';

interface LogLine { worker?: number; pid?: number; msg?: string; req?: unknown }

/** The JSON log lines written so far. */
function logLines(output: string): LogLine[] {
  return output.split('\n').flatMap((l) => { try { return l.startsWith('{') ? [JSON.parse(l) as LogLine] : []; } catch { return []; } });
}

/** Pids of the worker processes that have logged (the primary logs without `worker`). */
function workerPids(output: string): Set<number> {
  return new Set(logLines(output).flatMap((l) => (l.worker !== undefined && l.pid !== undefined ? [l.pid] : [])));
}

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

test('two workers serve one port from one store: logins, reads, rotation, restart, audit, clean stop', async (t) => {
  const { home, cleanup } = tempHome('deployr-workers-');
  t.after(cleanup);
  const svc = await startService({ home, args: ['--workers', '2'] });
  t.after(() => svc.kill());
  assert.match(svc.output(), /is running \(2 worker processes\)/);
  assert.equal(svc.output().match(/HTTPS API:/g)?.length, 1, 'the banner is printed once');
  assert.notEqual(svc.port, svc.localPort);
  const ca = readFileSync(svc.caFile, 'utf8');

  const set = await setPasscode(home, FIRST);
  assert.equal(set.code, 0, set.stderr);
  const login = (passcode: string) => httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode, context: 'boot' }, ca });
  const read = (token: string) => httpsJson(`${svc.url}/v1/task-sequences`, { token, ca });

  // 40 logins, 8 at a time, each on a fresh connection (httpsJson uses no agent), each followed by a protected read.
  let successes = 0;
  const tokens: string[] = [];
  for (let batch = 0; batch < 5; batch++) {
    const results = await Promise.all(Array.from({ length: 8 }, async () => {
      const r = await login(FIRST);
      assert.equal(r.status, 200, r.text);
      const token = (r.body as { token: string }).token;
      assert.equal((await read(token)).status, 200);
      return token;
    }));
    successes += results.length;
    tokens.push(...results);
  }
  // Both workers answered: each request's log line names the worker that served it.
  const served = new Set(logLines(svc.output()).flatMap((l) => (l.req !== undefined && l.worker !== undefined ? [l.worker] : [])));
  assert.deepEqual([...served].sort(), [1, 2], 'both workers served requests');
  // A token issued by one worker is accepted by the other (the signing key is in the store).
  for (const token of tokens.slice(0, 10)) assert.equal((await read(token)).status, 200);

  // A worker that dies is restarted on the same port.
  const before = workerPids(svc.output());
  assert.equal(before.size, 2);
  const victim = [...before][0] as number;
  process.kill(victim, 'SIGKILL');
  await waitFor(() => /ended unexpectedly \(signal SIGKILL\); restarting it/.test(svc.output()), 5000, 'the restart line');
  await waitFor(() => workerPids(svc.output()).size === 3, 8000, 'a new worker');
  await waitFor(() => logLines(svc.output()).some((l) => l.msg === 'worker restarted and listening'), 8000, 'the new worker to listen');

  // Rotation through the CLI while both workers run: every old token is refused at once, by whichever worker answers.
  const changed = await setPasscode(home, SECOND);
  assert.equal(changed.code, 0, changed.stderr);
  for (const token of tokens.slice(0, 12)) assert.equal((await read(token)).status, 401, 'an old token is refused');
  assert.equal((await login(FIRST)).status, 401, 'the old passcode is refused');
  for (let i = 0; i < 4; i++) {
    const r = await login(SECOND);
    assert.equal(r.status, 200, r.text);
    successes += 1;
    assert.equal((await read((r.body as { token: string }).token)).status, 200);
  }

  // SIGTERM to the primary stops every worker and exits 0.
  const pids = workerPids(svc.output());
  assert.equal(await svc.stop(), 0);
  assert.match(svc.output(), /SIGTERM: stopping 2 worker\(s\)/);
  for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
  assert.equal(alive(svc.child.pid as number), false);

  // The audit chain, appended to by three processes (two workers and the CLI), still verifies, with one success row per successful login.
  const verify = await runDeployr(['audit', 'verify'], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  const exported = await runDeployr(['audit', 'export'], { home });
  assert.equal(exported.code, 0, exported.stderr);
  const rows = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; kind: string; method: string; result: string });
  assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), 'no gap and no duplicate in the sequence');
  assert.equal(rows.filter((r) => r.kind === 'login' && r.method === 'passcode' && r.result === 'success').length, successes);
  assert.equal(rows.filter((r) => r.kind === 'login' && r.result === 'failure').length, 1);
});

test('with two workers, guesses sent all at once get no more passcode checks than with one process', async (t) => {
  const { home, cleanup } = tempHome('deployr-workers-burst-');
  t.after(cleanup);
  assert.equal((await setPasscode(home, FIRST)).code, 0);
  const svc = await startService({ home, args: ['--workers', '2'] });
  t.after(() => svc.kill());
  const ca = readFileSync(svc.caFile, 'utf8');
  // 60 different wrong values at once from one address, each with a new device id and on its own
  // connection (so both workers get about half). An address may have 10 free failures: at most
  // 11 values are checked at the same time (its budget plus one), whichever worker takes them.
  const results = await Promise.all(Array.from({ length: 60 }, (_, i) =>
    httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode: `Burst-Wrong-Value-${i}`, context: 'boot', deviceId: `burst-${i}` }, ca, localAddress: '127.0.0.7' })));
  const checked = results.filter((r) => r.status === 401).length;
  const throttled = results.filter((r) => r.status === 429).length;
  assert.equal(checked + throttled, 60, `every answer is 401 or 429: ${results.map((r) => r.status).join(',')}`);
  assert.ok(checked <= 12, `${checked} values were checked (each worker counting alone allows 22)`);
  assert.ok(checked >= 1);
  // Both workers took part (the count is shared, not one worker taking everything).
  const served = new Set(logLines(svc.output()).flatMap((l) => (l.req !== undefined && l.worker !== undefined ? [l.worker] : [])));
  assert.deepEqual([...served].sort(), [1, 2], 'both workers served requests');
});
