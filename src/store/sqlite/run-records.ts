// Runs in SQLite: the run rows, their step results (in the order first reported) and their logs.

import type { RunRecord, RunStepRecord } from '../../domain/run.js';
import type { RunFilter } from '../../engine/ports.js';
import { RUN_COLUMNS, toRun, toStep, type RunRow, type StepRow } from '../record-rows.js';
import type Database from 'better-sqlite3';
import type { SqliteDatabase } from './connection.js';

/** Prepared statements per connection, by SQL (and pluck mode): a run report is a handful of statements, prepared once. */
const statements = new WeakMap<SqliteDatabase, Map<string, Database.Statement>>();
/** At most this many are kept per connection (the UPDATE of updateRun varies with the fields changed). */
const MAX_STATEMENTS = 256;

/** `db.prepare(sql)` (with `.pluck()` when asked), kept for the next call. */
function prepared(db: SqliteDatabase, sql: string, pluck = false): Database.Statement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  const key = pluck ? `pluck:${sql}` : sql;
  let statement = cache.get(key);
  if (!statement) {
    statement = pluck ? db.prepare(sql).pluck() : db.prepare(sql);
    if (cache.size < MAX_STATEMENTS) cache.set(key, statement);
  }
  return statement;
}


/** Inserts a run, with the id of the token that registered it. */
export function createRun(db: SqliteDatabase, run: RunRecord, ownerTokenId: string | null = null): void {
  prepared(db, `INSERT INTO runs (id, task_sequence_id, version_no, name, device, subject, method, context, status, started_at, finished_at, current_step, steps_total, message, updated_at, device_info, report_by, owner_token_id)
    VALUES (@id, @taskSequenceId, @versionNo, @name, @device, @subject, @method, @context, @status, @startedAt, @finishedAt, @currentStep, @stepsTotal, @message, @updatedAt, @deviceInfo, @reportBy, @ownerTokenId)`)
    .run({ ...run, deviceInfo: run.deviceInfo ? JSON.stringify(run.deviceInfo) : null, ownerTokenId });
}

/** The id of the token that registered (or last resumed) a run, or null. */
export function getRunOwner(db: SqliteDatabase, id: string): string | null {
  return (prepared(db, 'SELECT owner_token_id FROM runs WHERE id = ?', true).get(id) as string | null | undefined) ?? null;
}

/** Makes a token the run's owner. */
export function setRunOwner(db: SqliteDatabase, id: string, ownerTokenId: string): void {
  prepared(db, 'UPDATE runs SET owner_token_id = ? WHERE id = ?').run(ownerTokenId, id);
}

/** One run, or null. */
export function getRun(db: SqliteDatabase, id: string): RunRecord | null {
  const row = prepared(db, 'SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
  return row ? toRun(row) : null;
}

/** Runs, newest first. */
export function listRuns(db: SqliteDatabase, filter: RunFilter): RunRecord[] {
  const limit = Math.max(1, Math.min(filter.limit ?? 100, 10_000));
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.taskSequenceId) { where.push('task_sequence_id = ?'); params.push(filter.taskSequenceId); }
  if (filter.ownerTokenId) { where.push('owner_token_id = ?'); params.push(filter.ownerTokenId); }
  const rows = prepared(db, `SELECT * FROM runs${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id LIMIT ?`).all(...params, limit);
  return (rows as RunRow[]).map(toRun);
}

/** Changes some fields of a run; null when there is none. (One UPDATE: the store runs it inside its group commit.) */
export function updateRun(db: SqliteDatabase, id: string, patch: Partial<Omit<RunRecord, 'id'>>): RunRecord | null {
  const sets: string[] = [];
  const params: Record<string, unknown> = { id };
  for (const [key, value] of Object.entries({ ...patch, updatedAt: patch.updatedAt ?? new Date().toISOString() })) {
    const column = RUN_COLUMNS[key as keyof typeof RUN_COLUMNS];
    if (column === undefined) continue;
    sets.push(`${column} = @${key}`);
    params[key] = key === 'deviceInfo' && value ? JSON.stringify(value) : value ?? null;
  }
  const changed = prepared(db, `UPDATE runs SET ${sets.join(', ')} WHERE id = @id`).run(params).changes;
  return changed === 0 ? null : getRun(db, id);
}

