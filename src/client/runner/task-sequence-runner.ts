// The step runner: walks a task sequence's steps and groups in order, applying enabled, conditions, continueOnError, variables and resume state.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerScriptResponse, StepReport } from '../../api/contract.js';
import { outputTail } from '../../domain/run.js';
import type { StepDefinition } from '../../domain/step-definition.js';
import { stepKind, stepTypeInfo } from '../../domain/step-types.js';
import type { Step } from '../../domain/task-sequence.js';
import type { VariableStore } from '../../domain/variables.js';
import type { DownloadedContent, DownloadProgress } from '../content-download.js';
import type { ContentStreamPort } from '../content/image-source.js';
import { executorFor as defaultExecutorFor } from '../executors/index.js';
import { failed, type ExecutorServices, type StepContext, type StepExecutor, type StepOutcome } from '../executors/types.js';
import type { TerminalUi, UiStatus, UiStep } from '../terminal-ui.js';
import { evaluateStepCondition } from './conditions.js';
import { runProgram, runShell } from './process.js';
import type { RunLog } from './run-log.js';
import type { DoneStep, RunState } from './state.js';
import { applyVariablesFile, VARIABLES_FILE_ENV, writeVariablesFile } from './variables-file.js';

/** A task sequence version ready to run. */
export interface LoadedTaskSequence {
  id: string;
  name: string;
  versionNo: number;
  steps: Step[];
}

/** What the runner needs from the outside (the server, the disk); tests give fakes. */
export interface RunnerPorts {
  fetchTaskSequence(reference: string): Promise<LoadedTaskSequence>;
  fetchContent(reference: string, onProgress: (p: DownloadProgress) => void, signal: AbortSignal): Promise<DownloadedContent>;
  /** Streams content files without the cache (Apply image); optional. */
  streamContent?: ContentStreamPort;
  serverScript(script: string, args: string[], timeoutSeconds?: number): Promise<ServerScriptResponse>;
  /** A custom step definition from the server, or null when the server has none with that id. */
  fetchStepDefinition(id: string): Promise<StepDefinition | null>;
  /** Reports a step to the server (never throws). */
  reportStep(report: StepReport): Promise<void>;
  /** Persists the state (after every step). */
  saveState(state: RunState): Promise<void>;
  findExecutable(name: string): Promise<string | null>;
}

/**
 * How the run ended. `interrupted`: the run's signal was aborted (Ctrl-C, SIGTERM, a lost session);
 * the step that was running is not marked done, so the next start runs it again.
 */
export type RunResult = { status: 'succeeded' } | { status: 'failed'; message: string } | { status: 'rebooting' } | { status: 'interrupted'; step: string | null };

/** What the runner is built with. */
export interface RunnerOptions {
  state: RunState;
  variables: VariableStore;
  log: RunLog;
  ui: TerminalUi;
  /** Scratch folders for steps are made under it. */
  workRoot: string;
  /** The environment for step processes (already without the client's secrets). */
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  ports: RunnerPorts;
  /** Chooses a step's executor (tests replace it). */
  executorFor?: (step: Step) => StepExecutor;
}

/** Deepest nesting of Run task sequence steps. */
const MAX_NESTING = 8;
/** Raw output kept per step for its tail, in characters. */
const OUTPUT_KEEP = 64 * 1024;

type Flow = 'continue' | 'failed' | 'reboot' | 'interrupted';

/** The UI lines for a list of steps (done ones shown as such; disabled ones, and the steps of a disabled group, as skipped and not counted). */
export function planSteps(steps: readonly Step[], prefix: string, depth: number, done: Readonly<Record<string, DoneStep>>, enabled = true): UiStep[] {
  const out: UiStep[] = [];
  for (const step of steps) {
    const key = prefix + step.id;
    const finished = done[key];
    const on = enabled && step.enabled;
    const status: UiStatus = finished ? finished.status : on ? 'pending' : 'skipped';
    const note = step.enabled ? (on ? {} : { note: 'in a disabled group' }) : { note: 'disabled' };
    out.push({ key, name: step.name, depth, isGroup: step.isGroup, status, counted: on, ...note });
    if (step.isGroup) out.push(...planSteps(step.groupMembers, prefix, depth + 1, done, on));
  }
  return out;
}

