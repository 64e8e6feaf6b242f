// Run retention against a real SQLite home and the real CLI: `deployr runs prune` deletes old runs with their steps and logs, audited; the log length the size limit relies on is the stored one.

import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { openHomeStore } from '../src/bin/open-store.js';
import type { RunRecord } from '../src/domain/run.js';
import { runDeployr, tempHome } from './helpers/deployr-process.js';

const DAY = 86_400_000;

function run(updatedDaysAgo: number, status: RunRecord['status']): RunRecord {
  const at = new Date(Date.now() - updatedDaysAgo * DAY).toISOString();
  return {
    id: randomUUID(), taskSequenceId: '80e8121b-c426-4bb9-866e-faf06af2c398', versionNo: 1, name: `ran ${updatedDaysAgo} days ago`, device: 'pc-1',
    subject: 'passcode', method: 'passcode', context: 'boot', status, startedAt: at, finishedAt: status === 'running' ? null : at,
    currentStep: 'One', stepsTotal: 1, message: null, updatedAt: at, deviceInfo: null, reportBy: null,
  };
}

describe('runs prune', () => {
  const { home, cleanup } = tempHome();
  after(cleanup);

  test('deletes runs with no change for longer than --older-than (steps and logs too), keeps the rest, and audits it', async () => {
    const runs = { oldFinished: run(200, 'succeeded'), oldStalled: run(120, 'running'), recent: run(10, 'failed'), recentRunning: run(0, 'running') };
    const { store } = await openHomeStore(home);
    try {
      for (const r of Object.values(runs)) {
        await store.createRun(r);
        await store.putRunStep(r.id, { key: 'k1', stepId: 'k1', name: 'One', status: 'succeeded', exitCode: 0, durationMs: 5, outputTail: 'ok', message: null, startedAt: r.startedAt, finishedAt: r.finishedAt });
        await store.appendRunLog(r.id, 'first line\n');
        await store.appendRunLog(r.id, 'second line, ü\n');
      }
      assert.equal(await store.runLogLength(runs.recent.id), 'first line\n'.length + 'second line, ü\n'.length, 'the length the log limit uses counts characters');
    } finally {
      await store.close();
    }

    for (const bad of ['0', 'soon', '-5d']) {
      const refused = await runDeployr(['runs', 'prune', '--older-than', bad], { home });
      assert.equal(refused.code, 1, bad);
      assert.match(refused.stderr, /^error: --older-than.*\[INVALID_INPUT\]\n$/);
    }
    const pruned = await runDeployr(['runs', 'prune', '--older-than', '90d'], { home });
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /^Deleted 2 runs with no change since \d{4}-\d\d-\d\dT[\d:.]+Z \(older than 90d\), with their steps and logs\.$/m);

    const listed = await runDeployr(['runs', 'list', '--json'], { home });
    assert.deepEqual((JSON.parse(listed.stdout) as { id: string }[]).map((r) => r.id).sort(), [runs.recent.id, runs.recentRunning.id].sort());
    const again = (await openHomeStore(home)).store;
    try {
      for (const gone of [runs.oldFinished, runs.oldStalled]) {
        assert.equal(await again.getRun(gone.id), null);
        assert.deepEqual(await again.listRunSteps(gone.id), []);
        assert.equal(await again.getRunLog(gone.id), '');
      }
      assert.equal((await again.listRunSteps(runs.recent.id)).length, 1);
      assert.equal(await again.getRunLog(runs.recent.id), 'first line\nsecond line, ü\n');
    } finally {
      await again.close();
    }
    const audit = await runDeployr(['audit', '--kind', 'run', '--json'], { home });
    assert.match(audit.stdout, /"method":"prune".*"deleted":2/);
    assert.equal((await runDeployr(['audit', 'verify'], { home })).code, 0);
  });
});
