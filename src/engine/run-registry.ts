// Use cases for runs: register a run of an Active version, record each step's result, read progress, run server-side scripts.

import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../domain/audit.js';
import { DeployrError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import { isRunFinished, isRunStale, type DeviceInfo, type RunRecord, type RunStatus, type RunStepRecord, type RunStepStatus } from '../domain/run.js';
import { activeVersion } from '../domain/task-sequence.js';
import { limitAllows, limitVersions } from '../domain/task-sequence-limit.js';
import type { AuditStore, RunStore, TaskSequenceStore } from './ports.js';
import { runServerScript, type ServerScriptResult } from './server-scripts.js';

/** A run as read: with `stale` when its client has been silent past `reportBy`. */
export interface RunView extends RunRecord {
  stale: boolean;
}

/** A run with its steps. */
export interface RunWithSteps extends RunView {
  steps: RunStepRecord[];
}

/** Default of `staleAfterSeconds`: a running run whose client has not reported for this long is stale. */
export const DEFAULT_RUN_STALE_AFTER_SECONDS = 300;

/** Where a request came from (for the audit trail). */
export interface RequestSource {
  address: string | null;
}

/** The most characters of a client's log kept for one run (about 32 MiB of ASCII). */
export const RUN_LOG_MAX_CHARS = 32 * 1024 * 1024;

/** Written where a run's log was cut. */
export const RUN_LOG_TRUNCATED_NOTE = "\n[deployr: the log is cut here: the server keeps a run's log only up to its size limit; the whole log stays on the machine]\n";

/** What the registry needs. */
export interface RunRegistryDeps {
  store: RunStore & TaskSequenceStore & AuditStore;
  /** The content library's Scripts folder; server-side scripts are refused without it. */
  scriptsDir?: string;
  now?: () => Date;
  /** The most characters of a client's log kept per run (default RUN_LOG_MAX_CHARS). */
  logMaxChars?: number;
  /** A running run whose client has not reported (a step, a heartbeat) for this long is shown as stale (default 300). */
  staleAfterSeconds?: number;
}

/** A step report from a client. */
export interface StepReportInput {
  key: string;
  stepId: string;
  name: string;
  status: RunStepStatus;
  exitCode?: number | null;
  durationMs?: number | null;
  outputTail?: string | null;
  message?: string | null;
}

/** Runs: registration, progress reports, reading, server-side scripts. A null principal is the local administrator. */
export class RunRegistry {
  private readonly now: () => Date;

  constructor(private readonly deps: RunRegistryDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Registers a run of version `versionNo` of a task sequence; the version must be Active. A token
   * limited to one task sequence may only register runs of that one (FORBIDDEN otherwise).
   */
  async register(principal: Principal, input: { taskSequenceId: string; versionNo: number; deviceId?: string | null; stepsTotal?: number | null; deviceInfo?: DeviceInfo | null }, source: RequestSource): Promise<RunView> {
    const tsId = input.taskSequenceId.toLowerCase();
    if (!mayUse(tsId, principal)) {
      throw new DeployrError('FORBIDDEN', 'This sign-in may only run the task sequence it was issued for.');
    }
    const versions = limitVersions(principal.taskSequenceLimit, tsId);
    if (versions !== null && !versions.includes(input.versionNo)) {
      throw new DeployrError('FORBIDDEN', `This sign-in may only run version ${versions.join(' or ')} of the task sequence.`);
    }
    const ts = await this.deps.store.getTaskSequence(tsId);
    if (!ts) throw new DeployrError('NOT_FOUND', `No task sequence with id ${tsId}.`);
    activeVersion(ts, input.versionNo);
    const at = this.now().toISOString();
    const run: RunRecord = {
      id: randomUUID(), taskSequenceId: ts.id, versionNo: input.versionNo, name: ts.name, device: input.deviceId ?? null,
      subject: principal.subject, method: principal.method, context: principal.context, status: 'running', startedAt: at, finishedAt: null,
      currentStep: null, stepsTotal: input.stepsTotal ?? null, message: null, updatedAt: at,
      deviceInfo: input.deviceInfo ?? null, reportBy: this.reportBy(),
    };
    await this.deps.store.createRun(run, principal.tokenId);
    await this.deps.store.append(this.event(principal, source, run, 'start', 'started', 'ok', {}));
    return this.view(run);
  }

  /**
   * The run continues after a restart or an interruption (status back to running). The client signs
   * in again after a restart, so a limited token that resumes an unfinished run of its own task
   * sequence (it knows the run's id from its saved state) becomes the run's owner.
   */
  async resume(principal: Principal, id: string): Promise<RunView> {
    const run = await this.writable(principal, id, true);
    return this.view((await this.deps.store.updateRun(run.id, { status: 'running', message: null, updatedAt: this.now().toISOString(), reportBy: this.reportBy() })) as RunRecord);
  }

  /** The client is still there (sent while a long step runs): the run is not stale, or no longer. */
  async heartbeat(principal: Principal, id: string): Promise<RunView> {
    const run = await this.writable(principal, id);
    return this.view((await this.deps.store.updateRun(run.id, { updatedAt: this.now().toISOString(), reportBy: run.status === 'running' ? this.reportBy() : null })) as RunRecord);
  }

  /** Records that a step started (`running`) or ended. */
  async reportStep(principal: Principal, id: string, report: StepReportInput): Promise<void> {
    const run = await this.writable(principal, id);
    const at = this.now().toISOString();
    const existing = report.status === 'running' ? undefined : (await this.deps.store.listRunSteps(run.id)).find((s) => s.key === report.key);
    const step: RunStepRecord = {
      key: report.key.toLowerCase(), stepId: report.stepId.toLowerCase(), name: report.name, status: report.status,
      exitCode: report.exitCode ?? null, durationMs: report.durationMs ?? null, outputTail: report.outputTail ?? null, message: report.message ?? null,
      startedAt: existing?.startedAt ?? at, finishedAt: report.status === 'running' ? null : at,
    };
    const patch = {
      ...(report.status === 'running' || run.currentStep === null ? { currentStep: report.name } : {}), updatedAt: at,
      ...(run.status === 'running' ? { reportBy: this.reportBy() } : {}),
    };
    // One write when the store offers it (one transaction, sharing its commit with other reports).
    if (this.deps.store.reportRunStep) {
      if (await this.deps.store.reportRunStep(run.id, step, patch) === null) throw new DeployrError('NOT_FOUND', `No run with id ${id}.`);
      return;
    }
    await this.deps.store.putRunStep(run.id, step);
    await this.deps.store.updateRun(run.id, patch);
  }

  /** The run ended (succeeded or failed), waits for a restart (rebooting), or was interrupted (the next client start resumes it). */
  async finish(principal: Principal, id: string, input: { status: Exclude<RunStatus, 'running'>; message?: string | null }, source: RequestSource): Promise<RunView> {
    const run = await this.writable(principal, id);
    const at = this.now().toISOString();
    const updated = (await this.deps.store.updateRun(run.id, {
      status: input.status, message: input.message ?? null, finishedAt: isRunFinished(input.status) ? at : null, updatedAt: at, reportBy: null,
    })) as RunRecord;
    if (isRunFinished(input.status)) {
      await this.deps.store.append(this.event(principal, source, updated, 'finish', input.status, input.status === 'succeeded' ? 'ok' : 'step_failed', {}));
    } else if (input.status === 'interrupted') {
      await this.deps.store.append(this.event(principal, source, updated, 'interrupt', 'interrupted', 'ok', {}));
    }
    return this.view(updated);
  }

  /**
   * Appends a piece of the client's log. A run keeps at most `logMaxChars` characters: the
   * piece that would pass the limit is cut and a note says so; later pieces are dropped. The
   * client is not told (its own log file stays whole), so a run is never failed by its log.
   */
  async appendLog(principal: Principal, id: string, text: string): Promise<void> {
    const run = await this.visible(principal, id);
    if (text.length === 0) return;
    const room = (this.deps.logMaxChars ?? RUN_LOG_MAX_CHARS) - (await this.deps.store.runLogLength(run.id));
    if (room <= 0) return;
    if (text.length <= room) { await this.deps.store.appendRunLog(run.id, text); return; }
    // Never cut between the two halves of a character outside the Basic Multilingual Plane.
    const cut = /[\uD800-\uDBFF]/.test(text[room - 1] ?? '') ? room - 1 : room;
    await this.deps.store.appendRunLog(run.id, text.slice(0, cut) + RUN_LOG_TRUNCATED_NOTE);
  }

  /**
   * Deletes runs whose last change is older than `olderThanSeconds` (finished ones, and unfinished
   * ones nothing has reported on for as long), with their steps and logs; audited. Returns how many.
   */
  async prune(olderThanSeconds: number, actor: { subject: string; source: string }): Promise<{ deleted: number; before: string }> {
    if (!Number.isSafeInteger(olderThanSeconds) || olderThanSeconds <= 0) throw new DeployrError('INVALID_INPUT', 'The age must be more than 0 seconds.');
    const before = new Date(this.now().getTime() - olderThanSeconds * 1000).toISOString();
    const deleted = await this.deps.store.deleteRunsBefore(before);
    await this.deps.store.append({ kind: 'run', method: 'prune', result: 'deleted', reason: 'ok', subject: actor.subject, source: actor.source, device: null, detail: { deleted, before } });
    return { deleted, before };
  }

  /** Deletes one run with its steps and log (audited with who deleted it); NOT_FOUND when there is none. */
  async delete(id: string, actor: { subject: string; source: string }): Promise<RunRecord> {
    const key = id.toLowerCase();
    const known = await this.deps.store.getRun(key);
    const run = known && await this.deps.store.deleteRun(key, {
      kind: 'run', method: 'delete', result: 'deleted', reason: 'ok', subject: actor.subject, source: actor.source, device: known.device,
      detail: { runId: known.id, taskSequenceId: known.taskSequenceId, versionNo: known.versionNo, status: known.status },
    });
    if (!run) throw new DeployrError('NOT_FOUND', `No run with id ${id}.`);
    return run;
  }

  /** Runs the caller may see, newest first. */
  async list(principal: Principal | null, limit = 100): Promise<RunView[]> {
    const lim = principal?.taskSequenceLimit;
    // A limited token sees only the runs it registered (or resumed), of the task sequences it names.
    const runs = await this.deps.store.listRuns({ limit, ...(lim && principal ? { ownerTokenId: principal.tokenId } : {}) });
    return runs.filter((r) => mayUse(r.taskSequenceId, principal)).map((r) => this.view(r));
  }

  /** One run and its steps; NOT_FOUND when missing or not visible to the caller. */
  async get(principal: Principal | null, id: string): Promise<RunWithSteps> {
    const run = await this.visible(principal, id);
    return { ...this.view(run), steps: await this.deps.store.listRunSteps(run.id) };
  }

  /** The run's uploaded log. */
  async log(principal: Principal | null, id: string): Promise<string> {
    const run = await this.visible(principal, id);
    return this.deps.store.getRunLog(run.id);
  }

  /**
   * Runs `<Scripts>/<script>` on the server for a running run, and audits it (the script name and
   * result, never the arguments, which may carry secrets).
   */
  async runServerScript(principal: Principal, id: string, input: { script: string; arguments: string[]; timeoutSeconds?: number }, source: RequestSource): Promise<ServerScriptResult> {
    const run = await this.writable(principal, id);
    if (!this.deps.scriptsDir) throw new DeployrError('UNAVAILABLE', 'Server-side scripts are not available on this server.');
    let result: ServerScriptResult;
    try {
      result = await runServerScript(input.script, input.arguments, {
        scriptsDir: this.deps.scriptsDir,
        ...(input.timeoutSeconds ? { timeoutMs: input.timeoutSeconds * 1000 } : {}),
        env: { DEPLOYR_RUN_ID: run.id, DEPLOYR_TASK_SEQUENCE_ID: run.taskSequenceId, DEPLOYR_DEVICE: run.device ?? '' },
      });
    } catch (err) {
      const reason = err instanceof DeployrError ? err.code.toLowerCase() : 'error';
      await this.deps.store.append(this.event(principal, source, run, 'server-script', 'failure', reason, { script: input.script, arguments: input.arguments.length }));
      throw err;
    }
    await this.deps.store.append(this.event(principal, source, run, 'server-script', result.exitCode === 0 ? 'success' : 'failure',
      result.timedOut ? 'timeout' : result.exitCode === 0 ? 'ok' : 'exit_code', {
        script: input.script, arguments: input.arguments.length, exitCode: result.exitCode, variables: result.variables.map((v) => v.name),
      }));
    return result;
  }

  /** When the client should report again, from now. */
  private reportBy(): string {
    return new Date(this.now().getTime() + (this.deps.staleAfterSeconds ?? DEFAULT_RUN_STALE_AFTER_SECONDS) * 1000).toISOString();
  }

  /** The run with `stale` worked out now. */
  private view(run: RunRecord): RunView {
    return { ...run, stale: isRunStale(run, this.now()) };
  }

  /**
   * A run the caller may see: any run for an unlimited caller; for a token limited to a task
   * sequence, only a run of that task sequence that this token registered (or, with `adopt`, an
   * unfinished one it resumes). Every other run answers as a missing one.
   */
  private async visible(principal: Principal | null, id: string, adopt = false): Promise<RunRecord> {
    const run = await this.deps.store.getRun(id.toLowerCase());
    if (!run || !mayUse(run.taskSequenceId, principal)) throw new DeployrError('NOT_FOUND', `No run with id ${id}.`);
    if (principal?.taskSequenceLimit && (await this.deps.store.getRunOwner(run.id)) !== principal.tokenId) {
      if (!adopt || isRunFinished(run.status)) throw new DeployrError('NOT_FOUND', `No run with id ${id}.`);
      await this.deps.store.setRunOwner(run.id, principal.tokenId);
    }
    return run;
  }

  /** A run the caller may report on: visible and not ended. */
  private async writable(principal: Principal, id: string, adopt = false): Promise<RunRecord> {
    const run = await this.visible(principal, id, adopt);
    if (isRunFinished(run.status)) throw new DeployrError('CONFLICT', `Run ${run.id} has already ${run.status}.`);
    return run;
  }

  private event(principal: Principal, source: RequestSource, run: RunRecord, method: string, result: string, reason: string, detail: Record<string, unknown>): AuditEvent {
    return {
      kind: 'run', method, result, reason, subject: principal.subject, source: source.address, device: run.device,
      detail: { runId: run.id, taskSequenceId: run.taskSequenceId, versionNo: run.versionNo, ...detail },
    };
  }
}

/** A token limited to task sequences may use only those; a null principal (local admin) any. */
function mayUse(taskSequenceId: string, principal: Principal | null): boolean {
  return limitAllows(principal?.taskSequenceLimit, taskSequenceId);
}
