// Runs of task sequences: the record a client registers and the result of each step it reports.

/**
 * A run's state: running, finished (succeeded or failed), waiting for the machine to restart, or
 * interrupted (the client was stopped with Ctrl-C or SIGTERM, its state kept: the next start resumes).
 */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'rebooting' | 'interrupted';

/** Every run status. */
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'rebooting', 'interrupted'];

/** What a client tells about the machine it runs on (each part when it can read it). */
export interface DeviceInfo {
  hostname?: string;
  /** MAC addresses of its network interfaces (loopback and all-zero ones left out). */
  macs?: string[];
  serialNumber?: string;
  make?: string;
  model?: string;
}

/** A step's state in a run. `continued` means it failed and the run went on (continueOnError). */
export type RunStepStatus = 'running' | 'succeeded' | 'failed' | 'continued' | 'skipped';

/** Every run step status. */
export const RUN_STEP_STATUSES: readonly RunStepStatus[] = ['running', 'succeeded', 'failed', 'continued', 'skipped'];

/** Exit code of `deployr client` when a Reboot step asks for a restart (state saved; start again to resume). */
export const REBOOT_EXIT_CODE = 194;

/** Exit codes of `deployr client` when it was interrupted by SIGINT (Ctrl-C) or SIGTERM (state kept; start again to resume). */
export const INTERRUPTED_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** Exit code of `deployr client` when the session expired during a run and signing in again needs a person (state kept; start again to resume). */
export const SESSION_LOST_EXIT_CODE = 75;

/** Exit code of `deployr client` when the task sequence ran and failed. */
export const RUN_FAILED_EXIT_CODE = 2;

/** Largest output tail kept per step, in characters. */
export const OUTPUT_TAIL_CHARS = 4000;

/** One run of one task sequence version on one device. */
export interface RunRecord {
  /** A GUID. */
  id: string;
  taskSequenceId: string;
  versionNo: number;
  /** The task sequence's name when the run started. */
  name: string;
  /** The device id the client gave, or null. */
  device: string | null;
  /** What the client told about the machine (hostname, MACs, serial number, make, model), or null. */
  deviceInfo: DeviceInfo | null;
  /** Who registered it: the token's subject and sign-in method. */
  subject: string;
  method: string;
  /** Where it runs: 'boot' or 'fullos'. */
  context: string;
  status: RunStatus;
  /** ISO 8601. */
  startedAt: string;
  /** ISO 8601, set when it succeeded or failed. */
  finishedAt: string | null;
  /** The name of the step running now (or the last one that ran). */
  currentStep: string | null;
  /** Number of enabled steps in the plan (nested task sequences not counted), when known. */
  stepsTotal: number | null;
  /** A one-line reason (for a failure) or note. */
  message: string | null;
  /** ISO 8601 of the last change. */
  updatedAt: string;
  /**
   * ISO 8601: the client should report again (a step, a heartbeat) by then; a running run past it
   * is stale. Null when the server does not expect reports (finished, rebooting, interrupted).
   */
  reportBy: string | null;
}

/** True when a running run's client has been silent past its `reportBy` (see `RunRecord.reportBy`). */
export function isRunStale(run: Pick<RunRecord, 'status' | 'reportBy'>, now: Date): boolean {
  return run.status === 'running' && run.reportBy !== null && Date.parse(run.reportBy) < now.getTime();
}

/** The result of one step in a run. */
export interface RunStepRecord {
  /**
   * The step's key in the run: its id, prefixed with the ids of the Run task sequence steps that
   * led to it (`<outer>/<inner>`), so a nested task sequence run twice keeps both.
   */
  key: string;
  /** The step's id in its task sequence. */
  stepId: string;
  name: string;
  status: RunStepStatus;
  exitCode: number | null;
  durationMs: number | null;
  /** The end of its output (secrets already masked by the client). */
  outputTail: string | null;
  /** A one-line reason or note. */
  message: string | null;
  /** ISO 8601. */
  startedAt: string;
  /** ISO 8601, when it ended. */
  finishedAt: string | null;
}

/** True when a run has ended (succeeded or failed); a rebooting run continues after the restart. */
export function isRunFinished(status: RunStatus): boolean {
  return status === 'succeeded' || status === 'failed';
}

/** The last `max` characters of `text` (default OUTPUT_TAIL_CHARS), starting at a line when one is near. */
export function outputTail(text: string, max = OUTPUT_TAIL_CHARS): string {
  if (text.length <= max) return text;
  const cut = text.slice(text.length - max);
  const nl = cut.indexOf('\n');
  return nl >= 0 && nl < 200 ? cut.slice(nl + 1) : cut;
}
