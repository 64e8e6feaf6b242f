// Tests of the cache lock file: waiting for a live holder, taking over a dead or silent one, cancelling a wait.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lockCacheFile, STALE_AFTER_MS } from './cache-lock.js';

function folder(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a second taker waits until the holder releases, and is told once that it waits', async (t) => {
  const path = join(folder(t), 'x.lock');
  const first = await lockCacheFile(path);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { pid: process.pid, host: hostname() });
  let waits = 0;
  let got = false;
  const second = lockCacheFile(path, { onWait: () => waits++ }).then((l) => { got = true; return l; });
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(got, false, 'still waiting while the first holds it');
  await first.release();
  const lock = await second;
  assert.equal(waits, 1);
  assert.ok(existsSync(path), 'the second now holds it');
  await lock.release();
  assert.equal(existsSync(path), false);
});

test('a lock left by a process that has exited is taken over at once', async (t) => {
  const path = join(folder(t), 'x.lock');
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(path, JSON.stringify({ pid: Number(gone.stdout), host: hostname() }));
  const started = Date.now();
  const lock = await lockCacheFile(path);
  assert.ok(Date.now() - started < 1000, 'no waiting for a dead holder');
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
  await lock.release();
});

test('a lock from another machine (or a frozen holder) counts as gone only once it has not been refreshed for a while', async (t) => {
  const path = join(folder(t), 'x.lock');
  writeFileSync(path, JSON.stringify({ pid: process.pid, host: 'another-machine' }));
  const controller = new AbortController();
  const waiting = lockCacheFile(path, { signal: controller.signal });
  await new Promise((r) => setTimeout(r, 500));
  controller.abort(new Error('cancelled by the test'));
  await assert.rejects(waiting, /cancelled by the test/, 'a fresh lock of a live holder elsewhere is waited for (and the wait can be cancelled)');
  const old = new Date(Date.now() - STALE_AFTER_MS - 5000);
  utimesSync(path, old, old);
  const lock = await lockCacheFile(path);
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).host, hostname());
  await lock.release();
});
