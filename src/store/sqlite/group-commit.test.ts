// Group commit against a real SQLite file: promises settle only after the WAL sync, syncs are shared, other writes stay FULL.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openDatabase } from './connection.js';
import { isDeployrError } from '../../domain/errors.js';
import { GroupCommit, syncFile, type SyncFile } from './group-commit.js';

/** A sync that waits until the test lets it finish, recording each call. */
function heldSync(): { sync: SyncFile; calls: string[]; finish(err?: NodeJS.ErrnoException): void } {
  const waiting: ((err: NodeJS.ErrnoException | null) => void)[] = [];
  const calls: string[] = [];
  return {
    calls,
    sync: (path, done) => { calls.push(path); waiting.push(done); },
    finish: (err) => { const done = waiting.shift(); assert.ok(done, 'a sync is running'); done(err ?? null); },
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function tempDatabase(t: { after(fn: () => void): void }): { db: Database.Database; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-group-commit-'));
  const file = join(dir, 'test.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE t (v TEXT NOT NULL)');
  t.after(() => { db.close(); rmSync(dir, { recursive: true, force: true }); });
  return { db, file };
}

test('a batch is committed at once but its promises settle only after the WAL sync; batches committed meanwhile share the next sync', async (t) => {
  const { db, file } = tempDatabase(t);
  const held = heldSync();
  const commits = new GroupCommit(db, held.sync);
  const settled: string[] = [];
  const insert = (v: string): Promise<void> => commits.submit(() => { db.prepare('INSERT INTO t (v) VALUES (?)').run(v); }).then(() => { settled.push(v); });

  const a = insert('a');
  await turn();
  assert.deepEqual(held.calls, [`${file}-wal`], 'one sync of the WAL file');
  const other = new Database(file, { readonly: true });
  t.after(() => other.close());
  assert.deepEqual(other.prepare('SELECT v FROM t').pluck().all(), ['a'], 'committed: another connection sees it');
  assert.deepEqual(settled, [], 'not settled before the sync');

  const b = insert('b');
  await turn();
  const c = insert('c');
  await turn();
  assert.equal(held.calls.length, 1, 'no second sync while one runs');
  held.finish();
  await a;
  assert.deepEqual(settled, ['a']);
  assert.equal(held.calls.length, 2, 'the batches committed meanwhile get one sync');
  held.finish();
  await Promise.all([b, c]);
  assert.deepEqual(settled, ['a', 'b', 'c']);
  assert.equal(db.pragma('synchronous', { simple: true }), 2, 'the connection is back to synchronous=FULL for other writes');
});

test('a failed sync rejects the batch (nobody is told it is on the disk); a failing operation is undone alone', async (t) => {
  const { db } = tempDatabase(t);
  const held = heldSync();
  const commits = new GroupCommit(db, held.sync);
  const good = commits.submit(() => db.prepare('INSERT INTO t (v) VALUES (?)').run('good').changes);
  const bad = commits.submit(() => db.prepare('INSERT INTO t (v) VALUES (?)').run(null));
  await turn();
  const disk = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }) as NodeJS.ErrnoException;
  held.finish(disk);
  await assert.rejects(good, /EIO/);
  await assert.rejects(bad, /NOT NULL/);
  assert.deepEqual(db.prepare('SELECT v FROM t').pluck().all(), ['good'], 'the failing operation was undone alone');
});

test('with the real sync every promise settles, and the rows are there after reopening', async (t) => {
  const { db, file } = tempDatabase(t);
  const commits = new GroupCommit(db, syncFile);
  await Promise.all(Array.from({ length: 50 }, (_, i) => commits.submit(() => db.prepare('INSERT INTO t (v) VALUES (?)').run(String(i)))));
  const again = new Database(file, { readonly: true });
  t.after(() => again.close());
  assert.equal(again.prepare('SELECT count(*) FROM t').pluck().get(), 50);
});

test('an in-memory database settles without a file sync', async () => {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (v TEXT NOT NULL)');
  const held = heldSync();
  const commits = new GroupCommit(db, held.sync);
  await commits.submit(() => db.prepare('INSERT INTO t (v) VALUES (?)').run('x'));
  assert.deepEqual(held.calls, []);
  db.close();
});

test('close() commits what is pending, waits for its sync, and refuses later writes with UNAVAILABLE instead of reaching the closed database', async (t) => {
  const { db, file } = tempDatabase(t);
  const held = heldSync();
  const commits = new GroupCommit(db, held.sync);
  const pending = commits.submit(() => db.prepare('INSERT INTO t (v) VALUES (?)').run('before close'));
  let closed = false;
  const closing = Promise.all([commits.close(), commits.close()]).then(() => { closed = true; });
  await turn();
  assert.equal(closed, false, 'close (called twice here) waits for the sync of the last batch');
  await assert.rejects(commits.submit(() => db.prepare('INSERT INTO t (v) VALUES (?)').run('after close')), (err: unknown) => isDeployrError(err, 'UNAVAILABLE'));
  held.finish();
  await closing;
  await pending;
  await turn(); // a flush the refused write might have scheduled would run here, on a database about to close
  const again = new Database(file, { readonly: true });
  t.after(() => again.close());
  assert.deepEqual(again.prepare('SELECT v FROM t').pluck().all(), ['before close']);
});
