// One client session of a run: register (or resume) it, set the built-in variables, run the steps, then log upload, result and FinishAction.

import { arch, release } from 'node:os';
import { join } from 'node:path';
import { PATHS } from '../../api/contract.js';
import { DeployrError } from '../../domain/errors.js';
import { INTERRUPTED_EXIT_CODES, RUN_FAILED_EXIT_CODE, REBOOT_EXIT_CODE, SESSION_LOST_EXIT_CODE, type DeviceInfo } from '../../domain/run.js';
import { activeVersion, isActiveVersion, type TaskSequence } from '../../domain/task-sequence.js';
import { describeStepCounts, planText, stepCounts, stepPlan, type DefinitionFacts } from '../../domain/step-support.js';
import { isDeployrBuiltInId, stepTypeInfo } from '../../domain/step-types.js';
import { walkSteps } from '../../domain/step-tree.js';
import { exportTaskSequence } from '../../domain/task-sequence-export.js';
import { parseTaskSequenceExport } from '../../domain/task-sequence-parse.js';
import { parseReference } from '../../domain/reference.js';
import { parseStepDefinitionExport, type StepDefinition } from '../../domain/step-definition.js';
import { VariableStore } from '../../domain/variables.js';
import { ClientError, type ApiClient } from '../api-client.js';
import { fetchContentVersion } from '../content-download.js';
import { contentStreamPort } from '../content/image-source.js';
import type { Prompter } from '../prompt.js';
import { TerminalUi, type UiOutput } from '../terminal-ui.js';
import { findExecutable } from './process.js';
import { finishActionOf, systemPower, type PowerActuator } from './power.js';
import { RunReporter } from './reporter.js';
import { RunLog } from './run-log.js';
import { clearState, deviceId, ensureStateDirs, saveState, type RunState, type StatePaths } from './state.js';
import { TaskSequenceRunner, type LoadedTaskSequence } from './task-sequence-runner.js';
import type { TokenKeeper } from './token-keeper.js';

/** What a run session needs. */
export interface SessionOptions {
  api: ApiClient;
  /** The session's token, renewed by signing in again when it expires during the run. */
  tokens: TokenKeeper;
  server: string;
  context: 'boot' | 'fullos';
  paths: StatePaths;
  /** Variables given at start (`--var`, `--vars`, `DEPLOYR_VAR_*`). */
  variables: Record<string, string>;
  /** Further names whose values are secret. */
  secretNames: string[];
  deviceId?: string;
  /** Restart or shut down for FinishAction and Reboot steps; otherwise only say so. */
  allowPowerActions: boolean;
  power?: PowerActuator;
  prompter: Prompter;
  out(line: string): void;
  /** Where the step list and progress bar go (default: plain lines through `out`). */
  terminal?: UiOutput;
  /** What this machine is (hostname, MACs, serial number, make, model), sent when the run is registered. */
  deviceInfo?: DeviceInfo;
  /** How to start the client again to resume (printed after an interruption). */
  resumeHint?: string;
  /** How long to keep trying an unreachable server during the run (default: fail at once). */
  patience?: { totalMs: number; sleep?: (ms: number) => Promise<void> };
  /** Boot environment: the firmware's Secure Boot state (`on`, `off`, `not-uefi`), recorded in the run's log. */
  secureBoot?: string;
}

/** `text` without its closing full stops, so that it can be followed by one (no "running.."). */
export function withoutFullStop(text: string): string {
  return text.replace(/[.\s]+$/, '');
}

/** How often to tell the server the client is still there: a third of the time it waits before calling the run stale, 1 s to 60 s. */
function heartbeatMs(run: { reportBy?: string | null; updatedAt: string }): number {
  const window = run.reportBy ? Date.parse(run.reportBy) - Date.parse(run.updatedAt) : NaN;
  return Number.isFinite(window) && window > 0 ? Math.min(60_000, Math.max(1000, Math.floor(window / 3))) : 60_000;
}

