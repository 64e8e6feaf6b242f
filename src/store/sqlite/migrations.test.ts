// Migration 6 on a database made before it: the runs table is rebuilt for the status `interrupted`, rows, steps and indexes kept.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openDatabase } from './connection.js';
import { MIGRATIONS } from './migrations.js';
import { getRun, listRunSteps, updateRun } from './run-records.js';

test('a database from before migration 6 keeps its runs and steps, and accepts the status interrupted', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-migrate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'deployr.db');
  const old = new Database(file);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  for (const m of MIGRATIONS.filter((x) => x.version < 6)) {
    old.exec(m.sql);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, '2026-01-01T00:00:00.000Z');
  }
  const at = '2026-01-01T00:00:00.000Z';
  old.prepare(`INSERT INTO runs (id, task_sequence_id, version_no, name, device, subject, method, context, status, started_at, finished_at, current_step, steps_total, message, updated_at)
    VALUES ('r1', 'ts', 1, 'Old run', 'pc-1', 'passcode', 'passcode', 'boot', 'running', ?, NULL, 'One', 2, NULL, ?)`).run(at, at);
  old.prepare(`INSERT INTO run_steps (run_id, step_key, seq, step_id, name, status, exit_code, duration_ms, output_tail, message, started_at, finished_at)
    VALUES ('r1', 'k1', 1, 's1', 'One', 'succeeded', 0, 5, 'out', NULL, ?, ?)`).run(at, at);
  assert.throws(() => old.prepare("UPDATE runs SET status = 'interrupted'").run(), /CHECK/);
  const indexesBefore = old.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL ORDER BY name").pluck().all() as string[];
  assert.ok(indexesBefore.includes('runs_owner'));
  old.close();

  const db = openDatabase(file);
  t.after(() => db.close());
  const run = getRun(db, 'r1');
  assert.equal(run?.name, 'Old run');
  assert.equal(run?.deviceInfo, null);
  assert.equal(run?.reportBy, null);
  assert.deepEqual(listRunSteps(db, 'r1').map((s) => [s.key, s.status, s.outputTail]), [['k1', 'succeeded', 'out']]);
  assert.equal(updateRun(db, 'r1', { status: 'interrupted', deviceInfo: { hostname: 'lab-7', macs: ['52:54:00:12:34:56'] } })?.status, 'interrupted');
  assert.deepEqual(getRun(db, 'r1')?.deviceInfo, { hostname: 'lab-7', macs: ['52:54:00:12:34:56'] });
  assert.throws(() => db.prepare("UPDATE runs SET status = 'bogus'").run(), /CHECK/);
  const indexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL ORDER BY name").pluck().all();
  // The rebuild keeps every index the runs table had (later migrations may add more).
  for (const name of indexesBefore) assert.ok(indexes.includes(name), `index ${name} kept`);
  assert.deepEqual(db.pragma('foreign_key_check'), []);
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
});

test('processes opening one fresh database at the same moment each apply every migration once, none failing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-migrate-race-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const connection = new URL('./connection.js', import.meta.url).href;
  const script = `const { openDatabase } = await import(${JSON.stringify(connection)}); openDatabase(process.argv[1]).close();`;
  for (let round = 0; round < 4; round += 1) {
    const file = join(dir, `race-${round}.db`);
    const results = await Promise.all([0, 1, 2, 3].map(() => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      child.on('close', (code) => resolve({ code, stderr }));
    })));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const db = new Database(file, { readonly: true });
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    db.close();
    assert.deepEqual(versions, MIGRATIONS.map((m) => m.version));
  }
});
