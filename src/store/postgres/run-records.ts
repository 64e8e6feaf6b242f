// Runs in PostgreSQL: the run rows, their step results (in the order first reported) and their logs.

import type { RunRecord, RunStepRecord } from '../../domain/run.js';
import type { RunFilter } from '../../engine/ports.js';
import { RUN_COLUMNS, toRun, toStep, type RunRow, type StepRow } from '../record-rows.js';
import type { PgDatabase, Queryable } from './connection.js';


/** Inserts a run, with the id of the token that registered it. */
export async function createRun(db: Queryable, run: RunRecord, ownerTokenId: string | null = null): Promise<void> {
  await db.query(`INSERT INTO runs (id, task_sequence_id, version_no, name, device, subject, method, context, status, started_at, finished_at, current_step, steps_total, message, updated_at, device_info, report_by, owner_token_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
  [run.id, run.taskSequenceId, run.versionNo, run.name, run.device, run.subject, run.method, run.context, run.status, run.startedAt, run.finishedAt,
    run.currentStep, run.stepsTotal, run.message, run.updatedAt, run.deviceInfo ? JSON.stringify(run.deviceInfo) : null, run.reportBy, ownerTokenId]);
}

/** The id of the token that registered (or last resumed) a run, or null. */
export async function getRunOwner(db: Queryable, id: string): Promise<string | null> {
  return (await db.query<{ owner_token_id: string | null }>('SELECT owner_token_id FROM runs WHERE id = $1', [id])).rows[0]?.owner_token_id ?? null;
}

/** Makes a token the run's owner. */
export async function setRunOwner(db: Queryable, id: string, ownerTokenId: string): Promise<void> {
  await db.query('UPDATE runs SET owner_token_id = $1 WHERE id = $2', [ownerTokenId, id]);
}

/** One run, or null. */
export async function getRun(db: Queryable, id: string): Promise<RunRecord | null> {
  const row = (await db.query<RunRow>('SELECT * FROM runs WHERE id = $1', [id])).rows[0];
  return row ? toRun(row) : null;
}

/** Runs, newest first. */
export async function listRuns(db: Queryable, filter: RunFilter): Promise<RunRecord[]> {
  const limit = Math.max(1, Math.min(filter.limit ?? 100, 10_000));
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.taskSequenceId) { params.push(filter.taskSequenceId); where.push(`task_sequence_id = $${params.length}`); }
  if (filter.ownerTokenId) { params.push(filter.ownerTokenId); where.push(`owner_token_id = $${params.length}`); }
  params.push(limit);
  const rows = (await db.query<RunRow>(`SELECT * FROM runs${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id LIMIT $${params.length}`, params)).rows;
  return rows.map(toRun);
}

/** Changes some fields of a run (one UPDATE … RETURNING); null when there is none. */
export async function updateRun(db: Queryable, id: string, patch: Partial<Omit<RunRecord, 'id'>>): Promise<RunRecord | null> {
  const sets: string[] = [];
  const params: unknown[] = [id];
  for (const [key, value] of Object.entries({ ...patch, updatedAt: patch.updatedAt ?? new Date().toISOString() })) {
    const column = RUN_COLUMNS[key as keyof typeof RUN_COLUMNS];
    if (column === undefined) continue;
    params.push(key === 'deviceInfo' && value ? JSON.stringify(value) : value ?? null);
    sets.push(`${column} = $${params.length}`);
  }
  const row = (await db.query<RunRow>(`UPDATE runs SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, params)).rows[0];
  return row ? toRun(row) : null;
}

/**
 * Inside a transaction: adds or replaces one step result; a new key goes after every step reported
 * so far. The run's row is locked first, so two reports of one run never take the same position.
 */