/** Environment variables the client never passes to step processes. */
function scrubbedEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('DEPLOYR_VAR_') || k === 'DEPLOYR_PFX_PASSWORD') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Reads a task sequence from the server and picks the version to run. */
export async function loadTaskSequence(api: ApiClient, tokens: TokenKeeper, reference: string): Promise<LoadedTaskSequence> {
  let ref;
  try { ref = parseReference(reference); } catch (err) { throw new ClientError('INPUT', (err as Error).message); }
  const body = await tokens.use((t) => api.call<unknown>('GET', `${PATHS.taskSequences}/${ref.id}`, undefined, t));
  let ts: TaskSequence;
  try {
    ts = parseTaskSequenceExport(exportTaskSequence(body as TaskSequence));
  } catch (err) {
    throw new ClientError('PROTOCOL', `The server sent a task sequence that is not valid (${(err as Error).message.split('\n')[0]}).`);
  }
  try {
    const version = activeVersion(ts, ref.version);
    return { id: ts.id, name: ts.name, versionNo: version.versionNo, steps: version.steps };
  } catch (err) {
    throw new ClientError('INPUT', err instanceof DeployrError ? err.message : String(err));
  }
}

/** Reads a custom step definition from the server and validates it; null when the server has none with that id. */
export async function loadStepDefinition(api: ApiClient, tokens: TokenKeeper, id: string): Promise<StepDefinition | null> {
  let body: unknown;
  try {
    body = await tokens.use((t) => api.call<unknown>('GET', `${PATHS.stepDefinitions}/${encodeURIComponent(id)}`, undefined, t));
  } catch (err) {
    if (err instanceof ClientError && err.status === 404) return null;
    throw err;
  }
  try {
    return parseStepDefinitionExport(body);
  } catch (err) {
    throw new ClientError('PROTOCOL', `The server sent a step definition that is not valid (${(err as Error).message.split('\n')[0]}).`);
  }
}

/** The plan shown before a run starts: each step numbered as the run counts it, its type, and whether this machine can run it (and why not). */
export async function describePlan(api: ApiClient, tokens: TokenKeeper, ts: LoadedTaskSequence): Promise<string[]> {
  const facts = new Map<string, DefinitionFacts | null | undefined>();
  for (const { step } of walkSteps(ts.steps)) {
    const id = step.typeId?.toLowerCase();
    if (!id || step.isGroup || stepTypeInfo(id) || isDeployrBuiltInId(id) || facts.has(id)) continue;
    const def = await loadStepDefinition(api, tokens, id).catch(() => undefined);
    facts.set(id, def === undefined || def === null ? def : { name: def.name, active: def.versions.some((v) => isActiveVersion(v)) });
  }
  const pwsh = (await findExecutable('pwsh')) !== null;
  return planText(stepPlan(ts.steps, { definition: (id) => facts.get(id.toLowerCase()), pwsh }), '  ');
}

/** The built-in variables DeployR documents, as this client sets them. */
function builtIns(o: SessionOptions, ts: LoadedTaskSequence, runId: string, device: string): Record<string, string> {
  const architecture = arch() === 'x64' ? 'x64' : arch() === 'arm64' ? 'arm64' : arch();
  return {
    DEPLOYRHOST: new URL(o.server).origin,
    TSID: `${ts.id}:${ts.versionNo}`,
    TSNAME: ts.name,
    OSVERSION: o.context === 'boot' ? 'WinPE' : release(),
    ARCHITECTURE: architecture,
    DEPLOYRROOT: o.paths.root,
    _DEPLOYRLOGS: o.paths.logs,
    _DEPLOYRRUNID: runId,
    _DEPLOYRCONTEXT: o.context,
    _DEPLOYRPROGRESS: JSON.stringify({ Name: ts.name, UUID: device }),
  };
}