/** Adds or replaces one step result; a new key goes after every step reported so far. (One INSERT: the store runs it inside its group commit.) */
export function putRunStep(db: SqliteDatabase, runId: string, s: RunStepRecord): void {
  const seq = (prepared(db, 'SELECT seq FROM run_steps WHERE run_id = ? AND step_key = ?', true).get(runId, s.key) as number | undefined)
    ?? ((prepared(db, 'SELECT MAX(seq) FROM run_steps WHERE run_id = ?', true).get(runId) as number | null) ?? 0) + 1;
  prepared(db, `INSERT INTO run_steps (run_id, step_key, seq, step_id, name, status, exit_code, duration_ms, output_tail, message, started_at, finished_at)
    VALUES (@runId, @key, @seq, @stepId, @name, @status, @exitCode, @durationMs, @outputTail, @message, @startedAt, @finishedAt)
    ON CONFLICT (run_id, step_key) DO UPDATE SET step_id = excluded.step_id, name = excluded.name, status = excluded.status,
      exit_code = excluded.exit_code, duration_ms = excluded.duration_ms, output_tail = excluded.output_tail, message = excluded.message,
      started_at = excluded.started_at, finished_at = excluded.finished_at`)
    .run({ ...s, runId, seq });
}

/** The report transaction per connection (a better-sqlite3 transaction function, made once). */
const reportTransactions = new WeakMap<SqliteDatabase, (runId: string, s: RunStepRecord, patch: Partial<Omit<RunRecord, 'id'>>) => RunRecord | null>();

/** One step report in one transaction (a savepoint inside the store's group commit): the step's result, then the run's fields; null (nothing written) when there is no such run. */
export function reportRunStep(db: SqliteDatabase, runId: string, s: RunStepRecord, patch: Partial<Omit<RunRecord, 'id'>>): RunRecord | null {
  let report = reportTransactions.get(db);
  if (!report) {
    report = db.transaction((id: string, step: RunStepRecord, p: Partial<Omit<RunRecord, 'id'>>): RunRecord | null => {
      if (prepared(db, 'SELECT 1 FROM runs WHERE id = ?', true).get(id) === undefined) return null;
      putRunStep(db, id, step);
      return updateRun(db, id, p);
    });
    reportTransactions.set(db, report);
  }
  return report(runId, s, patch);
}

/** A run's steps in the order first reported. */
export function listRunSteps(db: SqliteDatabase, runId: string): RunStepRecord[] {
  return (prepared(db, 'SELECT * FROM run_steps WHERE run_id = ? ORDER BY seq').all(runId) as StepRow[]).map(toStep);
}

/** Appends a piece of log. (One INSERT: the store runs it inside its group commit.) */
export function appendRunLog(db: SqliteDatabase, runId: string, text: string): void {
  const seq = ((prepared(db, 'SELECT MAX(seq) FROM run_logs WHERE run_id = ?', true).get(runId) as number | null) ?? 0) + 1;
  prepared(db, 'INSERT INTO run_logs (run_id, seq, text, at) VALUES (?, ?, ?, ?)').run(runId, seq, text, new Date().toISOString());
}

/** The number of characters in the run's log. */
export function runLogLength(db: SqliteDatabase, runId: string): number {
  return (prepared(db, 'SELECT COALESCE(SUM(LENGTH(text)), 0) FROM run_logs WHERE run_id = ?', true).get(runId) as number) ?? 0;
}

/** Deletes runs last changed before `before` (ISO 8601), with their steps and logs, in one transaction; returns how many. */
export function deleteRunsBefore(db: SqliteDatabase, before: string): number {
  return db.transaction(() => {
    const old = 'SELECT id FROM runs WHERE updated_at < ?';
    prepared(db, `DELETE FROM run_logs WHERE run_id IN (${old})`).run(before);
    prepared(db, `DELETE FROM run_steps WHERE run_id IN (${old})`).run(before);
    return prepared(db, 'DELETE FROM runs WHERE updated_at < ?').run(before).changes;
  }).immediate();
}

/** Deletes one run with its steps and log; returns what it was, or null when there is none. */
export function deleteRun(db: SqliteDatabase, id: string): RunRecord | null {
  const run = getRun(db, id);
  if (!run) return null;
  prepared(db, 'DELETE FROM run_logs WHERE run_id = ?').run(id);
  prepared(db, 'DELETE FROM run_steps WHERE run_id = ?').run(id);
  prepared(db, 'DELETE FROM runs WHERE id = ?').run(id);
  return run;
}

/** The run's whole log. */
export function getRunLog(db: SqliteDatabase, runId: string): string {
  return (prepared(db, 'SELECT text FROM run_logs WHERE run_id = ? ORDER BY seq', true).all(runId) as string[]).join('');
}
