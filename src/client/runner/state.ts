// The client's saved run state (for resuming after a restart): which steps are done, the non-secret variables, where the log is.

import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ClientError } from '../api-client.js';

/** One finished step (or group) in the saved state. */
export interface DoneStep {
  status: 'succeeded' | 'failed' | 'continued' | 'skipped';
  exitCode: number | null;
}

/** Everything a later client start needs to continue a run. Secret values are never in it, only their names. */
export interface RunState {
  format: 1;
  /** The server URL the run belongs to. */
  server: string;
  runId: string;
  taskSequenceId: string;
  versionNo: number;
  name: string;
  context: 'boot' | 'fullos';
  deviceId: string;
  /** 'rebooting' after a Reboot step; 'running' while (or if the client stopped while) steps run. */
  status: 'running' | 'rebooting';
  /** ISO 8601. */
  startedAt: string;
  /** Finished steps and groups by key: skipped when the run continues. */
  done: Record<string, DoneStep>;
  /** Steps and groups whose condition was met and which started: not evaluated again on resume. */
  entered: string[];
  /** The non-secret variables. */
  variables: Record<string, string>;
  /** Names of secret variables (their values stay in memory only). */
  secretNames: string[];
  /** The run's log file, and how many bytes of it the server has. */
  logFile: string;
  logUploaded: number;
}

/** The folders and files under a state folder. */
export interface StatePaths {
  root: string;
  stateFile: string;
  logs: string;
  cache: string;
  content: string;
  work: string;
  deviceIdFile: string;
}

/** The state folder: `--state-dir`, else `$DEPLOYR_CLIENT_STATE`, else `~/.deployr-client`. */
export function resolveStateDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.DEPLOYR_CLIENT_STATE ?? join(homedir(), '.deployr-client'));
}

/** The paths under a state folder. */
export function statePaths(root: string): StatePaths {
  return {
    root, stateFile: join(root, 'state.json'), logs: join(root, 'logs'), cache: join(root, 'cache'), content: join(root, 'content'),
    work: join(root, 'work'), deviceIdFile: join(root, 'device-id'),
  };
}

/** Creates the state folder and its subfolders (owner-only). */
export async function ensureStateDirs(paths: StatePaths): Promise<void> {
  for (const dir of [paths.root, paths.logs, paths.cache, paths.content, paths.work]) await mkdir(dir, { recursive: true, mode: 0o700 });
}

/** This machine's device id: `--device-id`, else one made once and kept in the state folder. */
export async function deviceId(paths: StatePaths, given: string | undefined): Promise<string> {
  if (given) return given;
  const existing = (await readFile(paths.deviceIdFile, 'utf8').catch(() => '')).trim();
  if (/^[A-Za-z0-9._:-]{1,128}$/.test(existing)) return existing;
  const made = randomUUID();
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  await writeFile(paths.deviceIdFile, made + '\n', { mode: 0o600 });
  return made;
}

function isState(v: unknown): v is RunState {
  const s = v as Partial<RunState> | null;
  return typeof s === 'object' && s !== null && s.format === 1 && typeof s.server === 'string' && typeof s.runId === 'string'
    && typeof s.taskSequenceId === 'string' && typeof s.versionNo === 'number' && typeof s.done === 'object' && s.done !== null
    && Array.isArray(s.entered) && typeof s.variables === 'object' && s.variables !== null && Array.isArray(s.secretNames)
    && typeof s.logFile === 'string' && typeof s.logUploaded === 'number' && (s.context === 'boot' || s.context === 'fullos');
}

/** The saved state, or null when there is none. Throws a one-line ClientError when the file is damaged. */
export async function loadState(paths: StatePaths): Promise<RunState | null> {
  let text: string;
  try {
    text = await readFile(paths.stateFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ClientError('INPUT', `Cannot read the saved run state ${paths.stateFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  let parsed: unknown;
  try { parsed = JSON.parse(text); } catch { parsed = null; }
  if (!isState(parsed)) throw new ClientError('INPUT', `The saved run state ${paths.stateFile} is damaged; start with --new-run to discard it.`);
  return parsed;
}

/** Saves the state atomically (write a temporary file, then rename), owner-only. */
export async function saveState(paths: StatePaths, state: RunState): Promise<void> {
  const tmp = `${paths.stateFile}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, paths.stateFile);
}

/** Removes the saved state (the run ended). */
export async function clearState(paths: StatePaths): Promise<void> {
  await rm(paths.stateFile, { force: true });
}