/** Starts a new run of `reference` (`<guid>:<version>`). Returns the exit code. */
export async function startRun(o: SessionOptions, reference: string): Promise<number> {
  await ensureStateDirs(o.paths);
  const device = await deviceId(o.paths, o.deviceId);
  const ts = await loadTaskSequence(o.api, o.tokens, reference);
  const reporter = new RunReporter(o.api, o.tokens, o.out);
  const counts = stepCounts(ts.steps);
  const plan = await describePlan(o.api, o.tokens, ts);
  const run = await reporter.register({ taskSequenceId: ts.id, versionNo: ts.versionNo, deviceId: device, stepsTotal: counts.steps, ...(o.deviceInfo ? { deviceInfo: o.deviceInfo } : {}) });
  const variables = new VariableStore(undefined, { extraSecretNames: o.secretNames });
  const fixed = builtIns(o, ts, run.id, device);
  for (const [name, value] of Object.entries(fixed)) variables.set(name, value);
  for (const [name, value] of Object.entries(o.variables)) {
    if (!['DEPLOYRHOST', 'TSID', 'TSNAME', '_DEPLOYRRUNID'].includes(name.toUpperCase())) variables.set(name, value);
  }
  const state: RunState = {
    format: 1, server: o.server, runId: run.id, taskSequenceId: ts.id, versionNo: ts.versionNo, name: ts.name, context: o.context,
    deviceId: device, status: 'running', startedAt: run.startedAt, done: {}, entered: [], variables: {}, secretNames: [],
    logFile: join(o.paths.logs, `${run.id}.log`), logUploaded: 0,
  };
  await saveState(o.paths, state);
  const log = new RunLog(state.logFile, (t) => variables.redact(t));
  log.write('INFO', `Run ${run.id} of "${ts.name}" (${ts.id}:${ts.versionNo}) on device ${device}, ${o.context}, server ${new URL(o.server).origin}`);
  if (o.secureBoot) log.write('INFO', `Device: Secure Boot ${/^(on|off|not-uefi)$/.test(o.secureBoot) ? o.secureBoot : 'unknown'} (the firmware's SecureBoot variable, read by the boot environment)`);
  o.out(`Task sequence: ${ts.name} (${ts.id}:${ts.versionNo}), ${describeStepCounts(counts)}:`);
  for (const line of plan) o.out(line);
  o.out(`Run ${run.id}: registered; follow it on the server with: deployr runs watch ${run.id}`);
  return execute(o, { ts, state, variables, log, reporter, heartbeatMs: heartbeatMs(run) });
}

/** Continues the saved run after a restart. Returns the exit code. */
export async function resumeRun(o: SessionOptions, state: RunState): Promise<number> {
  await ensureStateDirs(o.paths);
  const reporter = new RunReporter(o.api, o.tokens, o.out);
  let resumed;
  try {
    resumed = await reporter.resume(state.runId);
  } catch (err) {
    if (err instanceof ClientError && (err.status === 409 || err.status === 404)) {
      await clearState(o.paths);
      throw new ClientError('INPUT', `The saved run ${state.runId} cannot continue (${err.message}); its state was discarded. Start the client again for a new run.`);
    }
    throw err;
  }
  const variables = new VariableStore(undefined, { extraSecretNames: [...o.secretNames, ...state.secretNames] });
  for (const [name, value] of Object.entries(state.variables)) variables.set(name, value);
  for (const [name, value] of Object.entries(o.variables)) {
    if (variables.isSecret(name) || !variables.has(name)) variables.set(name, value);
  }
  for (const name of state.secretNames) {
    if (variables.has(name) || name.toLowerCase() === 'passcode') continue;
    const value = await o.prompter.secret(`Secret variable ${name} (needed again after the restart):`);
    if (value === null || value === '') o.out(`Warning: the secret variable ${name} was not given again; it is unset from now on.`);
    else variables.set(name, value, { secret: true });
  }
  const ts = await loadTaskSequence(o.api, o.tokens, `${state.taskSequenceId}:${state.versionNo}`);
  state.status = 'running';
  await saveState(o.paths, state);
  const log = new RunLog(state.logFile, (t) => variables.redact(t));
  log.write('INFO', `Existing task sequence found: resuming run ${state.runId} of "${ts.name}" after a restart`);
  const done = Object.keys(state.done).length;
  o.out(`Resuming run ${state.runId}: "${ts.name}" (${ts.id}:${ts.versionNo}); ${done} steps and groups already done.`);
  return execute(o, { ts, state, variables, log, reporter, heartbeatMs: heartbeatMs(resumed) });
}