/** Runs one task sequence (and the ones it nests) on this machine. */
export class TaskSequenceRunner {
  private failure: string | null = null;
  private started = 0;
  private total = 0;
  private rootName = '';
  /** The step that was running when the run was interrupted. */
  private interruptedAt: string | null = null;
  private readonly executorFor: (step: Step) => StepExecutor;
  /** Custom step definitions read during this run, by lower-case id (each is fetched once). */
  private readonly definitions = new Map<string, StepDefinition>();

  constructor(private readonly o: RunnerOptions) {
    this.executorFor = o.executorFor ?? defaultExecutorFor;
  }

  /** Runs the steps that are not done yet. */
  async run(ts: LoadedTaskSequence): Promise<RunResult> {
    this.rootName = ts.name;
    const plan = planSteps(ts.steps, '', 0, this.o.state.done);
    this.total = plan.filter((s) => !s.isGroup && s.counted !== false).length;
    this.started = plan.filter((s) => !s.isGroup && s.counted !== false && this.o.state.done[s.key] !== undefined).length;
    this.o.ui.setSteps(plan);
    const flow = await this.runList(ts.steps, '', 0, [ts.id]);
    if (flow === 'reboot') return { status: 'rebooting' };
    if (flow === 'interrupted') return { status: 'interrupted', step: this.interruptedAt };
    if (flow === 'failed') return { status: 'failed', message: this.failure ?? (this.o.signal.aborted ? 'the run was stopped' : 'a step failed') };
    return { status: 'succeeded' };
  }

  private async runList(steps: readonly Step[], prefix: string, depth: number, stack: readonly string[]): Promise<Flow> {
    for (const step of steps) {
      const flow = await this.runOne(step, prefix + step.id, prefix, depth, stack);
      if (flow !== 'continue') return flow;
    }
    return 'continue';
  }

  private async runOne(step: Step, key: string, prefix: string, depth: number, stack: readonly string[]): Promise<Flow> {
    const state = this.o.state;
    if (state.done[key]) return 'continue';
    if (this.o.signal.aborted) return 'interrupted';
    if (!step.enabled) {
      await this.record(step, key, 'skipped', { message: 'disabled', report: true });
      return 'continue';
    }
    if (!state.entered.includes(key)) {
      const verdict = await evaluateStepCondition(step.condition, this.o.variables, {
        findExecutable: (name) => this.o.ports.findExecutable(name),
        runProgram: (file, args, onOutput) => runProgram(file, args, { env: this.o.env, signal: this.o.signal, onOutput }),
      });
      if (this.o.signal.aborted) return 'interrupted';
      if ('error' in verdict) {
        const status = step.continueOnError ? 'continued' : 'failed';
        if (status === 'failed') this.failure ??= `at step "${step.name}": ${verdict.error}`;
        await this.record(step, key, status, { message: verdict.error, report: true });
        return status === 'failed' ? 'failed' : 'continue';
      }
      if (!verdict.run) {
        await this.record(step, key, 'skipped', { message: verdict.reason, report: true });
        return 'continue';
      }
      state.entered.push(key);
      await this.save();
    }
    if (!step.isGroup) return this.execute(step, key, depth, stack);

    this.o.ui.update(key, 'running');
    this.o.log.write('INFO', `Group start: ${step.name}`, step.name);
    const failureBefore = this.failure;
    const flow = await this.runList(step.groupMembers, prefix, depth + 1, stack);
    if (flow === 'reboot' || flow === 'interrupted') return flow;
    if (flow === 'failed' && !this.o.signal.aborted && step.continueOnError) {
      this.failure = failureBefore;
      await this.record(step, key, 'continued', { message: 'a step in the group failed; continuing (continueOnError)', report: true });
      return 'continue';
    }
    await this.record(step, key, flow === 'failed' ? 'failed' : 'succeeded', { report: false });
    return flow === 'failed' ? 'failed' : 'continue';
  }

  /** A custom step definition, read from the server once per run; null when the server has none. */
  private async stepDefinition(id: string): Promise<StepDefinition | null> {
    const known = this.definitions.get(id.toLowerCase());
    if (known) return known;
    const def = await this.o.ports.fetchStepDefinition(id);
    if (def) this.definitions.set(id.toLowerCase(), def);
    return def;
  }

