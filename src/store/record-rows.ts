// The rows every store adapter keeps (the same tables and columns in SQLite and PostgreSQL) and the records they stand for.

import type { Administrator, AdminRole } from '../domain/administrator.js';
import type { DeviceInfo, RunRecord, RunStatus, RunStepRecord, RunStepStatus } from '../domain/run.js';
import type { ScopedPasscodeScope, StoredScopedPasscode } from '../domain/scoped-passcode.js';

/** A row of the runs table. */
export interface RunRow {
  id: string; task_sequence_id: string; version_no: number; name: string; device: string | null; subject: string; method: string;
  context: string; status: string; started_at: string; finished_at: string | null; current_step: string | null;
  steps_total: number | null; message: string | null; updated_at: string; device_info: string | null; report_by: string | null;
}

/** A row of the run_steps table (the columns a record needs). */
export interface StepRow {
  step_key: string; step_id: string; name: string; status: string; exit_code: number | null; duration_ms: number | null;
  output_tail: string | null; message: string | null; started_at: string; finished_at: string | null;
}

/** A row of the administrators table. */
export interface AdminRow { name: string; role: string; password_hash: string; created_at: string; password_changed_at: string }

/** A row of the admin_sessions table. */
export interface SessionRow { id_hash: string; name: string; created_at: number; last_seen_at: number; source: string }

/** A row of the scoped_passcodes table. */
export interface ScopedRow {
  id: string; name: string; hash: string; public_id: string | null; scope: string; expires_at: string | null;
  max_uses: number | null; uses: number; created_at: string; created_by: string; last_used_at: string | null; revoked_at: string | null;
}

/** The device facts a run keeps as JSON; null when absent or unreadable. */
function parseDeviceInfo(text: string | null): DeviceInfo | null {
  if (!text) return null;
  try { return JSON.parse(text) as DeviceInfo; } catch { return null; }
}

/** A run row as a record. */
export function toRun(r: RunRow): RunRecord {
  return {
    id: r.id, taskSequenceId: r.task_sequence_id, versionNo: r.version_no, name: r.name, device: r.device, subject: r.subject,
    method: r.method, context: r.context, status: r.status as RunStatus, startedAt: r.started_at, finishedAt: r.finished_at,
    currentStep: r.current_step, stepsTotal: r.steps_total, message: r.message, updatedAt: r.updated_at,
    deviceInfo: parseDeviceInfo(r.device_info), reportBy: r.report_by,
  };
}

/** A run_steps row as a record. */
export function toStep(r: StepRow): RunStepRecord {
  return {
    key: r.step_key, stepId: r.step_id, name: r.name, status: r.status as RunStepStatus, exitCode: r.exit_code, durationMs: r.duration_ms,
    outputTail: r.output_tail, message: r.message, startedAt: r.started_at, finishedAt: r.finished_at,
  };
}

/** The runs column of each record field (for updates of some fields). */
export const RUN_COLUMNS: Readonly<Record<keyof Omit<RunRecord, 'id'>, string>> = {
  taskSequenceId: 'task_sequence_id', versionNo: 'version_no', name: 'name', device: 'device', subject: 'subject', method: 'method',
  context: 'context', status: 'status', startedAt: 'started_at', finishedAt: 'finished_at', currentStep: 'current_step',
  stepsTotal: 'steps_total', message: 'message', updatedAt: 'updated_at', deviceInfo: 'device_info', reportBy: 'report_by',
};

/** An administrators row as a record. */
export function toAdmin(r: AdminRow): Administrator {
  return { name: r.name, role: r.role as AdminRole, passwordHash: r.password_hash, createdAt: r.created_at, passwordChangedAt: r.password_changed_at };
}

/** A scoped_passcodes row as a record. */
export function toScoped(r: ScopedRow): StoredScopedPasscode {
  return {
    id: r.id, name: r.name, hash: r.hash, publicId: r.public_id, scope: JSON.parse(r.scope) as ScopedPasscodeScope,
    expiresAt: r.expires_at, maxUses: r.max_uses, uses: r.uses, createdAt: r.created_at, createdBy: r.created_by,
    lastUsedAt: r.last_used_at, revokedAt: r.revoked_at,
  };
}