/** Runs the steps, then reports the result, uploads the log and honours FinishAction. */
async function execute(o: SessionOptions, r: { ts: LoadedTaskSequence; state: RunState; variables: VariableStore; log: RunLog; reporter: RunReporter; heartbeatMs: number }): Promise<number> {
  const { ts, state, variables, log, reporter } = r;
  const ui = new TerminalUi(o.terminal ?? { isTTY: false, write: (text) => { for (const line of text.replace(/\n$/, '').split('\n')) o.out(line); } }, `${ts.name} (${ts.id}:${ts.versionNo})`);
  const abort = new AbortController();
  // Ctrl-C or SIGTERM stops the current step (its process group gets SIGTERM), keeps the state and
  // tells the server the run is interrupted; a second one ends the client at once (the state is
  // saved after every step, so the next start still resumes).
  let stop = null as { why: 'SIGINT' | 'SIGTERM' | 'session'; message: string } | null;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (stop) { process.exit(INTERRUPTED_EXIT_CODES[signal]); }
    stop = { why: signal, message: `interrupted by ${signal}` };
    ui.say(`Interrupted (${signal}): stopping the current step; the run's state is kept. Press Ctrl-C again to quit at once.`);
    abort.abort();
  };
  const onSigint = (): void => onSignal('SIGINT');
  const onSigterm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  o.tokens.onLost((err) => {
    if (stop) return;
    stop = { why: 'session', message: err.message };
    ui.say(err.message);
    abort.abort();
  });
  o.api.setPatience(o.patience ? { ...o.patience, notice: (line) => ui.say(line) } : null);
  const heartbeat = setInterval(() => { void reporter.heartbeat(state.runId); }, r.heartbeatMs);
  heartbeat.unref();
  reporter.setWarn((line) => ui.say(line));
  const cacheDir = o.paths.cache;
  const runner = new TaskSequenceRunner({
    state, variables, log, ui, workRoot: o.paths.work, signal: abort.signal,
    env: scrubbedEnv({ DEPLOYR_SERVER: new URL(o.server).origin, DEPLOYR_RUN_ID: state.runId, DEPLOYR_TASK_SEQUENCE_ID: ts.id }),
    ports: {
      fetchTaskSequence: (reference) => loadTaskSequence(o.api, o.tokens, reference),
      fetchContent: (reference, onProgress, signal) => o.tokens.use((t) => fetchContentVersion(o.api, t, reference, { cacheDir, workDir: o.paths.content, onProgress, signal })),
      streamContent: contentStreamPort(o.api, (fn) => o.tokens.use(fn), cacheDir),
      serverScript: (script, args, timeoutSeconds) => reporter.serverScript(state.runId, script, args, timeoutSeconds),
      fetchStepDefinition: (id) => loadStepDefinition(o.api, o.tokens, id),
      reportStep: (report) => reporter.step(state.runId, report),
      saveState: (s) => saveState(o.paths, s),
      findExecutable: (name) => findExecutable(name),
    },
  });
  let result;
  try {
    result = await runner.run(ts);
  } finally {
    clearInterval(heartbeat);
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigterm);
    ui.close();
    reporter.setWarn(o.out);
    o.api.setPatience(o.patience ? { ...o.patience, notice: o.out } : null);
  }

  const upload = async (): Promise<void> => {
    try {
      state.logUploaded = await log.upload(state.logUploaded, (text) => reporter.log(state.runId, text));
    } catch (err) {
      o.out(`Warning: the log could not be uploaded (${(err as Error).message.split('\n')[0]}); it stays at ${state.logFile}.`);
    }
  };

  if (result.status === 'rebooting') {
    state.status = 'rebooting';
    log.write('INFO', `A restart was requested; the state is saved. Start the client again to continue (exit code ${REBOOT_EXIT_CODE}).`);
    await upload();
    await saveState(o.paths, state);
    await reporter.finish(state.runId, { status: 'rebooting', message: 'waiting for the machine to restart' });
    if (o.allowPowerActions) {
      o.out('Restarting the machine; the run continues when the client starts again.');
      await (o.power ?? systemPower)('restart').catch((err: Error) => o.out(`Warning: could not restart: ${err.message}`));
    } else {
      o.out(`Restart requested: restart this machine, then start the client again with the same state folder (${o.paths.root}) to continue. Exit code ${REBOOT_EXIT_CODE}.`);
    }
    return REBOOT_EXIT_CODE;
  }

  if (result.status === 'interrupted') {
    const why = stop ?? { why: 'SIGINT' as const, message: 'interrupted' };
    const at = result.step ? ` during "${result.step}"` : '';
    state.status = 'running';
    await saveState(o.paths, state);
    // Whoever stopped the run is not kept waiting for an unreachable server.
    o.api.setPatience(null);
    log.write('WARN', `Run ${why.why === 'session' ? 'stopped' : 'interrupted'}${at}: ${withoutFullStop(why.message)}. The state is kept; the next start resumes.`);
    await upload();
    if (why.why !== 'session') await reporter.finish(state.runId, { status: 'interrupted', message: `${why.message}${at}` });
    o.out(`Run ${state.runId} ${why.why === 'session' ? 'stopped' : 'interrupted'}${at}; its state is kept in ${o.paths.root}.`);
    o.out(`To resume, start the client again with the same state folder${o.resumeHint ? `: ${o.resumeHint}` : ''} (--new-run discards the run instead).`);
    return why.why === 'session' ? SESSION_LOST_EXIT_CODE : INTERRUPTED_EXIT_CODES[why.why];
  }

  const succeeded = result.status === 'succeeded';
  const message = result.status === 'failed' ? withoutFullStop(variables.redact(result.message)) : null;
  // "failed at step "Apply": …" or "failed: the run was stopped".
  const failedWith = message === null ? '' : message.startsWith('at step ') ? ` ${message}` : `: ${message}`;
  log.write(succeeded ? 'INFO' : 'ERROR', succeeded ? `Run succeeded.` : `Run failed${failedWith}`);
  await upload();
  await reporter.finish(state.runId, { status: result.status, message });
  await clearState(o.paths);
  o.out(succeeded ? `Task sequence "${ts.name}" succeeded. Log: ${state.logFile}` : `Task sequence "${ts.name}" failed${failedWith}. Log: ${state.logFile}`);
  if (succeeded) await finishAction(o, variables.get('FinishAction'));
  return succeeded ? 0 : RUN_FAILED_EXIT_CODE;
}

/** Honours FinishAction: Restart/Shutdown only with permission, otherwise it is printed. */
async function finishAction(o: SessionOptions, value: string | undefined): Promise<void> {
  const action = finishActionOf(value);
  if (action === null) return;
  if (action === 'other') { o.out(`FinishAction "${value}" is not supported by this client; nothing was done.`); return; }
  const verb = action === 'restart' ? 'Restart' : 'Shutdown';
  if (!o.allowPowerActions) {
    o.out(`FinishAction ${verb}: not done, because the client was started without --allow-power-actions.`);
    return;
  }
  o.out(`FinishAction ${verb}: ${action === 'restart' ? 'restarting' : 'shutting down'} the machine.`);
  await (o.power ?? systemPower)(action).catch((err: Error) => o.out(`Warning: FinishAction ${verb} failed: ${err.message}`));
}
