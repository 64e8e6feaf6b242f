// The contract between the step runner and the executors: what a step gets to run with and what it gives back.

import type { ServerScriptResponse } from '../../api/contract.js';
import type { StepDefinition } from '../../domain/step-definition.js';
import type { Step } from '../../domain/task-sequence.js';
import type { VariableStore } from '../../domain/variables.js';
import type { DownloadedContent, DownloadProgress } from '../content-download.js';
import type { ContentStreamPort } from '../content/image-source.js';
import type { ProcessOptions, ProcessResult } from '../runner/process.js';
import { successCodes, timeoutFromMinutes } from '../runner/process.js';

/** How a step ended. */
export interface StepOutcome {
  status: 'succeeded' | 'failed';
  exitCode: number | null;
  /** One line: why it failed, or a note. */
  message?: string;
  /**
   * A restart is needed: 'after' this step (the step is done; the run resumes with the next one),
   * or 'within' it (a nested task sequence asked; the run resumes inside this step).
   */
  reboot?: 'after' | 'within';
}

/** The result of running a list of steps (a nested task sequence). */
export type NestedFlow = 'completed' | 'failed' | 'reboot';

/** What the runner offers to executors. */
export interface ExecutorServices {
  /** Runs a shell command line, streaming its output into the step's output. */
  runShell(command: string, options: Omit<ProcessOptions, 'onOutput' | 'env'> & { env?: NodeJS.ProcessEnv }): Promise<ProcessResult>;
  /** Runs a program with arguments (no shell), streaming its output. */
  runProgram(file: string, args: readonly string[], options: Omit<ProcessOptions, 'onOutput' | 'env'> & { env?: NodeJS.ProcessEnv }): Promise<ProcessResult>;
  /** Finds an executable on PATH (e.g. `pwsh`), or null. */
  findExecutable(name: string): Promise<string | null>;
  /** Downloads a content version (`<guid>:<version>`), with a progress bar. */
  fetchContent(reference: string): Promise<DownloadedContent>;
  /** Streams a content file from the server without the cache (Apply image); absent where the runner has no server (some tests). */
  streamContent?: ContentStreamPort;
  /** Reads a task sequence from the server and picks its Active version (`<guid>` or `<guid>:<version>`). */
  fetchTaskSequence(reference: string): Promise<{ id: string; name: string; versionNo: number; steps: Step[] }>;
  /** Runs steps of a nested task sequence under this step. */
  runNested(taskSequence: { id: string; name: string; versionNo: number; steps: Step[] }): Promise<NestedFlow>;
  /** Runs a script from the server's Scripts folder on the server. */
  serverScript(script: string, args: string[], timeoutSeconds?: number): Promise<ServerScriptResponse>;
  /** A custom step definition from the server (validated), or null when the server has none with that id. */
  fetchStepDefinition(id: string): Promise<StepDefinition | null>;
  /**
   * Rewrites the step's variables file: the run's variables as they are now, then `settings` in
   * place of the step's own (a custom step's effective settings, its definition's defaults
   * included). The runner compares the file with what was written last, so settings and defaults
   * stay exposed to this step only, as a built-in step's settings are.
   */
  exposeSettings(settings: Readonly<Record<string, string>>): Promise<void>;
}

/** What one step runs with. */
export interface StepContext {
  step: Step;
  /** The step's key in the run (`<outer>/<inner>` inside nested task sequences). */
  key: string;
  /** The step's settings with `%NAME%` expanded. */
  settings: Readonly<Record<string, string>>;
  /** The run's variables (secret ones included; never print them). */
  variables: VariableStore;
  /** A private scratch folder for this step, removed afterwards. */
  workDir: string;
  /** Writes to the step's output (kept as its output tail, and in the log with secrets masked). */
  output(text: string): void;
  /** A line for the technician and the log (secrets masked). */
  say(line: string): void;
  /** Shows progress of a long transfer (a progress bar on a terminal). */
  progress(p: DownloadProgress): void;
  signal: AbortSignal;
  services: ExecutorServices;
}

/** Runs one kind of step. Expected failures are returned as `{ status: 'failed', message }`; a throw also fails the step. */
export type StepExecutor = (ctx: StepContext) => Promise<StepOutcome>;

/** A failed outcome with a one-line reason. */
export function failed(message: string, exitCode: number | null = null): StepOutcome {
  return { status: 'failed', exitCode, message };
}

/** A setting's value, or '' when absent (names matched case-insensitively). */
export function setting(settings: Readonly<Record<string, string>>, name: string): string {
  if (Object.hasOwn(settings, name)) return settings[name] ?? '';
  const key = Object.keys(settings).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? '' : (settings[key] ?? '');
}

/** The content reference in slot `slot` (or, when `anySlot`, the first non-empty one): [slot, reference], or null. */
export function contentSlot(step: Step, slot: string, anySlot = false): [string, string] | null {
  const entries = Object.entries(step.contentItems);
  const exact = entries.find(([k, v]) => k.toLowerCase() === slot.toLowerCase() && v !== '');
  if (exact) return exact;
  return anySlot ? (entries.find(([, v]) => v !== '') ?? null) : null;
}

/** Describes how a process ended, for a failure message. */
export function describeExit(result: ProcessResult, timeoutMs: number): string {
  if (result.timedOut) return `stopped after the timeout of ${Math.round(timeoutMs / 1000)} s`;
  if (result.aborted) return 'stopped';
  return result.exitCode === null ? 'ended by a signal' : `exit code ${result.exitCode}`;
}

/** A process step's limits from its settings: `Timeout` (minutes; 0 or empty: none) and `SuccessCodes`. */
export function processLimits(settings: Readonly<Record<string, string>>, defaultCodes: readonly number[] = [0]): { timeoutMs: number; codes: Set<number> } | StepOutcome {
  try {
    return { timeoutMs: timeoutFromMinutes(setting(settings, 'Timeout')), codes: successCodes(setting(settings, 'SuccessCodes'), defaultCodes) };
  } catch (err) {
    return failed((err as Error).message);
  }
}
