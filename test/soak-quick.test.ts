// The reliability soak in its quick mode (what CI runs), and proof that a broken invariant fails it: the checker fed a lost row, and the hidden --selftest-break.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { checkLedger, emptyLedger, type Observed } from '../soak/ledger.js';
import { parseSoakOptions } from '../soak/options.js';
import type { SoakSummary } from '../soak/run.js';

const SOAK = fileURLToPath(new URL('../soak/run.js', import.meta.url));

/** Runs the soak with `args`; its exit code and output. */
function soak(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SOAK, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** What a healthy restart looks like for an empty ledger. */
const healthy = (): Observed => ({ auditVerifyExit: 0, integrity: 'ok', rows: [], scoped: [], runs: new Map(), passcodeSignsIn: true });

test('the invariant checker: an acknowledged sign-in, change, scoped use or run report that is missing is named', () => {
  assert.deepEqual(checkLedger(emptyLedger(), healthy()), []);
  const ledger = emptyLedger();
  ledger.tokens.set('token-1', 'global');
  ledger.tokens.set('token-2', 'global');
  const rows = [{ seq: 1, kind: 'login', method: 'passcode', result: 'success', reason: 'ok', detail: { tokenId: 'token-1' } }];
  const lost = checkLedger(ledger, { ...healthy(), rows });
  assert.equal(lost.length, 1);
  assert.match(lost[0] as string, /1 acknowledged sign-in\(s\) without an audit row \(first: token-2\)/);

  ledger.scopedAdded.set('site-a', 2);
  ledger.scopedUses.set('site-a', 2);
  const over = checkLedger(ledger, { ...healthy(), rows, scoped: [{ name: 'site-a', maxUses: 2, uses: 3, state: 'active' }] });
  assert.ok(over.some((b) => /3 uses over its limit of 2/.test(b)), over.join('\n'));
  ledger.runsStarted.add('run-1');
  ledger.runsFinished.set('run-1', 'succeeded');
  ledger.steps.set('run-1', new Map([['k-1', 'succeeded']]));
  const run = checkLedger(ledger, { ...healthy(), runs: new Map([['run-1', { id: 'run-1', status: 'running', steps: [{ key: 'k-1', status: 'running' }] }]]) });
  assert.ok(run.some((b) => /finish succeeded acknowledged, status running/.test(b)), run.join('\n'));
  assert.ok(run.some((b) => /step k-1 acknowledged succeeded, stored running/.test(b)), run.join('\n'));
  assert.ok(checkLedger(emptyLedger(), { ...healthy(), passcodeSignsIn: false, auditVerifyExit: 1 }).length === 2);
});

test('soak options: defaults, --quick counts, --only, --seed, and one-line refusals', () => {
  const full = parseSoakOptions([], () => 7);
  assert.deepEqual([full.seed, full.killCycles, full.fuzzRequests, full.stormGuesses, full.phases.join(), full.out], [7, 200, 100_000, 10_000, 'kill,fuzz,storm', 'artifacts/soak']);
  const quick = parseSoakOptions(['--quick', '--seed', '42', '--only', 'storm,kill', '--out', '/tmp/x']);
  assert.deepEqual([quick.seed, quick.killCycles, quick.fuzzRequests, quick.stormGuesses, quick.phases.join(), quick.out], [42, 5, 2000, 500, 'kill,storm', '/tmp/x']);
  assert.throws(() => parseSoakOptions(['--only', 'kill,nap']), /--only takes a list of kill, fuzz, storm/);
  assert.throws(() => parseSoakOptions(['--seed', '-1']), /--seed takes a whole number/);
  assert.throws(() => parseSoakOptions(['--frobnicate']), /unknown option/);
  assert.equal(full.serviceHeapMiB, null, 'the service runs uncapped unless asked');
  assert.equal(parseSoakOptions(['--service-heap', '96']).serviceHeapMiB, 96);
  for (const bad of ['8', 'lots', '-5']) assert.throws(() => parseSoakOptions(['--service-heap', bad]), /--service-heap takes a whole number of MiB of at least 16/);
});

test('npm run soak --quick --seed 1: every phase runs against the real service and every invariant holds', { timeout: 900_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'deployr-soak-out-'));
  try {
    const r = await soak(['--quick', '--seed', '1', '--out', out]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /soak: seed 1 \(replay with --seed 1 --quick\)/);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as SoakSummary;
    assert.equal(summary.ok, true);
    assert.deepEqual(summary.broken, []);
    assert.equal(summary.seed, 1);
    assert.equal(summary.kill?.cycles, 5);
    assert.ok((summary.kill?.acknowledged['sign-in'] ?? 0) > 0, 'the kill phase signed in');
    assert.equal(summary.fuzz?.serverErrors, 0);
    assert.equal(summary.fuzz?.hangs, 0);
    assert.ok((summary.fuzz?.requests ?? 0) >= 1900, `${summary.fuzz?.requests} fuzzed requests`);
    assert.ok((summary.fuzz?.adminRoutes ?? 0) > 0, 'admin routes were fuzzed');
    assert.equal(summary.storm?.guesses, 500);
    assert.equal(summary.storm?.succeeded, 0);
    assert.equal(summary.storm?.technicianFailures, 0);
    assert.match(readFileSync(join(out, 'summary.txt'), 'utf8'), /^deployr soak PASSED: seed 1 \(quick\)/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a broken invariant fails the soak with one line (hidden --selftest-break: a sign-in whose row was never written)', { timeout: 600_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'deployr-soak-out-'));
  try {
    const r = await soak(['--quick', '--seed', '1', '--only', 'kill', '--cycles', '1', '--selftest-break', '--out', out]);
    assert.equal(r.code, 1);
    const failure = r.stderr.split('\n').filter((l) => l.startsWith('soak FAILED'));
    assert.equal(failure.length, 1, r.stderr);
    assert.match(failure[0] as string, /^soak FAILED: kill: after kill 1: 1 acknowledged sign-in\(s\) without an audit row/);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as SoakSummary;
    assert.equal(summary.ok, false);
    // The kept home is named for inspection; remove it here.
    for (const home of /homes kept for inspection: (.*)/.exec(r.stdout)?.[1]?.split(' ') ?? []) rmSync(home, { recursive: true, force: true });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
