// `deployr runs list|show|watch`: runs of task sequences and the result of each step, read from the store.

import { DeployrError } from '../domain/errors.js';
import { isRunFinished, RUN_FAILED_EXIT_CODE, type DeviceInfo, type RunStepRecord } from '../domain/run.js';
import type { RunRegistry, RunView, RunWithSteps } from '../engine/run-registry.js';
import { formatDuration, parseDurationFlag, plural, type CommandIo } from './output.js';
import { describeForMessage } from '../domain/input-description.js';

const MARK: Record<RunStepRecord['status'], string> = {
  running: '>', succeeded: '+', failed: 'x', continued: '!', skipped: '-',
};

/** The run's status as shown: `stale` for a running run whose client has gone silent. */
function statusText(r: RunView): string {
  return r.stale ? 'stale' : r.status;
}

/** The device as shown: its hostname (when told) and its id. */
function deviceText(r: RunView): string {
  const host = r.deviceInfo?.hostname;
  return host ? `${host} (${r.device ?? '-'})` : (r.device ?? '-');
}

/** Hostname, MACs, serial number, make and model, as far as the client told them. */
export function deviceInfoText(info: DeviceInfo | null): string {
  if (!info) return 'nothing told';
  const parts = [
    info.hostname ? `hostname ${info.hostname}` : '', info.make || info.model ? [info.make, info.model].filter(Boolean).join(' ') : '',
    info.serialNumber ? `serial ${info.serialNumber}` : '', info.macs?.length ? `MAC ${info.macs.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'nothing told';
}

/** One line for a run in a listing. */
export function runLine(r: RunView): string {
  const progress = r.stale ? `  (no report from the client since ${r.updatedAt}${r.currentStep ? `; last step: ${r.currentStep}` : ''})`
    : r.status === 'running' && r.currentStep ? `  now: ${r.currentStep}` : r.message ? `  (${r.message})` : '';
  return `${r.id}  ${statusText(r).padEnd(11)}  ${r.name} (v${r.versionNo})  device ${deviceText(r)}  started ${r.startedAt}${progress}`;
}

function seconds(ms: number | null): string {
  return ms === null ? '' : `${(ms / 1000).toFixed(1)} s`;
}

/** One line for a step of a run. */
export function stepLine(s: RunStepRecord): string {
  const facts = [s.status, s.exitCode !== null ? `exit ${s.exitCode}` : '', seconds(s.durationMs)].filter(Boolean).join(', ');
  return `  ${MARK[s.status]} ${s.name}  (${facts})${s.message ? `: ${s.message}` : ''}`;
}

/** `deployr runs list [--json] [--limit N]`. */
export async function runsList(registry: RunRegistry, io: CommandIo, options: { json?: boolean; limit?: string } = {}): Promise<number> {
  const limit = options.limit === undefined ? 50 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new DeployrError('INVALID_INPUT', `--limit takes a whole number ≥ 1; the value given (${describeForMessage(String(options.limit))}) is not one.`);
  const runs = await registry.list(null, limit);
  if (options.json) { io.out(JSON.stringify(runs, null, 2)); return 0; }
  if (runs.length === 0) { io.out('No runs yet. A client registers one when it starts a task sequence.'); return 0; }
  for (const r of runs) io.out(runLine(r));
  return 0;
}

/** Prints a run with its steps (and their output tails when `withOutput`). */
function printRun(run: RunWithSteps, io: CommandIo, withOutput: boolean): void {
  io.out(`Run ${run.id}: ${run.name} (${run.taskSequenceId}:${run.versionNo}) ${statusText(run)}`);
  // The subject says who signed in (an Entra ID user, a certificate); for a passcode or anonymous sign-in it only repeats the method.
  const who = run.subject && run.subject !== run.method ? ` (${run.subject})` : '';
  io.out(`  device ${run.device ?? '-'}, signed in with ${run.method}${who}, ${run.context}`);
  io.out(`  machine: ${deviceInfoText(run.deviceInfo)}`);
  io.out(`  started ${run.startedAt}${run.finishedAt ? `, finished ${run.finishedAt}` : ''}`);
  if (run.stale) io.out(`  stale: the client has not reported since ${run.updatedAt} (expected by ${run.reportBy ?? '-'}); it is shown as running again when it reports`);
  if (run.status === 'interrupted') io.out('  interrupted: the client was stopped; starting it again with the same state folder resumes the run');
  if (run.message) io.out(`  ${run.status === 'failed' ? 'reason' : 'note'}: ${run.message}`);
  io.out(`  steps (${run.steps.length} reported${run.stepsTotal !== null ? `, ${run.stepsTotal} planned at the start` : ''}):`);
  for (const s of run.steps) {
    io.out(stepLine(s));
    if (withOutput && s.outputTail) for (const line of s.outputTail.trimEnd().split('\n').slice(-20)) io.out(`      | ${line}`);
  }
}

/** `deployr runs show ID [--json] [--log]`. */
export async function runsShow(id: string, registry: RunRegistry, io: CommandIo, options: { json?: boolean; log?: boolean } = {}): Promise<number> {
  const run = await registry.get(null, id);
  if (options.json) {
    io.out(JSON.stringify(options.log ? { ...run, log: await registry.log(null, id) } : run, null, 2));
    return 0;
  }
  printRun(run, io, true);
  if (options.log) {
    const log = await registry.log(null, id);
    io.out(log ? '  log:' : '  log: (not uploaded yet)');
    for (const line of log.trimEnd().split('\n')) if (log) io.out(`    ${line}`);
  }
  return 0;
}

/**
 * `deployr runs watch ID`: prints the run, then each step as it starts and ends, polling every
 * second until the run succeeds or fails. Exit code 0 when it succeeded, 2 when it failed.
 */
export async function runsWatch(id: string, registry: RunRegistry, io: CommandIo, options: { intervalMs?: number; sleep?: (ms: number) => Promise<void> } = {}): Promise<number> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const seen = new Map<string, string>();
  let lastStatus = '';
  for (;;) {
    const run = await registry.get(null, id);
    if (lastStatus === '') io.out(`Run ${run.id}: ${run.name} (${run.taskSequenceId}:${run.versionNo}) on ${run.device ?? '-'}`);
    for (const s of run.steps) {
      const line = stepLine(s);
      if (seen.get(s.key) !== line) {
        seen.set(s.key, line);
        io.out(line);
      }
    }
    if (run.status !== lastStatus) {
      lastStatus = run.status;
      if (run.status === 'rebooting') io.out('  … the machine is restarting; the run continues when the client starts again.');
      if (run.status === 'interrupted') io.out('  … the client was interrupted; the run continues when it is started again.');
    }
    if (isRunFinished(run.status)) {
      io.out(`Run ${run.status}${run.message ? `: ${run.message}` : ''}.`);
      return run.status === 'succeeded' ? 0 : RUN_FAILED_EXIT_CODE;
    }
    await sleep(options.intervalMs ?? 1000);
  }
}

/** `deployr runs prune --older-than DURATION`: deletes runs (steps and logs too) whose last change is older than that. */
export async function runsPrune(registry: RunRegistry, io: CommandIo, options: { olderThan: string }): Promise<number> {
  const seconds = parseDurationFlag(options.olderThan, '--older-than');
  if (seconds <= 0) throw new DeployrError('INVALID_INPUT', '--older-than must be more than 0 (for example 90d).');
  const { deleted, before } = await registry.prune(seconds, { subject: 'admin', source: 'local' });
  io.out(`Deleted ${plural(deleted, 'run')} with no change since ${before} (older than ${formatDuration(seconds)}), with their steps and logs.`);
  return 0;
}

/** `deployr runs delete ID`: one run with its steps and log (audited). */
export async function runsDelete(id: string, registry: RunRegistry, io: CommandIo): Promise<number> {
  const run = await registry.delete(id, { subject: 'admin', source: 'local' });
  io.out(`Deleted run ${run.id} (${run.name}${run.device ? ` on ${run.device}` : ''}, ${run.status}) with its steps and log.`);
  return 0;
}
