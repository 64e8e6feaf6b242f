// Runs of task sequences: the record a client registers and the result of each step it reports.

/** A run's state: running, finished (succeeded or failed), or waiting for the machine to restart. */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'rebooting';

/** Every run status. */
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'rebooting'];

/** A step's state in a run. `continued` means it failed and the run went on (continueOnError). */
export type RunStepStatus = 'running' | 'succeeded' | 'failed' | 'continued' | 'skipped';

/** Every run step status. */
export const RUN_STEP_STATUSES: readonly RunStepStatus[] = ['running', 'succeeded', 'failed', 'continued', 'skipped'];

/** Exit code of `deployr client` when a Reboot step asks for a restart (state saved; start again to resume). */
export const REBOOT_EXIT_CODE = 194;

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