  /** Runs one plain step with its executor. */
  private async execute(step: Step, key: string, depth: number, stack: readonly string[]): Promise<Flow> {
    const vars = this.o.variables;
    const kind = stepKind(step);
    let typeName = stepTypeInfo(step.typeId)?.name ?? kind;
    if (kind === 'custom') {
      // The definition's name when the server has it (the executor reports why when it does not).
      const def = step.typeId === null ? null : await this.stepDefinition(step.typeId).catch(() => null);
      typeName = def ? `custom step "${def.name}"` : `custom step ${step.typeId ?? ''}`;
    }
    const t0 = Date.now();
    const failureBefore = this.failure;
    this.started++;
    vars.set('_DEPLOYRPROGRESS', JSON.stringify({
      Name: this.rootName, UUID: this.o.state.deviceId, Step: step.name, StepNumber: this.started, TotalSteps: this.total,
    }));
    this.o.ui.update(key, 'running');
    this.o.log.write('INFO', `Step start: ${step.name} (${typeName}) ID=${step.id}`, step.name);
    await this.o.ports.reportStep({ key, stepId: step.id, name: step.name, status: 'running' });

    const settings: Record<string, string> = {};
    for (const [name, value] of Object.entries(step.settings)) {
      Object.defineProperty(settings, name, { value: vars.expand(value), enumerable: true, writable: true, configurable: true });
    }
    const workDir = join(this.o.workRoot, key.replace(/[^0-9a-fA-F-]/g, '_'));
    await rm(workDir, { recursive: true, force: true });
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    const varsFile = join(workDir, 'variables.json');
    let written = await writeVariablesFile(varsFile, vars, settings);
    const env: NodeJS.ProcessEnv = { ...this.o.env, [VARIABLES_FILE_ENV]: varsFile, DEPLOYR_STEP_NAME: step.name, DEPLOYR_STEP_ID: step.id };

    let raw = '';
    let pending = '';
    const output = (text: string): void => {
      raw = (raw + text).slice(-OUTPUT_KEEP);
      pending += text;
      const nl = pending.lastIndexOf('\n');
      if (nl >= 0) {
        this.o.log.write('OUT', pending.slice(0, nl), step.name);
        this.o.ui.stepOutput(vars.redact(pending.slice(0, nl)).split('\n'));
        pending = pending.slice(nl + 1);
      }
    };
    const say = (line: string): void => {
      const safe = vars.redact(line);
      this.o.log.write('INFO', safe, step.name);
      this.o.ui.say(`    ${safe}`);
    };
    const services: ExecutorServices = {
      runShell: (command, opts) => runShell(command, { ...opts, env: opts.env ?? env, onOutput: output }),
      runProgram: (file, args, opts) => runProgram(file, args, { ...opts, env: opts.env ?? env, onOutput: output }),
      findExecutable: (name) => this.o.ports.findExecutable(name),
      fetchContent: async (reference) => {
        this.o.log.write('INFO', `Requesting content ${reference}`, step.name);
        const content = await this.o.ports.fetchContent(reference, (p) => this.o.ui.progress(p), this.o.signal);
        this.o.log.write('INFO', `Content "${content.name}" (${content.id}:${content.versionNo}) is at ${content.dir}`, step.name);
        return content;
      },
      ...(this.o.ports.streamContent ? { streamContent: this.o.ports.streamContent } : {}),
      fetchTaskSequence: (reference) => this.o.ports.fetchTaskSequence(reference),
      runNested: async (child) => {
        if (stack.includes(child.id)) throw new Error(`task sequence "${child.name}" would run itself (${[...stack, child.id].join(' > ')})`);
        if (stack.length >= MAX_NESTING) throw new Error(`task sequences nest deeper than ${MAX_NESTING} levels`);
        const childPrefix = `${key}/`;
        const plan = planSteps(child.steps, childPrefix, depth + 1, this.o.state.done);
        this.total += plan.filter((s) => !s.isGroup && s.counted !== false).length;
        this.o.ui.insertAfter(key, plan);
        const flow = await this.runList(child.steps, childPrefix, depth + 1, [...stack, child.id]);
        return flow === 'continue' ? 'completed' : flow === 'interrupted' ? 'failed' : flow;
      },
      serverScript: (script, args, timeoutSeconds) => this.o.ports.serverScript(script, args, timeoutSeconds),
      fetchStepDefinition: (id) => this.stepDefinition(id),
      exposeSettings: async (exposed) => { written = await writeVariablesFile(varsFile, vars, exposed); },
    };
    const ctx: StepContext = {
      step, key, settings, variables: vars, workDir, output, say, progress: (p) => this.o.ui.progress(p), signal: this.o.signal, services,
    };

    let outcome: StepOutcome;
    try {
      outcome = await this.executorFor(step)(ctx);
    } catch (err) {
      outcome = failed((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'error');
    }
    if (pending) this.o.log.write('OUT', pending, step.name);
    if (this.o.signal.aborted) {
      // Not marked done: the next start runs this step again (its condition is not evaluated again).
      this.interruptedAt ??= step.name;
      this.o.log.write('WARN', 'Step interrupted; it runs again when the run resumes.', step.name);
      this.o.ui.update(key, 'pending', 'interrupted');
      await rm(workDir, { recursive: true, force: true });
      return 'interrupted';
    }
    const applied = await applyVariablesFile(varsFile, written, vars);
    if (applied.problem) this.o.log.write('WARN', applied.problem, step.name);
    else if (applied.changed.length > 0) this.o.log.write('INFO', `Variables set by the step: ${applied.changed.join(', ')}`, step.name);
    await rm(workDir, { recursive: true, force: true });

    if (outcome.reboot === 'within') {
      this.o.log.write('INFO', 'A step inside requested a restart.', step.name);
      await this.save();
      return 'reboot';
    }
    const status = outcome.status === 'succeeded' ? 'succeeded' : step.continueOnError && !this.o.signal.aborted ? 'continued' : 'failed';
    const durationMs = Date.now() - t0;
    const message = outcome.message === undefined ? null : vars.redact(outcome.message);
    if (status === 'failed') this.failure ??= `at step "${step.name}": ${message ?? `exit code ${outcome.exitCode ?? 'none'}`}`;
    else this.failure = failureBefore;
    // A failed step's output is shown whole (as much as is kept), not only in the log.
    if (status === 'failed' && raw) this.o.ui.failedOutput(step.name, vars.redact(raw), raw.length >= OUTPUT_KEEP);
    await this.record(step, key, status, {
      exitCode: outcome.exitCode, durationMs, message, outputTail: raw ? outputTail(vars.redact(raw)) : null, report: true,
    });
    if (outcome.reboot === 'after') return 'reboot';
    return status === 'failed' ? 'failed' : 'continue';
  }

  /** Marks a step or group finished: state, terminal, log and (when `report`) the server. */
  private async record(step: Step, key: string, status: DoneStep['status'], r: {
    exitCode?: number | null; durationMs?: number; message?: string | null; outputTail?: string | null; report: boolean;
  }): Promise<void> {
    this.o.state.done[key] = { status, exitCode: r.exitCode ?? null };
    await this.save();
    if (r.message) r.message = this.o.variables.redact(r.message);
    const notes = [r.exitCode !== undefined && r.exitCode !== null ? `exit ${r.exitCode}` : '', r.durationMs !== undefined ? `${(r.durationMs / 1000).toFixed(1)} s` : '', r.message ?? ''].filter(Boolean);
    this.o.ui.update(key, status, notes.join(', ') || undefined);
    const level = status === 'failed' ? 'ERROR' : status === 'continued' ? 'WARN' : 'INFO';
    this.o.log.write(level, `${step.isGroup ? 'Group' : 'Step'} result: ${status}${notes.length ? ` (${notes.join(', ')})` : ''}`, step.name);
    if (!r.report) return;
    await this.o.ports.reportStep({
      key, stepId: step.id, name: step.name, status, exitCode: r.exitCode ?? null, durationMs: r.durationMs ?? null,
      outputTail: r.outputTail ?? null, message: r.message ? r.message.slice(0, 2000) : null,
    });
  }

  /** Saves the state with the current non-secret variables and the names of the secret ones. */
  private async save(): Promise<void> {
    const vars = this.o.variables;
    const plain: Record<string, string> = {};
    const secret: string[] = [];
    for (const [name, value] of vars.entries()) {
      if (vars.isSecret(name)) secret.push(name);
      else Object.defineProperty(plain, name, { value, enumerable: true, writable: true, configurable: true });
    }
    this.o.state.variables = plain;
    this.o.state.secretNames = secret;
    await this.o.ports.saveState(this.o.state);
  }
}