async function putRunStepIn(tx: Queryable, runId: string, s: RunStepRecord): Promise<void> {
  await tx.query('SELECT 1 FROM runs WHERE id = $1 FOR UPDATE', [runId]);
  const existing = (await tx.query<{ seq: number }>('SELECT seq FROM run_steps WHERE run_id = $1 AND step_key = $2', [runId, s.key])).rows[0]?.seq;
  const seq = existing ?? ((await tx.query<{ n: number }>('SELECT COALESCE(MAX(seq), 0)::bigint AS n FROM run_steps WHERE run_id = $1', [runId])).rows[0]?.n ?? 0) + 1;
  await tx.query(`INSERT INTO run_steps (run_id, step_key, seq, step_id, name, status, exit_code, duration_ms, output_tail, message, started_at, finished_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (run_id, step_key) DO UPDATE SET step_id = excluded.step_id, name = excluded.name, status = excluded.status,
      exit_code = excluded.exit_code, duration_ms = excluded.duration_ms, output_tail = excluded.output_tail, message = excluded.message,
      started_at = excluded.started_at, finished_at = excluded.finished_at`,
  [runId, s.key, seq, s.stepId, s.name, s.status, s.exitCode, s.durationMs, s.outputTail, s.message, s.startedAt, s.finishedAt]);
}

/** Adds or replaces one step result, in one transaction. */
export async function putRunStep(db: PgDatabase, runId: string, s: RunStepRecord): Promise<void> {
  await db.transaction((tx) => putRunStepIn(tx, runId, s));
}

/** One step report in one transaction: the step's result, then the run's fields; null (nothing written) when there is no such run. */
export async function reportRunStep(db: PgDatabase, runId: string, s: RunStepRecord, patch: Partial<Omit<RunRecord, 'id'>>): Promise<RunRecord | null> {
  return db.transaction(async (tx) => {
    if ((await tx.query('SELECT 1 FROM runs WHERE id = $1 FOR UPDATE', [runId])).rows.length === 0) return null;
    await putRunStepIn(tx, runId, s);
    return updateRun(tx, runId, patch);
  });
}

/** A run's steps in the order first reported. */
export async function listRunSteps(db: Queryable, runId: string): Promise<RunStepRecord[]> {
  return (await db.query<StepRow>('SELECT * FROM run_steps WHERE run_id = $1 ORDER BY seq', [runId])).rows.map(toStep);
}

/** Appends a piece of log (the run's row locked first, so concurrent pieces get distinct positions). */
export async function appendRunLog(db: PgDatabase, runId: string, text: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT 1 FROM runs WHERE id = $1 FOR UPDATE', [runId]);
    await tx.query('INSERT INTO run_logs (run_id, seq, text, at) SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM run_logs WHERE run_id = $1',
      [runId, text, new Date().toISOString()]);
  });
}

/** The number of characters in the run's log. */
export async function runLogLength(db: Queryable, runId: string): Promise<number> {
  return (await db.query<{ n: number }>('SELECT COALESCE(SUM(length(text)), 0)::bigint AS n FROM run_logs WHERE run_id = $1', [runId])).rows[0]?.n ?? 0;
}

/** Deletes runs last changed before `before` (ISO 8601), with their steps and logs, in one transaction; returns how many. */
export async function deleteRunsBefore(db: PgDatabase, before: string): Promise<number> {
  return db.transaction(async (tx) => {
    // The runs are locked first: a step or log piece being written to one of them lands before they go, never after.
    const ids = (await tx.query<{ id: string }>('SELECT id FROM runs WHERE updated_at < $1 FOR UPDATE', [before])).rows.map((r) => r.id);
    if (ids.length === 0) return 0;
    await tx.query('DELETE FROM run_logs WHERE run_id = ANY($1::text[])', [ids]);
    await tx.query('DELETE FROM run_steps WHERE run_id = ANY($1::text[])', [ids]);
    return (await tx.query('DELETE FROM runs WHERE id = ANY($1::text[])', [ids])).rowCount ?? 0;
  });
}

/** Inside a transaction: deletes one run with its steps and log; returns what it was, or null when there is none. */
export async function deleteRun(tx: Queryable, id: string): Promise<RunRecord | null> {
  // Locked first, as in deleteRunsBefore.
  const row = (await tx.query<RunRow>('SELECT * FROM runs WHERE id = $1 FOR UPDATE', [id])).rows[0];
  if (!row) return null;
  const run = toRun(row);
  await tx.query('DELETE FROM run_logs WHERE run_id = $1', [id]);
  await tx.query('DELETE FROM run_steps WHERE run_id = $1', [id]);
  await tx.query('DELETE FROM runs WHERE id = $1', [id]);
  return run;
}

/** The run's whole log. */
export async function getRunLog(db: Queryable, runId: string): Promise<string> {
  return (await db.query<{ text: string }>('SELECT text FROM run_logs WHERE run_id = $1 ORDER BY seq', [runId])).rows.map((r) => r.text).join('');
}
